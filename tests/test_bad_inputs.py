"""Fault injection: every kind of bad input fails cleanly, names the file, says what
to do, and leaves no partial output for that document."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pymupdf
import pytest
from hostile_files import javascript_pdf, zero_page_pdf

from tallyscan.cli import main
from tallyscan.exceptions import EngineUnavailable, ExitCode
from tallyscan.export import read_csv
from tallyscan.ingest import Source, expand_inputs
from tallyscan.model import DocumentResult
from tallyscan.pipeline import extract_document, extract_many
from tallyscan.settings import Settings

# --------------------------------------------------------------------------- #
# Builders


def huge_png_header(w: int, h: int) -> bytes:
    """A PNG that claims w x h pixels (a decompression bomb's header) with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")


def pdf_with_huge_image(w: int = 40000, h: int = 40000) -> bytes:
    """A page drawing one image XObject that claims w x h pixels (1.6 G for the default)."""
    doc = pymupdf.open()
    page = doc.new_page(width=200, height=200)
    page.insert_image(page.rect, stream=_png(20, 20))
    xref = page.get_images(full=True)[0][0]
    data = zlib.compress(b"\x00" * 1000)
    doc.update_stream(xref, data, compress=False)
    doc.xref_set_key(xref, "Width", str(w))
    doc.xref_set_key(xref, "Height", str(h))
    doc.xref_set_key(xref, "ColorSpace", "/DeviceGray")
    doc.xref_set_key(xref, "Filter", "/FlateDecode")
    doc.xref_set_key(xref, "DecodeParms", "null")
    doc.xref_set_key(xref, "SMask", "null")
    return doc.tobytes()


def encrypted_pdf(pdf: bytes) -> bytes:
    doc = pymupdf.open(stream=pdf)
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")


def broken_xref(pdf: bytes) -> bytes:
    i = pdf.rindex(b"startxref")
    return pdf[:i] + b"startxref\n999999\n%%EOF\n"


def _png(w: int, h: int) -> bytes:
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".png", np.full((h, w), 255, np.uint8))
    return buf.tobytes()


def _tiff_frames(n: int) -> bytes:
    from PIL import Image

    frames = [Image.new("L", (20, 20), 255) for _ in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def run_one(path, settings: Settings | None = None) -> DocumentResult:
    settings = settings or Settings()
    (src,) = expand_inputs([path], settings)
    return extract_document(src, settings)


def assert_failed(result: DocumentResult, code: str, name: str, *words: str) -> None:
    assert result.status == "failed", result
    assert result.error_code == code, (result.error_code, result.error_message)
    assert name in result.error_message
    for w in words:
        assert w in result.error_message, result.error_message
    assert result.cells == [] and result.agency is None and result.templates == {}


# --------------------------------------------------------------------------- #
# One document at a time


def test_good_document_with_fake_stages(tmp_path, mk, fake_stages):
    r = run_one(mk.write(tmp_path / "good.pdf", mk.pdf()))
    assert r.status == "done", r.error_message
    assert len(r.cells) == 2 and r.agency and r.year == 2023 and r.pages == 1
    assert set(r.timings) == {"rasterise", "layout", "ocr", "snap", "repair"}
    assert fake_stages.text_pages == [0]


def test_scanned_document_goes_through_page_image(tmp_path, mk, fake_stages):
    import cv2
    import numpy as np

    img = np.full((400, 300, 3), 255, np.uint8)
    doc = pymupdf.open()
    page = doc.new_page(width=300 * 72 / 150, height=400 * 72 / 150)
    page.insert_image(page.rect, stream=cv2.imencode(".jpg", img)[1].tobytes())
    r = run_one(mk.write(tmp_path / "scan.pdf", doc.tobytes()))
    assert_failed(r, "no_table_found", "scan.pdf")  # blank scan: the snapper finds nothing
    assert fake_stages.scan_images == [((400, 300, 3), pytest.approx(150, abs=0.01))]


def test_zero_byte_file(tmp_path, fake_stages):
    p = tmp_path / "empty.pdf"
    p.write_bytes(b"")
    assert_failed(run_one(p), "empty_file", "empty.pdf", "re-download")
    # and when the Source did not know (file emptied after listing)
    src = Source(name=str(p), path=str(p), kind="pdf", sha256="")
    assert_failed(extract_document(src, Settings()), "empty_file", "empty.pdf")


def test_text_file_named_pdf(tmp_path, fake_stages):
    p = tmp_path / "report.pdf"
    p.write_text("Dear colleague, the report follows next week.\n", encoding="utf-8")
    r = run_one(p)
    assert_failed(r, "unsupported_format", "report.pdf", "PDF", "text")


def test_png_named_pdf_is_processed_as_an_image(tmp_path, mk, fake_stages):
    r = run_one(mk.write(tmp_path / "photo.pdf", mk.png(200, 100)))
    assert r.status == "done" or r.error_code == "no_table_found", r
    assert fake_stages.scan_images and fake_stages.scan_images[0][0][:2] == (100, 200)


def test_truncated_pdf(tmp_path, mk, fake_stages):
    data = mk.pdf(pages=3)
    r = run_one(mk.write(tmp_path / "cut.pdf", data[: len(data) // 2]))
    assert_failed(r, "corrupt_document", "cut.pdf", "damaged", "re-download or re-scan")


def test_garbage_after_pdf_header(tmp_path, mk, fake_stages):
    r = run_one(mk.write(tmp_path / "noise.pdf", b"%PDF-1.7\n" + os.urandom(3000)))
    assert_failed(r, "corrupt_document", "noise.pdf", "damaged")


def test_broken_xref_is_repaired_or_fails_cleanly(tmp_path, mk, fake_stages):
    r = run_one(mk.write(tmp_path / "xref.pdf", broken_xref(mk.pdf())))
    assert r.status == "done" or r.error_code == "corrupt_document", r


def test_broken_xref_and_missing_objects(tmp_path, mk, fake_stages):
    data = broken_xref(mk.pdf()).replace(b"/Type /Pages", b"/Type /Junk").replace(b"/Type/Pages", b"/Type/Junk")
    r = run_one(mk.write(tmp_path / "xref2.pdf", data))
    assert r.status == "done" or r.error_code in ("corrupt_document", "no_pages"), r
    if r.status != "done":
        assert "xref2.pdf" in r.error_message


def test_user_password_pdf(tmp_path, mk, fake_stages):
    r = run_one(mk.write(tmp_path / "locked.pdf", encrypted_pdf(mk.pdf())))
    assert_failed(r, "encrypted", "locked.pdf", "password")


def test_owner_password_only_pdf_is_processed(tmp_path, mk, fake_stages):
    doc = pymupdf.open(stream=mk.pdf())
    data = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", permissions=0)
    assert run_one(mk.write(tmp_path / "perm.pdf", data)).status == "done"


def test_zero_pages(tmp_path, mk, fake_stages):
    r = run_one(mk.write(tmp_path / "nopages.pdf", zero_page_pdf()))
    assert_failed(r, "no_pages", "nopages.pdf")


def test_giant_page(tmp_path, mk, fake_stages):
    r = run_one(mk.write(tmp_path / "giant.pdf", mk.pdf(size=(20000, 20000))))
    assert_failed(r, "page_too_large", "giant.pdf", "TALLYSCAN_MAX_PAGE_PT")


def test_decompression_bomb_png(tmp_path, mk, fake_stages):
    r = run_one(mk.write(tmp_path / "bomb.png", huge_png_header(60000, 60000)))
    assert_failed(r, "page_too_large", "bomb.png")
    r = run_one(mk.write(tmp_path / "big.png", mk.png(300, 300)), Settings(max_image_pixels=10_000))
    assert_failed(r, "page_too_large", "big.png", "TALLYSCAN_MAX_IMAGE_PIXELS")


def test_decompression_bomb_inside_pdf(tmp_path, mk, fake_stages):
    r = run_one(mk.write(tmp_path / "bomb.pdf", pdf_with_huge_image()))
    assert_failed(r, "page_too_large", "bomb.pdf", "megapixels")


def test_pdf_with_javascript_is_refused_unless_allowed(tmp_path, mk, fake_stages):
    path = mk.write(tmp_path / "js.pdf", javascript_pdf(mk.pdf()))
    assert_failed(run_one(path), "active_content", "js.pdf", "JavaScript",
                  "TALLYSCAN_ALLOW_JAVASCRIPT=1")
    r = run_one(path, Settings(allow_javascript=1))  # read, and the script never runs
    assert r.status == "done", r.error_message
    assert run_one(mk.write(tmp_path / "plain.pdf", mk.pdf())).status == "done"


def test_too_many_pages(tmp_path, mk, fake_stages):
    r = run_one(mk.write(tmp_path / "long.pdf", mk.pdf(pages=5)), Settings(max_pages=3))
    assert_failed(r, "too_many_pages", "long.pdf", "TALLYSCAN_MAX_PAGES=5")
    r = run_one(mk.write(tmp_path / "long.tif", _tiff_frames(5)), Settings(max_pages=3))
    assert_failed(r, "too_many_pages", "long.tif", "TALLYSCAN_MAX_PAGES")


def test_truncated_png(tmp_path, mk, fake_stages):
    data = mk.png(300, 300)
    r = run_one(mk.write(tmp_path / "cut.png", data[: len(data) // 2]))
    assert_failed(r, "corrupt_document", "cut.png", "damaged")


def test_unsafe_archive_member_fails_the_archive(tmp_path, mk, fake_stages):
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok.pdf", mk.pdf())
        zf.writestr(zipfile.ZipInfo("../../escape.pdf"), mk.pdf())
    r = run_one(mk.write(tmp_path / "evil.zip", buf.getvalue()))
    assert_failed(r, "unsafe_archive", "evil.zip", "../../escape.pdf")


def test_stage_bug_is_an_internal_error(tmp_path, mk, fake_stages, monkeypatch, caplog):
    import sys

    def broken(pages):
        raise ValueError("index out of range in snapper")

    monkeypatch.setattr(sys.modules["tallyscan.postprocess.snap"], "snap_document", broken)
    r = run_one(mk.write(tmp_path / "bug.pdf", mk.pdf()))
    assert_failed(r, "internal_error", "bug.pdf", "ValueError", "index out of range")
    assert "Traceback" in caplog.text or any(rec.exc_info for rec in caplog.records)


def test_engine_unavailable(tmp_path, mk, fake_stages, monkeypatch):
    import sys

    def no_engine(name, threads=1):
        raise EngineUnavailable(f"unknown OCR engine {name!r}")

    monkeypatch.setattr(sys.modules["tallyscan.ocr"], "get_engine", no_engine)
    r = run_one(mk.write(tmp_path / "s.png", mk.png()))
    assert_failed(r, "engine_unavailable", "s.png")


# --------------------------------------------------------------------------- #
# Through the CLI: no partial output for a failed document


BAD = {
    "empty.pdf": lambda mk: b"",
    "text.pdf": lambda mk: b"not a pdf\n",
    "cut.pdf": lambda mk: mk.pdf(pages=3)[:600],
    "locked.pdf": lambda mk: encrypted_pdf(mk.pdf()),
    "nopages.pdf": lambda mk: zero_page_pdf(),
    "giant.pdf": lambda mk: mk.pdf(size=(20000, 20000)),
    "bomb.png": lambda mk: huge_png_header(60000, 60000),
}


def test_cli_batch_of_bad_inputs_leaves_no_partial_output(tmp_path, mk, fake_stages, capsys):
    inputs = tmp_path / "in"
    for name, make in BAD.items():
        mk.write(inputs / name, make(mk))
    mk.write(inputs / "good.pdf", mk.pdf())
    out = tmp_path / "out"
    code = main(["extract", str(inputs), "--out", str(out), "--jobs", "1", "--quiet"])
    assert code == ExitCode.some_documents_failed
    docs = {os.path.basename(r["file"]): r for r in read_csv(out / "documents.csv")}
    assert set(docs) == set(BAD) | {"good.pdf"}
    for name in BAD:
        row = docs[name]
        assert row["status"] == "failed" and row["error_code"] and name in row["error_message"]
        assert row["cells_found"] == "0"
    cells = read_csv(out / "cells.csv")
    assert {os.path.basename(r["document"]) for r in cells} == {"good.pdf"}
    assert sorted(p.name for p in out.iterdir()) == ["cells.csv", "documents.csv", "good.json"]
    err = capsys.readouterr().err
    assert "failed: " in err and "locked.pdf" in err


# --------------------------------------------------------------------------- #
# A worker process that dies fails only its own document


def crashing_worker(source: Source, settings: Settings) -> DocumentResult:
    """Top-level so spawned workers can import it: dies hard on a 'crash' document."""
    import time

    if "crash" in source.name:
        time.sleep(0.2)  # let the neighbours get going in the other worker
        os._exit(7)
    time.sleep(0.05)
    return DocumentResult(document=source.name, sha256=source.sha256, status="done", pages=1)


@pytest.mark.slow
def test_worker_crash_fails_only_its_document():
    sources = [Source(name=f"doc{i}.pdf", path="/nonexistent", kind="pdf", sha256=str(i)) for i in range(5)]
    sources.insert(2, Source(name="crash.pdf", path="/nonexistent", kind="pdf", sha256="x"))
    seen = []
    results = list(extract_many(sources, Settings(), jobs=2, progress=seen.append, worker=crashing_worker,
                                max_tasks_per_child=2))
    assert len(results) == len(sources) == len(seen)
    by_name = {r.document: r for r in results}
    assert set(by_name) == {s.name for s in sources}
    crash = by_name.pop("crash.pdf")
    assert crash.status == "failed" and crash.error_code == "internal_error"
    assert "worker process died" in crash.error_message and "crash.pdf" in crash.error_message
    assert all(r.status == "done" for r in by_name.values())


def test_jobs_1_runs_in_process_in_order(tmp_path, mk, fake_stages):
    paths = [mk.write(tmp_path / f"{n}.pdf", mk.pdf()) for n in ("b", "a", "c")]
    srcs = expand_inputs(paths, Settings())
    results = list(extract_many(srcs, Settings(), jobs=1))
    assert [os.path.basename(r.document) for r in results] == ["b.pdf", "a.pdf", "c.pdf"]
    assert all(r.status == "done" for r in results)


def test_mupdf_data_error_in_a_stage_is_a_corrupt_document(tmp_path, mk, fake_stages, monkeypatch):
    import sys

    def bad_read(page, index):
        raise pymupdf.mupdf.FzErrorFormat("syntax error in content stream")

    monkeypatch.setattr(sys.modules["tallyscan.layout.textlayer"], "read_page", bad_read)
    r = run_one(mk.write(tmp_path / "stream.pdf", mk.pdf()))
    assert_failed(r, "corrupt_document", "stream.pdf", "damaged")


def test_a_document_over_the_time_limit_fails_as_timeout(tmp_path, mk, fake_stages, monkeypatch):
    import dataclasses
    import sys
    import time as _time

    from tallyscan.pipeline import extract_many

    def slow(pages):
        _time.sleep(5)
        raise AssertionError("the time limit should have stopped this")

    monkeypatch.setattr(sys.modules["tallyscan.postprocess.snap"], "snap_document", slow)
    settings = dataclasses.replace(Settings(), soft_time_limit=1, hard_time_limit=2)
    srcs = expand_inputs([mk.write(tmp_path / "slow.pdf", mk.pdf())], settings)
    t0 = _time.perf_counter()
    (r,) = list(extract_many(srcs, settings, jobs=1))
    assert _time.perf_counter() - t0 < 4
    assert_failed(r, "timeout", "slow.pdf", "time limit", "TALLYSCAN_SOFT_TIME_LIMIT")
