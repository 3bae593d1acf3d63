"""Who you are: users, passwords, sessions (tokens)."""
