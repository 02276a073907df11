"""Authentication: passwords, sessions, API tokens and role guards."""
