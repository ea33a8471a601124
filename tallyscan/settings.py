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

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(f.name, getattr(self, f.name), env=False)

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

    @classmethod
    def describe(cls) -> str:
        """One line per variable, for --help."""
        defaults = cls()

        def shown(v: Any) -> str:
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
    else:
        value = raw.lower()
    _check(name, value, env=True, raw=raw)
    return value


def _check(name: str, value: Any, *, env: bool, raw: str | None = None) -> None:
    spec = _SPECS[name]
    label = Settings.env_var(name) if env else f"Settings.{name} ({Settings.env_var(name)})"
    shown = repr(raw) if raw is not None else repr(value)
    if spec.kind is str:
        if not isinstance(value, str) or not _ENGINE_NAME.match(value):
            raise SettingsError(f"{label} must be an engine name such as 'rapidocr', got {shown}")
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
