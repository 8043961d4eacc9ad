"""The table-data REST API under /api/: its views and its OpenAPI document."""
