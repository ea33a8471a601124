"""The persistent store of documents, their results and batches (SQLAlchemy Core).

>>> store = open_store()                      # TALLYSCAN_DATABASE_URL or the SQLite file
>>> store.save_result(result, batch)          # atomically replaces the document's cells
>>> for result in store.results(batch): ...   # DocumentResult, exactly as saved

Every method is one transaction. A database that cannot be reached raises
:class:`~tallyscan.store.errors.StoreUnavailable` (a transient error: the worker
task retries it with backoff); nothing is ever half written, because a
document's row and all its cells change together or not at all.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import numbers
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from tallyscan.model import CanonicalCell, DocumentResult
from tallyscan.store.blobs import Blobs
from tallyscan.store.errors import StoreUnavailable, UnknownBatch
from tallyscan.store.schema import (
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    STATES,
    batch_documents,
    batches,
    cells,
    documents,
)

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_CELL_COLUMNS = ("section", "row_path", "col_path", "raw_text", "confidence", "status", "page",
                 "template", "reason", "equations", "alternatives")
_CELL_FIELDS = frozenset(f.name for f in fields(CanonicalCell))
_MAX_EXACT_INT = 2**53


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; every stored time is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


def document_key(sha256: str, name: str) -> str:
    """A document's key: the sha256 of its bytes.

    A document whose bytes could not be read (an unreadable file, a member of a
    broken archive) has no content hash; it is keyed by its name instead, as
    ``unread:<sha256 of the name>``, so it is still recorded as failed.
    """
    if sha256:
        return sha256
    return "unread:" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def new_batch_id(origin: str) -> str:
    """A batch id that sorts by time: ``20261121-141503-3fa9c2`` (plus ``x-`` for extract)."""
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return f"{'x-' if origin == 'extract' else ''}{stamp}-{secrets.token_hex(3)}"


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _translating(method: Callable[..., _T]) -> Callable[..., _T]:
    """Turn 'cannot reach the database' into StoreUnavailable, naming the store."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if _is_unavailable(exc):
                raise self.unavailable(exc) from exc
            raise

    return wrapper


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a document it was sent.

    ``action``: ``run`` (process it), ``finished`` (already done or failed: drop
    the message), ``busy`` (another live attempt holds it: drop this duplicate
    message), ``poison`` (it killed its worker ``crashes`` times; now failed),
    ``missing`` (no such document).
    """

    action: str
    key: str
    sha256: str = ""
    name: str = ""
    attempts: int = 0
    crashes: int = 0


@dataclass(frozen=True)
class BatchInfo:
    id: str
    origin: str
    created_at: datetime
    documents: int


@dataclass(frozen=True)
class Failure:
    name: str
    error_code: str
    error_message: str


class Store:
    """Documents, results and batches in one database, plus the blob store."""

    def __init__(self, engine: Engine, blobs: Blobs) -> None:
        self.engine = engine
        self.blobs = blobs

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def unavailable(self, exc: BaseException) -> StoreUnavailable:
        orig = getattr(exc, "orig", None) or exc
        detail = " ".join(str(orig).split())[:300]
        return StoreUnavailable(
            f"the store at {self.url} cannot be reached ({detail}); check that the database is "
            "running and TALLYSCAN_DATABASE_URL is right -- queued documents wait and are retried"
        )

    # ------------------------------------------------------------------ #
    # Results (the API used by extract, the worker and review)

    @_translating
    def save_result(self, result: DocumentResult, batch: str | None = None) -> None:
        """Store ``result`` as its document's outcome, replacing any earlier cells at once."""
        key = document_key(result.sha256, result.document)
        with self.engine.begin() as conn:
            self._insert_document(conn, key=key, sha256=result.sha256 or "", name=result.document,
                                  size=0, format=None)
            self._lock_document(conn, key)
            self._write_result(conn, key, result)
            if batch is not None:
                self._add_to_batch(conn, batch, key, result.document, result.status)

    def results(self, batch: str | None = None) -> Iterator[DocumentResult]:
        """Every finished (done or failed) document's result, in submission order.

        With ``batch``, that batch's documents under the names it gave them.
        Documents still queued or running have no result yet and are left out.
        """
        try:
            with self.engine.connect() as conn:
                rows = self._document_rows(conn, batch, states=(DONE, FAILED))
            for row in rows:
                yield self._result_of(row)
        except Exception as exc:
            if _is_unavailable(exc):
                raise self.unavailable(exc) from exc
            raise

    @_translating
    def result(self, key: str) -> DocumentResult | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(documents).where(documents.c.key == key)).first()
        if row is None or row.state not in (DONE, FAILED):
            return None
        return self._result_of(row)

    def _result_of(self, row: Row, name: str | None = None) -> DocumentResult:
        data: dict[str, Any] = dict(row.result or {})
        data.setdefault("document", row.name)
        data.setdefault("sha256", row.sha256)
        data.setdefault("status", row.state)
        data["document"] = getattr(row, "batch_name", None) or name or data["document"]
        with self.engine.connect() as conn:
            found = conn.execute(select(cells).where(cells.c.document_key == row.key)
                                 .order_by(cells.c.position)).all()
        data["cells"] = [_cell_json(c) for c in found]
        return DocumentResult.from_json(data)

    def _write_result(self, conn: Connection, key: str, result: DocumentResult) -> None:
        state = DONE if result.status == "done" else FAILED
        payload = result.to_json()
        payload.pop("cells", None)
        payload = json.loads(json.dumps(payload, default=_json_default))  # plain JSON types only
        conn.execute(delete(cells).where(cells.c.document_key == key))
        rows = [_cell_row(key, i, c) for i, c in enumerate(result.cells)] if state == DONE else []
        if rows:
            conn.execute(insert(cells), rows)
        conn.execute(update(documents).where(documents.c.key == key).values(
            state=state, error_code=result.error_code, error_message=result.error_message,
            agency=result.agency, year=result.year, pages=result.pages or 0,
            cells_count=len(rows), seconds=float(result.seconds or 0.0), result=payload,
            finished_at=utcnow(),
        ))

    # ------------------------------------------------------------------ #
    # Batches

    @_translating
    def new_batch(self, origin: str, inputs: list[str]) -> str:
        batch = new_batch_id(origin)
        with self.engine.begin() as conn:
            conn.execute(insert(batches).values(id=batch, origin=origin, inputs=list(inputs),
                                                created_at=utcnow()))
        return batch

    @_translating
    def batches(self, limit: int = 10) -> list[BatchInfo]:
        """The most recent batches, newest first."""
        n = func.count(batch_documents.c.document_key)
        query = (select(batches.c.id, batches.c.origin, batches.c.created_at, n.label("n"))
                 .select_from(batches.outerjoin(batch_documents))
                 .group_by(batches.c.id, batches.c.origin, batches.c.created_at)
                 .order_by(batches.c.created_at.desc(), batches.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [BatchInfo(r.id, r.origin, aware(r.created_at), r.n) for r in conn.execute(query)]

    @_translating
    def check_batch(self, batch: str) -> str:
        """``batch`` itself, or a clear error naming the recent batches."""
        with self.engine.connect() as conn:
            found = conn.execute(select(batches.c.id).where(batches.c.id == batch)).first()
        if found is None:
            recent = ", ".join(b.id for b in self.batches(5)) or "none yet"
            raise UnknownBatch(f"no batch {batch!r} in the store at {self.url} (recent: {recent})")
        return batch

    def _add_to_batch(self, conn: Connection, batch: str, key: str, name: str, outcome: str) -> None:
        exists = conn.execute(select(batch_documents.c.document_key).where(
            batch_documents.c.batch_id == batch, batch_documents.c.document_key == key)).first()
        if exists:
            return
        position = conn.execute(select(func.count()).select_from(batch_documents)
                                .where(batch_documents.c.batch_id == batch)).scalar_one()
        conn.execute(insert(batch_documents).values(batch_id=batch, document_key=key,
                                                    position=position, name=name, outcome=outcome))

    # ------------------------------------------------------------------ #
    # Submitting

    @_translating
    def register(
        self,
        batch: str,
        *,
        key: str,
        sha256: str,
        name: str,
        size: int,
        fmt: str | None,
        reprocess: bool = False,
        failure: DocumentResult | None = None,
    ) -> str:
        """Record a submitted document in ``batch``; returns what happened to it.

        ``queued`` (new, or reset by ``reprocess``: send it a task), ``known``
        (already in the store: nothing to do), or ``failed`` (``failure``, found
        while reading the inputs, is stored as its result at once).
        """
        with self.engine.begin() as conn:
            created = self._insert_document(conn, key=key, sha256=sha256, name=name, size=size,
                                            format=fmt)
            row = self._lock_document(conn, key)
            if created:
                outcome = QUEUED
            elif reprocess and row.state in (DONE, FAILED):
                conn.execute(update(documents).where(documents.c.key == key).values(
                    state=QUEUED, attempts=0, crashes=0, task_id=None, task_retries=0,
                    worker=None, error_code=None, error_message=None, sent_at=None,
                    started_at=None, finished_at=None, size=size or row.size,
                    format=fmt or row.format,
                ))
                outcome = QUEUED
            else:
                outcome = "known"
            if failure is not None and outcome == QUEUED:
                self._write_result(conn, key, failure)
                outcome = FAILED
            self._add_to_batch(conn, batch, key, name, outcome)
        return outcome

    @_translating
    def mark_sent(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(documents).where(documents.c.key == key, documents.c.state == QUEUED)
                         .values(sent_at=utcnow()))

    @_translating
    def to_resend(self, *, everything: bool, live_window: float, unsent_after: float,
                  stale_after: float) -> list[str]:
        """Documents whose queue message may be lost, oldest first.

        ``everything`` (the broker was emptied, or ``submit --requeue``): every
        queued document, and running ones older than ``live_window`` seconds.
        Otherwise only queued documents never sent for ``unsent_after`` seconds
        (a submit that died before sending) and running ones older than
        ``stale_after`` (their worker vanished and the broker did not hand them
        out again).
        """
        now = utcnow()
        if everything:
            cond = or_(documents.c.state == QUEUED,
                       (documents.c.state == RUNNING)
                       & (documents.c.started_at < now - timedelta(seconds=live_window)))
        else:
            cond = or_((documents.c.state == QUEUED) & documents.c.sent_at.is_(None)
                       & (documents.c.created_at < now - timedelta(seconds=unsent_after)),
                       (documents.c.state == RUNNING)
                       & (documents.c.started_at < now - timedelta(seconds=stale_after)))
        with self.engine.connect() as conn:
            return list(conn.execute(select(documents.c.key).where(cond)
                                     .order_by(documents.c.created_at, documents.c.key)).scalars())

    # ------------------------------------------------------------------ #
    # The worker

    @_translating
    def claim(self, key: str, *, task_id: str, retries: int, worker: str, max_crashes: int,
              live_window: float) -> Claim:
        """Start an attempt at ``key`` for the message ``task_id`` (its ``retries``-th send).

        Counted in the database before any work, so a document that kills its
        worker process (where no except clause runs) is still bounded: a start
        that finds the previous attempt unfinished -- the same message delivered
        again, or another message after ``live_window`` seconds -- counts a
        crash, and after ``max_crashes`` the document is failed instead of run.
        """
        now = utcnow()
        with self.engine.begin() as conn:
            row = self._lock_document(conn, key)
            if row is None:
                return Claim("missing", key)
            if row.state in (DONE, FAILED):
                return Claim("finished", key, row.sha256, row.name, row.attempts, row.crashes)
            crashes = row.crashes
            if row.state == RUNNING:
                same_message = row.task_id == task_id
                clean_retry = same_message and retries > (row.task_retries or 0)
                started = aware(row.started_at)
                live = started is not None and now - started < timedelta(seconds=live_window)
                if not same_message and live:
                    return Claim("busy", key, row.sha256, row.name, row.attempts, crashes)
                if not clean_retry:
                    crashes += 1
            if crashes >= max_crashes:
                times = "once" if crashes == 1 else f"{crashes} times"
                message = (
                    f"{row.name}: processing this document killed its worker process {times} "
                    "(out of memory, or a crash in a native library), so it is not tried again; "
                    "check the file, or run it alone with `tallyscan extract --jobs 1` to see "
                    "what happens"
                )
                conn.execute(update(documents).where(documents.c.key == key).values(
                    crashes=crashes, state=FAILED, error_code="worker_lost", error_message=message,
                    finished_at=now, result=_failed_payload(row, "worker_lost", message),
                ))
                return Claim("poison", key, row.sha256, row.name, row.attempts, crashes)
            conn.execute(update(documents).where(documents.c.key == key).values(
                state=RUNNING, attempts=row.attempts + 1, crashes=crashes, task_id=task_id,
                task_retries=retries, worker=worker, started_at=now,
            ))
            return Claim("run", key, row.sha256, row.name, row.attempts + 1, crashes)

    @_translating
    def mark_failed(self, key: str, code: str, message: str, *, task_id: str | None = None) -> bool:
        """Fail a running document (timeouts, bugs outside the pipeline).

        With ``task_id``, only if that message's attempt still holds it, so a
        late handler never overwrites a newer attempt's result.
        """
        with self.engine.begin() as conn:
            row = self._lock_document(conn, key)
            if row is None or row.state != RUNNING or (task_id and row.task_id != task_id):
                return False
            conn.execute(delete(cells).where(cells.c.document_key == key))
            conn.execute(update(documents).where(documents.c.key == key).values(
                state=FAILED, error_code=code, error_message=message, cells_count=0,
                finished_at=utcnow(), result=_failed_payload(row, code, message),
            ))
        return True

    @_translating
    def document(self, key: str) -> Row | None:
        with self.engine.connect() as conn:
            return conn.execute(select(documents).where(documents.c.key == key)).first()

    # ------------------------------------------------------------------ #
    # Status and export

    @_translating
    def counts(self, batch: str | None = None) -> dict[str, int]:
        """Documents per state (every state present, zero or not)."""
        query = select(documents.c.state, func.count()).group_by(documents.c.state)
        if batch is not None:
            query = query.join(batch_documents, batch_documents.c.document_key == documents.c.key) \
                .where(batch_documents.c.batch_id == batch)
        with self.engine.connect() as conn:
            found = {state: n for state, n in conn.execute(query).all()}
        return {state: int(found.get(state, 0)) for state in STATES}

    @_translating
    def failures(self, batch: str | None = None) -> list[Failure]:
        with self.engine.connect() as conn:
            rows = self._document_rows(conn, batch, states=(FAILED,))
        return [Failure(getattr(r, "batch_name", None) or r.name, r.error_code or "",
                        r.error_message or "") for r in rows]

    @_translating
    def documents(self, batch: str | None = None) -> list[Row]:
        with self.engine.connect() as conn:
            return self._document_rows(conn, batch, states=STATES)

    @_translating
    def duplicate_cells(self) -> int:
        """Cells sharing (document, section, row, column): always 0 (the UNIQUE constraint)."""
        sub = (select(func.count().label("n")).select_from(cells)
               .group_by(cells.c.document_key, cells.c.section, cells.c.row_path, cells.c.col_path)
               .having(func.count() > 1).subquery())
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())

    def _document_rows(self, conn: Connection, batch: str | None, states: tuple[str, ...]) -> list[Row]:
        if batch is None:
            query = (select(documents).where(documents.c.state.in_(states))
                     .order_by(documents.c.created_at, documents.c.key))
        else:
            query = (select(documents, batch_documents.c.name.label("batch_name"))
                     .join(batch_documents, batch_documents.c.document_key == documents.c.key)
                     .where(batch_documents.c.batch_id == batch, documents.c.state.in_(states))
                     .order_by(batch_documents.c.position))
        return list(conn.execute(query).all())

    def _insert_document(self, conn: Connection, **values: Any) -> bool:
        """Add a queued document row unless one exists; True if this call added it.

        ON CONFLICT DO NOTHING, so two processes storing the same new document at
        once do not fail on the primary key (there is no row yet to lock)."""
        values.update(state=QUEUED, created_at=utcnow())
        dialect = conn.dialect.name
        if dialect in ("postgresql", "sqlite"):
            module = postgresql if dialect == "postgresql" else sqlite
            stmt = module.insert(documents).values(**values).on_conflict_do_nothing(
                index_elements=[documents.c.key]).returning(documents.c.key)
            return conn.execute(stmt).first() is not None
        if self._lock_document(conn, values["key"]) is not None:
            return False
        conn.execute(insert(documents).values(**values))
        return True

    def _lock_document(self, conn: Connection, key: str) -> Row | None:
        """The document's row, locked until the transaction ends (PostgreSQL; SQLite's
        write transactions are already exclusive)."""
        return conn.execute(select(documents).where(documents.c.key == key).with_for_update()).first()


# --------------------------------------------------------------------------- #
# Cells <-> rows


def _json_default(o: Any) -> Any:
    for attr in ("item", "tolist"):
        if hasattr(o, attr):
            return getattr(o, attr)()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _cell_row(key: str, position: int, cell: CanonicalCell) -> dict[str, Any]:
    data = json.loads(json.dumps(
        {f: getattr(cell, f) for f in _CELL_FIELDS}, default=_json_default))
    value = data.pop("value")
    extra = {k: v for k, v in data.items() if k not in _CELL_COLUMNS and k != "bbox"}
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    stored: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        stored = float(value)
        if (is_int and abs(value) >= _MAX_EXACT_INT) or not math.isfinite(stored):
            extra["value"] = value  # not exactly representable as a double: kept as JSON
    elif value is not None:
        extra["value"] = value
    return {
        "document_key": key, "position": position,
        **{c: data.get(c) for c in _CELL_COLUMNS},
        "raw_text": data.get("raw_text") or "", "reason": data.get("reason") or "",
        "value": stored if "value" not in extra else None, "value_is_int": is_int,
        "bbox": data.get("bbox"), "extra": extra or None,
    }


def _cell_json(row: Row) -> dict[str, Any]:
    extra = dict(row.extra or {})
    if "value" in extra:
        value = extra.pop("value")
    elif row.value is None:
        value = None
    else:
        value = int(row.value) if row.value_is_int else float(row.value)
    data = {c: getattr(row, c) for c in _CELL_COLUMNS}
    data.update(value=value, bbox=row.bbox, equations=row.equations or [],
                alternatives=row.alternatives or [])
    data.update(extra)
    return data


def _failed_payload(row: Row, code: str, message: str) -> dict[str, Any]:
    result = DocumentResult(document=row.name, sha256=row.sha256, status="failed",
                            error_code=code, error_message=message)
    payload = result.to_json()
    payload.pop("cells", None)
    return payload
