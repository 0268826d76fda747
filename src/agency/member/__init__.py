"""Users, their memberships in agencies (with a role), and invitations."""
