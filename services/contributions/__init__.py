"""contributions service."""
