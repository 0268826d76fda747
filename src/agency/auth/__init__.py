"""Authentication (login sessions, API tokens) and the role/permission model."""
