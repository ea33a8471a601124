"""The persistent store: documents, results, batches (SQLAlchemy) and document bytes.

>>> store = open_store()                       # TALLYSCAN_DATABASE_URL, or the SQLite file
>>> store.save_result(result, batch=None)      # atomically replaces that document's cells
>>> for result in store.results(batch=None):   # DocumentResult objects, as saved
...     ...

SQLite (the default: ``<TALLYSCAN_DATA_DIR>/tallyscan.sqlite``) suits one machine;
``TALLYSCAN_DATABASE_URL=postgresql://user@host/db`` suits several. The schema
is created or migrated when a store is first opened in a process.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from tallyscan.settings import Settings, SettingsError
from tallyscan.store.blobs import Blobs, DatabaseBlobs, FileBlobs
from tallyscan.store.errors import BlobMissing, BrokerUnavailable, StoreUnavailable, UnknownBatch
from tallyscan.store.schema import DONE, FAILED, QUEUED, RUNNING, STATES, migrate
from tallyscan.store.store import (
    BatchInfo,
    Claim,
    Failure,
    Store,
    _is_unavailable,
    _json_default,
    document_key,
)

__all__ = [
    "DONE", "FAILED", "QUEUED", "RUNNING", "STATES", "BatchInfo", "BlobMissing", "Blobs",
    "BrokerUnavailable", "Claim", "DatabaseBlobs", "Failure", "FileBlobs", "Store",
    "StoreUnavailable", "UnknownBatch", "create_store_engine", "document_key", "open_store",
]

# One engine per (url, blob settings) and process: engines hold connection pools,
# which must not be shared with forked children (see _forget_after_fork).
_stores: dict[tuple[str, str, str], Store] = {}
_lock = threading.Lock()


def open_store(url: str | None = None, settings: Settings | None = None) -> Store:
    """The store at ``url`` (default: the settings' store URL), schema migrated.

    Raises SettingsError for a malformed URL and StoreUnavailable when the
    database cannot be reached.
    """
    settings = settings or Settings.from_env()
    url = url or settings.store_url
    cache_key = (url, settings.blob_store, settings.blob_dir)
    with _lock:
        store = _stores.get(cache_key)
        if store is not None:
            return store
        engine = create_store_engine(url)
        blobs: Blobs = DatabaseBlobs(engine) if settings.blob_store == "database" \
            else FileBlobs(settings.blob_dir)
        store = Store(engine, blobs)
        try:
            migrate(engine)
        except Exception as exc:
            engine.dispose()
            if _is_unavailable(exc):
                raise store.unavailable(exc) from exc
            raise
        _stores[cache_key] = store
        return store


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``: PostgreSQL through psycopg 3, SQLite in WAL mode."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(
            f"TALLYSCAN_DATABASE_URL {url!r} is not a database URL; use e.g. "
            "postgresql://user@host:5432/tallyscan or sqlite:////path/to/tallyscan.sqlite"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    serializer = lambda o: json.dumps(o, ensure_ascii=False, default=_json_default)  # noqa: E731
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, json_serializer=serializer, connect_args={"timeout": 60})
        _sqlite_setup(engine)
        return engine
    if parsed.drivername.startswith("postgresql"):
        return create_engine(parsed, json_serializer=serializer, pool_pre_ping=True,
                             connect_args={"connect_timeout": 10})
    return create_engine(parsed, json_serializer=serializer, pool_pre_ping=True)


def _sqlite_setup(engine: Engine) -> None:
    """WAL (readers never block the writer), and write transactions that take the lock
    up front, so concurrent workers wait their turn (busy timeout) instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _forget_after_fork() -> None:
    """A forked child (a Celery pool process) opens its own connections."""
    global _lock
    _lock = threading.Lock()  # the parent may have held it while forking
    for store in _stores.values():
        store.engine.dispose(close=False)
    _stores.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
