"""The web UI: sign-in, users and their tokens, tables, fields and rows, as server-rendered pages."""
