"""The pages a problem's ``type`` leads to: what each kind of error means and what to do."""
