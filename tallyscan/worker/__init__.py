"""Celery app and the document task (issue 4).

``celery -A tallyscan.worker worker`` and ``tallyscan worker`` start the same
worker; settings come from ``TALLYSCAN_*`` environment variables.
"""

from tallyscan.worker.app import app
from tallyscan.worker.tasks import process_document

__all__ = ["app", "process_document"]
