"""Celery app and thin tasks (issue 4)."""
