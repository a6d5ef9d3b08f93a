"""Staff accounts and password hashing."""
