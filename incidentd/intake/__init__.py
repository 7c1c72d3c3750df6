"""Intake: pure mappings from a monitoring tool's native document to alert events v1.

One module per tool, each exposing a `Source` registered in `incidentd.intake.registry`.
Nothing here does I/O: callers read files, bodies and the catalog, and publish the result.
"""
