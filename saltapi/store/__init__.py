"""Storage: everything that talks to the database, and nothing that knows about HTTP or Flask."""
