"""Who may act: agency roles and client permissions, the rules for granting them, and the
bearer secrets and password hashes that prove who is calling. Below every domain; depends on
the kernel only."""
