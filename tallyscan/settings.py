"""Run-time settings, read once from typed ``TALLYSCAN_*`` environment variables.

>>> settings = Settings.from_env()          # defaults for anything unset
>>> settings = dataclasses.replace(settings, ocr_engine="paddleocr")

Every variable has a default; a set but invalid value (``TALLYSCAN_MAX_PAGES=ten``)
raises :class:`SettingsError` naming the variable, what it expects and what it got.
``Settings`` is frozen and picklable, so it travels to worker processes as is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from tallyscan.exceptions import ExitCode, TallyscanError

ENV_PREFIX = "TALLYSCAN_"


class SettingsError(TallyscanError):
    """A TALLYSCAN_* environment variable holds a value that cannot be used."""

    code = "bad_settings"
    exit_code = ExitCode.bad_arguments


@dataclass(frozen=True)
class _Spec:
    kind: type
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    # For str settings: "name" (lower-case identifier), "text" (URL or path, kept as
    # written), or a tuple of the allowed lower-case choices.
    text: str | tuple[str, ...] = "name"


# field name -> how to read and check it (the env var is TALLYSCAN_<NAME upper>)
_SPECS: dict[str, _Spec] = {
    "ocr_engine": _Spec(str, help="OCR engine name"),
    "raster_dpi": _Spec(int, 50, 1200, "dpi at which pages without a usable scan image are rendered"),
    "max_scan_dpi": _Spec(int, 50, 2400, "scans finer than this are downscaled to it"),
    "max_pages": _Spec(int, 1, 1_000_000, "most pages a document may have"),
    "max_page_pt": _Spec(float, 72, 1_000_000, "longest page side allowed, in points (72 per inch)"),
    "max_file_mb": _Spec(float, 0.001, 1_000_000, "largest input file, in MB"),
    "max_archive_mb": _Spec(float, 0.001, 10_000_000, "largest total uncompressed size of a ZIP archive, in MB"),
    "max_archive_members": _Spec(int, 1, 100_000_000, "most files a ZIP archive may hold"),
    "max_image_pixels": _Spec(int, 1_000, 10_000_000_000, "largest image (width x height pixels) that is decoded"),
    "ocr_threads": _Spec(int, 1, 256, "threads each OCR engine may use"),
    "ocr_int8_output": _Spec(int, 0, 1, "1: run the recogniser with its output layer in int8 "
                             "(OCR 5-9% faster, made once into <data dir>/models); 0: the float model"),
    "allow_javascript": _Spec(int, 0, 1, "1: read PDFs that carry JavaScript (never run); "
                              "0: fail them as active_content"),
    # The service (tallyscan submit / worker / status / export; issue 4).
    "data_dir": _Spec(str, help="folder for the default SQLite store and blobs", text="text"),
    "database_url": _Spec(str, help="SQLAlchemy URL of the store, e.g. postgresql://user@host/db "
                          "(empty: SQLite file in the data dir)", text="text"),
    "store_dir": _Spec(str, help="folder of the content-addressed document blobs "
                       "(empty: <data dir>/blobs)", text="text"),
    "blob_store": _Spec(str, help="where submitted files are kept: 'files' (store dir) or "
                        "'database' (a table in the store)", text=("files", "database")),
    "broker_url": _Spec(str, help="Celery broker URL", text="text"),
    "queue": _Spec(str, help="Celery queue the documents are sent to"),
    "soft_time_limit": _Spec(int, 1, 86_400, "seconds a document may take before it fails as timed out"),
    "hard_time_limit": _Spec(int, 2, 86_400, "seconds after which a document's worker process is killed"),
    "visibility_timeout": _Spec(int, 0, 604_800, "seconds before a document taken by a vanished worker "
                                "is handed out again (0: hard time limit + 60)"),
    "max_crashes": _Spec(int, 1, 100, "times a document may kill its worker before it is failed"),
    "store_retries": _Spec(int, 0, 10_000, "retries of a document while the store is unreachable"),
    "retry_backoff_max": _Spec(int, 1, 3_600, "longest wait, in seconds, between those retries"),
    "sweep_interval": _Spec(int, 1, 86_400, "seconds between a worker's checks for documents "
                            "whose queue message was lost"),
}

_ENGINE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Settings:
    """Limits and knobs for one run. Build with :meth:`from_env` or directly."""

    ocr_engine: str = "rapidocr"
    raster_dpi: int = 200
    max_scan_dpi: int = 200
    max_pages: int = 200
    max_page_pt: float = 14400.0  # 200 inches
    max_file_mb: float = 200.0
    max_archive_mb: float = 2000.0  # uncompressed
    max_archive_members: int = 10_000
    max_image_pixels: int = 178_956_970  # Pillow's decompression-bomb error threshold
    ocr_threads: int = 1
    ocr_int8_output: int = 1
    allow_javascript: int = 0
    data_dir: str = "~/.local/share/tallyscan"
    database_url: str = ""
    store_dir: str = ""
    blob_store: str = "files"
    broker_url: str = "redis://localhost:6379/0"
    queue: str = "tallyscan"
    soft_time_limit: int = 300
    hard_time_limit: int = 360
    visibility_timeout: int = 0
    max_crashes: int = 3
    store_retries: int = 100
    retry_backoff_max: int = 300
    sweep_interval: int = 30

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(f.name, getattr(self, f.name), env=False)
        if self.hard_time_limit <= self.soft_time_limit:
            raise SettingsError(
                f"{self.env_var('hard_time_limit')} ({self.hard_time_limit}) must be greater than "
                f"{self.env_var('soft_time_limit')} ({self.soft_time_limit}), so a slow document "
                "can fail cleanly before its worker process is killed"
            )
        if 0 < self.visibility_timeout <= self.hard_time_limit:
            raise SettingsError(
                f"{self.env_var('visibility_timeout')} ({self.visibility_timeout}) must be greater "
                f"than {self.env_var('hard_time_limit')} ({self.hard_time_limit}), or documents still "
                "being processed are handed to a second worker"
            )

    @staticmethod
    def env_var(field_name: str) -> str:
        """The environment variable that sets ``field_name``."""
        return ENV_PREFIX + field_name.upper()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by any TALLYSCAN_* variables set in ``environ`` (os.environ)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = cls.env_var(f.name)
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(f.name, raw.strip())
        return cls(**values)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_archive_bytes(self) -> int:
        return int(self.max_archive_mb * 1024 * 1024)

    @property
    def data_path(self) -> str:
        return os.path.expanduser(self.data_dir)

    @property
    def store_url(self) -> str:
        """The store's SQLAlchemy URL: database_url, or a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return "sqlite:///" + os.path.join(self.data_path, "tallyscan.sqlite")

    @property
    def blob_dir(self) -> str:
        return os.path.expanduser(self.store_dir) if self.store_dir else os.path.join(self.data_path, "blobs")

    @property
    def broker_visibility_timeout(self) -> int:
        """Long enough that a document still running is never handed out twice."""
        return self.visibility_timeout or self.hard_time_limit + 60

    @classmethod
    def describe(cls) -> str:
        """One line per variable, for --help."""
        defaults = cls()

        def shown(v: Any) -> str:
            if v == "":
                return "empty"
            return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

        return "\n".join(
            f"  {cls.env_var(name):<32} {spec.help} (default {shown(getattr(defaults, name))})"
            for name, spec in _SPECS.items()
        )


def _parse(name: str, raw: str) -> Any:
    spec = _SPECS[name]
    var = Settings.env_var(name)
    if spec.kind is int:
        try:
            value: Any = int(raw.replace("_", ""))
        except ValueError:
            raise SettingsError(f"{var} must be a whole number, got {raw!r}") from None
    elif spec.kind is float:
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{var} must be a number, got {raw!r}") from None
    elif spec.text == "text":
        value = raw
    else:
        value = raw.lower()
    _check(name, value, env=True, raw=raw)
    return value


def _check(name: str, value: Any, *, env: bool, raw: str | None = None) -> None:
    spec = _SPECS[name]
    label = Settings.env_var(name) if env else f"Settings.{name} ({Settings.env_var(name)})"
    shown = repr(raw) if raw is not None else repr(value)
    if spec.kind is str:
        if isinstance(spec.text, tuple):
            if value not in spec.text:
                raise SettingsError(f"{label} must be one of {', '.join(spec.text)}, got {shown}")
        elif spec.text == "text":
            if not isinstance(value, str) or "\x00" in value:
                raise SettingsError(f"{label} must be text, got {shown}")
        elif not isinstance(value, str) or not _ENGINE_NAME.match(value):
            what = "an engine name such as 'rapidocr'" if name == "ocr_engine" else "a lower-case name"
            raise SettingsError(f"{label} must be {what}, got {shown}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"{label} must be a number, got {shown}")
    if spec.kind is int and not isinstance(value, int):
        raise SettingsError(f"{label} must be a whole number, got {shown}")
    if value != value or value in (float("inf"), float("-inf")):
        raise SettingsError(f"{label} must be a finite number, got {shown}")
    if spec.minimum is not None and value < spec.minimum:
        raise SettingsError(f"{label} must be at least {spec.minimum:g}, got {shown}")
    if spec.maximum is not None and value > spec.maximum:
        raise SettingsError(f"{label} must be at most {spec.maximum:g}, got {shown}")
