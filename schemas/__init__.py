"""Pydantic models that cross the workflow boundary, and the programme definitions."""
