"""Content-addressed storage of submitted documents' bytes.

A blob is named by the sha256 of its bytes, so storing the same file twice is a
no-op and a worker on any machine fetches exactly what was submitted (checked
on every read). Two backends:

* :class:`FileBlobs` -- files ``<dir>/ab/<sha256>`` written atomically
  (temporary file, fsync, rename). For several machines the folder must be a
  shared mount at the same path.
* :class:`DatabaseBlobs` -- a ``blobs`` table in the store, so workers on other
  machines need nothing but the database and the broker.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from tallyscan.store.errors import BlobMissing
from tallyscan.store.schema import blobs as blobs_table

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Blobs(Protocol):
    def put(self, data: bytes) -> str: ...

    def get(self, sha256: str) -> bytes: ...

    def has(self, sha256: str) -> bool: ...


def _check_sha(sha256: str) -> str:
    if not _SHA256.match(sha256 or ""):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


def _verified(sha256: str, data: bytes, where: str) -> bytes:
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BlobMissing(
            f"the stored copy of document {sha256[:12]} at {where} is damaged (its sha256 does "
            "not match); submit the file again with --reprocess"
        )
    return data


class FileBlobs:
    """Blobs as files under ``root`` (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        sha256 = _check_sha(sha256)
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.is_file() and target.stat().st_size == len(data):
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{sha256[:12]}.", suffix=".tmp", dir=target.parent)
        try:
            with open(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha256

    def get(self, sha256: str) -> bytes:
        target = self.path(sha256)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise BlobMissing(
                f"the stored copy of document {sha256[:12]} is missing from {self.root}; is "
                "TALLYSCAN_STORE_DIR the same (shared) folder on every machine? Submit the file "
                "again with --reprocess"
            ) from None
        return _verified(sha256, data, str(target))

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()


class DatabaseBlobs:
    """Blobs as rows of the store's ``blobs`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if self.has(sha256):
            return sha256
        try:
            with self.engine.begin() as conn:
                conn.execute(blobs_table.insert().values(sha256=sha256, size=len(data), data=data))
        except IntegrityError:  # stored meanwhile by another submitter
            pass
        return sha256

    def get(self, sha256: str) -> bytes:
        with self.engine.connect() as conn:
            row = conn.execute(select(blobs_table.c.data)
                               .where(blobs_table.c.sha256 == _check_sha(sha256))).first()
        if row is None:
            raise BlobMissing(
                f"the stored copy of document {sha256[:12]} is missing from the store's blobs "
                "table; submit the file again with --reprocess"
            )
        return _verified(sha256, bytes(row.data), "the store's blobs table")

    def has(self, sha256: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(blobs_table.c.sha256)
                                .where(blobs_table.c.sha256 == _check_sha(sha256))).first() is not None
