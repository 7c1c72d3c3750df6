"""The HTTP API (FastAPI): incidents, catalog, lineage, notifications."""
