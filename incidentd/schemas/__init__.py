"""Pydantic contracts: events on the wire, lineage documents and settings."""
