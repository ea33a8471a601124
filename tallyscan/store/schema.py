"""The store's tables, and the migrations that create them on start.

Tables:

* ``documents`` -- one row per document, keyed by :func:`document_key` (the
  sha256 of its bytes). Its ``state`` moves queued -> running -> done | failed;
  ``attempts`` counts starts and ``crashes`` the starts that died with their
  worker (the poison-document bound). ``result`` holds the whole
  ``DocumentResult.to_json()`` except the cells, so fields added to the model
  later are kept without a schema change.
* ``cells`` -- one row per (document, section, row_path, col_path), UNIQUE:
  a document can never hold two sets of cells.
* ``batches`` / ``batch_documents`` -- what each ``submit`` (or ``extract``) run
  named, and under which name.
* ``blobs`` -- document bytes, when ``TALLYSCAN_BLOB_STORE=database``.
* ``tallyscan_schema`` -- the schema version; :func:`migrate` applies the
  missing steps of :data:`MIGRATIONS` in order, under a lock, on every start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Connection, Engine

from tallyscan.exceptions import TallyscanError

log = logging.getLogger(__name__)

metadata = MetaData()

# Document states.
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATES = (QUEUED, RUNNING, DONE, FAILED)

documents = Table(
    "documents", metadata,
    Column("key", String(80), primary_key=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("size", BigInteger, nullable=False, default=0),
    Column("format", String(16)),
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("crashes", Integer, nullable=False, default=0),
    Column("task_id", String(64)),
    Column("task_retries", Integer, nullable=False, default=0),
    Column("worker", Text),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("agency", Text),
    Column("year", Integer),
    Column("pages", Integer, nullable=False, default=0),
    Column("cells_count", Integer, nullable=False, default=0),
    Column("seconds", Double, nullable=False, default=0.0),
    Column("result", JSON),  # DocumentResult.to_json() without "cells"
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
)

cells = Table(
    "cells", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("document_key", String(80), ForeignKey("documents.key", ondelete="CASCADE"),
           nullable=False),
    Column("position", Integer, nullable=False),
    Column("section", String(16), nullable=False),
    Column("row_path", Text, nullable=False),
    Column("col_path", Text, nullable=False),
    Column("value", Double),
    Column("value_is_int", Boolean, nullable=False, default=False),
    Column("raw_text", Text, nullable=False, default=""),
    Column("confidence", Double),
    Column("status", String(32), nullable=False),
    Column("page", Integer),
    Column("bbox", JSON),
    Column("template", String(32)),
    Column("reason", Text, nullable=False, default=""),
    Column("equations", JSON),
    Column("alternatives", JSON),
    Column("extra", JSON),  # CanonicalCell fields this schema has no column for
    UniqueConstraint("document_key", "section", "row_path", "col_path", name="uq_cells_document_cell"),
)
Index("ix_cells_document_position", cells.c.document_key, cells.c.position)

batches = Table(
    "batches", metadata,
    Column("id", String(64), primary_key=True),
    Column("origin", String(16), nullable=False),  # submit or extract
    Column("inputs", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

batch_documents = Table(
    "batch_documents", metadata,
    Column("batch_id", String(64), ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True),
    Column("document_key", String(80), ForeignKey("documents.key", ondelete="CASCADE"),
           primary_key=True),
    Column("position", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("outcome", String(16), nullable=False),  # queued, known or failed at submit
)
Index("ix_batch_documents_document", batch_documents.c.document_key)

blobs = Table(
    "blobs", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

schema_version = Table(
    "tallyscan_schema", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)


# --------------------------------------------------------------------------- #
# Migrations


class SchemaTooNew(TallyscanError):
    code = "schema_too_new"


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[documents, cells, batches, batch_documents, blobs])


# version -> step. Append new steps (ALTER TABLE ...); never edit a released one.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _create_v1,
}
SCHEMA_VERSION = max(MIGRATIONS)

# Any constant works; it only has to be the same for every tallyscan process.
_PG_MIGRATION_LOCK = 0x7A11_5CA4


def migrate(engine: Engine) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`; returns the version found before.

    Safe when several workers start at once: PostgreSQL takes an advisory lock,
    SQLite a write transaction, so one process migrates and the others wait.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        schema_version.create(conn, checkfirst=True)
        found = conn.execute(schema_version.select().where(schema_version.c.id == 1)).first()
        before = found.version if found else 0
        if before > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the store at {engine.url.render_as_string(hide_password=True)} has schema version "
                f"{before}, newer than this tallyscan understands ({SCHEMA_VERSION}); upgrade "
                "tallyscan on this machine"
            )
        for version in range(before + 1, SCHEMA_VERSION + 1):
            log.info("store: migrating schema to version %d", version)
            MIGRATIONS[version](conn)
        if found is None:
            conn.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION))
        elif before < SCHEMA_VERSION:
            conn.execute(schema_version.update().where(schema_version.c.id == 1)
                         .values(version=SCHEMA_VERSION))
    return before
