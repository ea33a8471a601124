"""Errors of the store, in the project's one hierarchy (see tallyscan.exceptions)."""

from __future__ import annotations

from tallyscan.exceptions import TallyscanError, TransientError


class StoreUnavailable(TransientError):
    """The database cannot be reached (down, restarting, refusing connections): retry later."""

    code = "store_unavailable"


class BrokerUnavailable(TransientError):
    """The Celery broker (Redis) cannot be reached: documents wait in the store."""

    code = "broker_unavailable"


class BlobMissing(TallyscanError):
    """A document's stored bytes are gone or do not match their sha256."""

    code = "blob_missing"


class UnknownBatch(TallyscanError):
    code = "unknown_batch"
