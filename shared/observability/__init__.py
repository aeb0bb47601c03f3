"""Logs and metrics in the shape Google Cloud Logging reads from stdout."""
