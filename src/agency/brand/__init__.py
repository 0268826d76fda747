"""Client brands: who the agency speaks for, with their charters, time zone and locale."""
