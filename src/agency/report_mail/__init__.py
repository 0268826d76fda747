"""Report e-mails: a brand's report sent on a schedule to the client's people, once per period."""
