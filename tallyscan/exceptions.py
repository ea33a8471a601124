"""One error hierarchy for the whole library, each class with a stable code.

Library code raises these; only the CLI and the worker task map them to exit
codes and per-document statuses. The ``code`` strings and ``exit_code`` numbers
are part of the public interface (they appear in documents.csv and in scripts
that call the CLI): never renumber them, only add.
"""

from __future__ import annotations


class ExitCode:
    ok = 0
    bad_arguments = 2
    some_documents_failed = 3
    all_documents_failed = 4
    engine_unavailable = 5
    internal_error = 15
    service_unavailable = 75  # the store or the broker cannot be reached (EX_TEMPFAIL)


class TallyscanError(Exception):
    """Base of every error tallyscan raises on purpose."""

    code = "error"
    exit_code = ExitCode.internal_error
    transient = False  # True only for errors a retry may cure (store/broker down)

    def __init__(self, message: str, *, document: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.document = document

    def __str__(self) -> str:
        return f"{self.document}: {self.message}" if self.document else self.message


class InputError(TallyscanError):
    """The document itself cannot be processed; retrying will not help."""

    code = "bad_input"
    exit_code = ExitCode.some_documents_failed


class UnsupportedFormat(InputError):
    code = "unsupported_format"


class EmptyFile(InputError):
    code = "empty_file"


class CorruptDocument(InputError):
    code = "corrupt_document"


class EncryptedDocument(InputError):
    code = "encrypted"


class NoPages(InputError):
    code = "no_pages"


class PageTooLarge(InputError):
    code = "page_too_large"


class TooManyPages(InputError):
    code = "too_many_pages"


class UnsafeArchive(InputError):
    code = "unsafe_archive"


class NoTableFound(InputError):
    code = "no_table_found"


class ActiveContent(InputError):
    """The PDF carries JavaScript: refused unless TALLYSCAN_ALLOW_JAVASCRIPT=1."""

    code = "active_content"


class EngineUnavailable(TallyscanError):
    """An OCR engine was asked for but cannot run here (not installed, no models)."""

    code = "engine_unavailable"
    exit_code = ExitCode.engine_unavailable


class TransientError(TallyscanError):
    """A service the pipeline depends on is briefly unavailable: retry later."""

    code = "transient"
    transient = True


class DocumentTimeout(TallyscanError):
    code = "timeout"
    exit_code = ExitCode.some_documents_failed
