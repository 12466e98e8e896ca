"""feedback service."""
