"""Turn the user's inputs (files, directories, ZIP archives) into documents to process.

>>> sources = expand_inputs(["reports/", "batch.zip", "scan.tif"], Settings())
>>> data = load_bytes(sources[0])

Each :class:`Source` is one document: a PDF, or an image file (a multi-page TIFF
is one document). Its type comes from its first bytes, never its extension, so a
PNG named ``.pdf`` is an image and a text file named ``.pdf`` is reported as
unsupported. Problems found while listing inputs -- an unsafe or oversized
archive, an empty or unreadable file, an unsupported type -- do not stop the run:
they become a Source that carries its error (``error_code``/``error_message``),
and the pipeline reports that document as failed.

Directories are walked recursively in sorted order; hidden files and folders are
skipped, and so are files whose extension is not one of ``INPUT_EXTENSIONS``.
A file named explicitly on the command line is always taken. ZIP archives
(named explicitly or found in a directory) are read in place, never extracted
to disk; archives inside archives are not opened.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from tallyscan.exceptions import (
    CorruptDocument,
    EmptyFile,
    EncryptedDocument,
    InputError,
    TallyscanError,
    UnsafeArchive,
    UnsupportedFormat,
)
from tallyscan.settings import Settings

log = logging.getLogger(__name__)

INPUT_EXTENSIONS = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".zip"})
ARCHIVE_SEPARATOR = "!"
_CHUNK = 1 << 20
_HEAD = 1024

SUPPORTED_TYPES = "PDF, PNG, JPEG or TIFF"


@dataclass(frozen=True)
class Source:
    """One input document. JSON-safe: only str/int/None fields."""

    name: str  # what users see: "reports/a.pdf" or "batch.zip!reports/a.pdf"
    path: str  # file on disk (the archive, for an archive member)
    kind: str  # "pdf", "image" or "unknown"
    sha256: str  # of the document's own bytes ("" when they could not be read)
    size: int = 0  # bytes
    member: str | None = None  # name inside the archive at ``path``
    format: str | None = None  # "pdf", "png", "jpeg", "tiff", "zip" or None
    error_code: str | None = None  # set when the document already failed while listing
    error_message: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_code is not None

    @property
    def stem(self) -> str:
        """File name without folders or extension, for naming output files."""
        base = (self.member or self.path).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        stem, dot, _ = base.rpartition(".")
        return (stem if dot and stem else base) or "document"

    def error(self) -> TallyscanError | None:
        """The error this source already carries, as the matching exception."""
        if self.error_code is None:
            return None
        cls = _error_class(self.error_code)
        return cls(self.error_message or self.error_code, document=self.name)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Source:
        return cls(**data)


def _error_class(code: str) -> type[TallyscanError]:
    stack: list[type[TallyscanError]] = [TallyscanError]
    while stack:
        cls = stack.pop()
        if cls.code == code:
            return cls
        stack.extend(cls.__subclasses__())
    return InputError


def sniff(head: bytes) -> str | None:
    """File type from its first bytes: pdf, png, jpeg, tiff, zip, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    # The PDF header may follow some junk; readers accept it within the first 1 KiB.
    if b"%PDF-" in head[:_HEAD]:
        return "pdf"
    return None


_KIND = {"pdf": "pdf", "png": "image", "jpeg": "image", "tiff": "image"}


def kind_of(fmt: str | None) -> str:
    return _KIND.get(fmt or "", "unknown")


def describe_head(head: bytes) -> str:
    """A short, printable description of a file's first bytes, for error messages."""
    if not head:
        return "it is empty"
    try:
        text = head[:60].decode("utf-8")
        if text.isprintable() or all(ch.isprintable() or ch in "\r\n\t" for ch in text):
            shown = re.sub(r"\s+", " ", text).strip()[:40]
            return f"it looks like text ({shown!r})"
    except UnicodeDecodeError:
        pass
    return f"it starts with bytes {head[:8].hex(' ')}"


def unsupported_message(head: bytes) -> str:
    return (
        f"not a {SUPPORTED_TYPES} file ({describe_head(head)}); tallyscan reads PDF files "
        "and PNG/JPEG/TIFF scans -- convert the document to PDF, or remove it from the inputs"
    )


# --------------------------------------------------------------------------- #
# Expansion


def expand_inputs(paths: Iterable[str | os.PathLike[str]], settings: Settings) -> list[Source]:
    """Every document named by ``paths`` (files, directories, ZIPs), in a stable order.

    Raises FileNotFoundError for a path that does not exist (a usage error).
    Problems with individual documents are recorded on their Source instead.
    """
    out: list[Source] = []
    seen: set[tuple[str, str | None]] = set()
    for p in paths:
        given = os.fspath(p)
        if not os.path.lexists(given):
            raise FileNotFoundError(f"no such file or directory: {given}")
        if os.path.isdir(given):
            for full, shown in _walk(given):
                _add_file(full, shown, settings, out, seen)
        else:
            _add_file(given, given, settings, out, seen)
    return _unique_names(out)


def _walk(root: str) -> Iterable[tuple[str, str]]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_walk_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in filenames:
            if fn.startswith(".") or os.path.splitext(fn)[1].lower() not in INPUT_EXTENSIONS:
                continue
            found.append(os.path.join(dirpath, fn))
    found.sort(key=lambda f: os.path.relpath(f, root).replace(os.sep, "/"))
    for full in found:
        yield full, full


def _walk_error(err: OSError) -> None:
    log.warning("cannot read directory %s: %s", err.filename, err.strerror)


def _add_file(
    path: str,
    shown: str,
    settings: Settings,
    out: list[Source],
    seen: set[tuple[str, str | None]],
) -> None:
    key = (os.path.realpath(path), None)
    if key in seen:
        return
    seen.add(key)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError as exc:
        out.append(_failed(shown, path, InputError(f"cannot read the file ({exc.strerror or exc}); check its permissions")))
        return
    fmt = sniff(head)
    if fmt == "zip":
        _expand_zip(path, shown, size, settings, out, seen)
        return
    if size == 0:
        out.append(_failed(shown, path, EmptyFile(_EMPTY), size=0))
        return
    if size > settings.max_file_bytes:
        out.append(_failed(shown, path, _too_big(size, settings), size=size))
        return
    if fmt is None:
        out.append(_failed(shown, path, UnsupportedFormat(unsupported_message(head)), size=size, sha=_sha_file(path)))
        return
    try:
        sha = _sha_file(path)
    except OSError as exc:
        out.append(_failed(shown, path, InputError(f"cannot read the file ({exc.strerror or exc})")))
        return
    out.append(Source(name=shown, path=path, kind=kind_of(fmt), sha256=sha, size=size, format=fmt))


_EMPTY = "the file is empty (0 bytes); re-download or re-export it"


def _too_big(size: int, settings: Settings) -> InputError:
    return InputError(
        f"the file is {size / 1048576:.1f} MB, over the {settings.max_file_mb:g} MB limit; "
        f"set {Settings.env_var('max_file_mb')} higher to process it"
    )


def _failed(name: str, path: str, err: TallyscanError, *, member: str | None = None, size: int = 0, sha: str = "") -> Source:
    return Source(
        name=name, path=path, kind="unknown", sha256=sha, size=size, member=member,
        error_code=err.code, error_message=err.message,
    )


def _sha_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def unsafe_member_name(name: str) -> str | None:
    """Why an archive member name is unsafe (absolute, drive, '..', NUL), or None."""
    n = name.replace("\\", "/")
    if "\x00" in n:
        return "contains a NUL character"
    if n.startswith("/"):
        return "is an absolute path"
    if re.match(r"^[A-Za-z]:", n):
        return "starts with a drive letter"
    if any(part == ".." for part in n.split("/")):
        return "climbs out of the archive with '..'"
    return None


def _is_hidden_member(name: str) -> bool:
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _expand_zip(
    path: str,
    shown: str,
    size: int,
    settings: Settings,
    out: list[Source],
    seen: set[tuple[str, str | None]],
) -> None:
    def archive_failed(err: TallyscanError) -> None:
        try:
            sha = _sha_file(path)
        except OSError:
            sha = ""
        out.append(_failed(shown, path, err, size=size, sha=sha))

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        archive_failed(CorruptDocument(
            f"the ZIP archive cannot be read ({exc}); it is damaged or truncated -- re-download or re-create it"
        ))
        return
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > settings.max_archive_members:
            archive_failed(UnsafeArchive(
                f"the ZIP archive holds {len(infos)} files, over the limit of "
                f"{settings.max_archive_members}; split it, or set "
                f"{Settings.env_var('max_archive_members')} higher if you trust it"
            ))
            return
        bad = [(i.filename, why) for i in infos if (why := unsafe_member_name(i.filename))]
        if bad:
            listed = "; ".join(f"{n!r} {why}" for n, why in bad[:3])
            more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
            archive_failed(UnsafeArchive(
                f"the ZIP archive has unsafe member names (path traversal): {listed}{more}; "
                "it was not opened -- re-create the archive with relative paths"
            ))
            return
        total = sum(i.file_size for i in infos)
        if total > settings.max_archive_bytes:
            archive_failed(UnsafeArchive(_bomb_message(total, settings)))
            return
        budget = settings.max_archive_bytes
        counts: dict[str, int] = {}
        for i in infos:
            counts[i.filename] = counts.get(i.filename, 0) + 1
        members: list[zipfile.ZipInfo] = sorted(
            (i for i in infos if not _is_hidden_member(i.filename)), key=lambda i: i.filename
        )
        for info in members:
            ext = os.path.splitext(info.filename)[1].lower()
            if ext not in INPUT_EXTENSIONS:
                continue
            member = info.filename
            name = f"{shown}{ARCHIVE_SEPARATOR}{member}"
            key = (os.path.realpath(path), member)
            if counts[member] > 1:
                if key not in seen:
                    seen.add(key)
                    out.append(_failed(name, path, UnsafeArchive(
                        f"the archive holds {counts[member]} different files with this name, so which "
                        "one is meant is unclear; re-create the archive without duplicates"), member=member))
                continue
            if key in seen:
                continue
            seen.add(key)
            if info.flag_bits & 0x1:
                out.append(_failed(name, path, EncryptedDocument(
                    "the file is password-protected inside the ZIP archive; unzip it with the "
                    "password and pass the file itself"), member=member, size=info.file_size))
                continue
            if info.file_size > settings.max_file_bytes:
                out.append(_failed(name, path, _too_big(info.file_size, settings), member=member, size=info.file_size))
                continue
            try:
                sha, head, n = _hash_member(zf, info, min(budget, settings.max_file_bytes))
            except _OverBudget:
                archive_failed(UnsafeArchive(_bomb_message(settings.max_archive_bytes + 1, settings)))
                return
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
                out.append(_failed(name, path, InputError(
                    f"cannot read this file from the ZIP archive ({exc}); the archive is damaged -- "
                    "re-create it"), member=member, size=info.file_size))
                continue
            budget -= n
            fmt = sniff(head)
            if n == 0:
                out.append(_failed(name, path, EmptyFile(_EMPTY), member=member, sha=sha))
            elif fmt == "zip":
                out.append(_failed(name, path, UnsupportedFormat(
                    "a ZIP archive inside a ZIP archive is not opened; extract it and pass it "
                    "(or its files) directly"), member=member, size=n, sha=sha))
            elif fmt is None:
                out.append(_failed(name, path, UnsupportedFormat(unsupported_message(head)),
                                   member=member, size=n, sha=sha))
            else:
                out.append(Source(name=name, path=path, kind=kind_of(fmt), sha256=sha, size=n,
                                  member=member, format=fmt))


class _OverBudget(Exception):
    pass


def _bomb_message(total: int, settings: Settings) -> str:
    return (
        f"the ZIP archive expands to {total / 1048576:.0f} MB, over the "
        f"{settings.max_archive_mb:g} MB limit (a possible zip bomb); it was not opened -- "
        f"split it, or set {Settings.env_var('max_archive_mb')} higher if you trust it"
    )


def _hash_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> tuple[str, bytes, int]:
    h = hashlib.sha256()
    head = b""
    n = 0
    with zf.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            n += len(chunk)
            if n > limit:
                raise _OverBudget
            if len(head) < _HEAD:
                head += chunk[: _HEAD - len(head)]
            h.update(chunk)
    return h.hexdigest(), head, n


def _unique_names(sources: list[Source]) -> list[Source]:
    seen: dict[str, int] = {}
    out = []
    for s in sources:
        n = seen.get(s.name, 0) + 1
        seen[s.name] = n
        if n > 1:
            s = Source(**{**asdict(s), "name": f"{s.name}#{n}"})
        out.append(s)
    return out


# --------------------------------------------------------------------------- #
# Reading


def load_bytes(source: Source, max_bytes: int | None = None) -> bytes:
    """The document's bytes (read from the archive for a member).

    Raises InputError if the file can no longer be read, or is larger than
    ``max_bytes`` when given.
    """
    try:
        if source.member is None:
            with open(source.path, "rb") as fh:
                data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        else:
            with zipfile.ZipFile(source.path) as zf, zf.open(source.member) as fh:
                data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError("the file disappeared before it could be read; check the input path",
                         document=source.name) from None
    except (OSError, zipfile.BadZipFile, KeyError, EOFError, RuntimeError) as exc:
        raise InputError(f"cannot read the file ({exc}); re-download or re-create it",
                         document=source.name) from None
    if max_bytes is not None and len(data) > max_bytes:
        raise InputError(f"the file is larger than {max_bytes / 1048576:g} MB; set "
                         f"{Settings.env_var('max_file_mb')} higher to process it", document=source.name)
    return data
