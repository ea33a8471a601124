"""Hostile inputs submitted in one batch through real Redis, PostgreSQL and a Celery worker:
each ends failed with a clear error naming the file (a PDF with JavaScript is refused as
active_content), no worker process dies, and the good documents of the batch complete."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import pymupdf
from hostile_files import javascript_pdf, zero_page_pdf, zip_bytes

from tallyscan.synth import make_report


def _pdf(text: str = "just some text", pages: int = 1, size=(595, 842)) -> bytes:
    doc = pymupdf.open()
    for _ in range(pages):
        page = doc.new_page(width=size[0], height=size[1])
        page.insert_text((72, 72), text, fontsize=12)
    return doc.tobytes(garbage=3, deflate=True)


def _png(w: int = 200, h: int = 100) -> bytes:
    pix = pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, w, h), False)
    pix.clear_with(255)
    return pix.tobytes("png")


def corrupted_xref_pdf() -> bytes:
    """Both the xref offsets and the page tree are wrong."""
    data = _pdf()
    i = data.rindex(b"startxref")
    data = data[:i] + b"startxref\n999999\n%%EOF\n"
    return data.replace(b"/Type /Pages", b"/Type /Junk").replace(b"/Type/Pages", b"/Type/Junk")


def stream_bomb_pdf(megabytes: int = 150) -> bytes:
    """A page whose content stream inflates from ~150 KB to 150 MB."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 72), "bomb", fontsize=12)
    xref = page.get_contents()[0]
    packer = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    body = packer.compress(b"q Q\n") + b"".join(packer.compress(chunk) for _ in range(megabytes))
    doc.update_stream(xref, body + packer.flush(), compress=False)
    doc.xref_set_key(xref, "Filter", "/FlateDecode")
    return doc.tobytes()


def huge_image_pdf(w: int = 40000, h: int = 40000) -> bytes:
    """A page with one image XObject that claims w x h pixels (1.6 gigapixels)."""
    doc = pymupdf.open()
    page = doc.new_page(width=200, height=200)
    page.insert_image(page.rect, stream=_png(20, 20))
    xref = page.get_images(full=True)[0][0]
    doc.update_stream(xref, zlib.compress(b"\x00" * 1000), compress=False)
    for key, value in (("Width", str(w)), ("Height", str(h)), ("ColorSpace", "/DeviceGray"),
                       ("Filter", "/FlateDecode"), ("DecodeParms", "null"), ("SMask", "null")):
        doc.xref_set_key(xref, key, value)
    return doc.tobytes()


def zip_bomb(megabytes: int) -> bytes:
    """One member of zeros, declared and real size ``megabytes`` MB (~1000:1)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("report.pdf", "w", force_zip64=True) as member:
        member.write(b"%PDF-1.7\n")
        zeros = b"\x00" * (1 << 20)
        for _ in range(megabytes):
            member.write(zeros)
    return buf.getvalue()


# name -> (bytes, how it must end: error code, or "done")
def hostile_inputs() -> dict[str, tuple[bytes, str]]:
    report = make_report(300)[0]
    return {
        "empty.pdf": (b"", "empty_file"),
        "notes.pdf": (b"Minutes of the meeting, not a PDF at all\n" * 20, "unsupported_format"),
        "photo.pdf": (_png(), "no_table_found"),  # a PNG named .pdf is read as an image
        "truncated.pdf": (report[: len(report) // 2], "corrupt_document"),
        "bad-xref.pdf": (corrupted_xref_pdf(), "corrupt_document|no_pages|no_table_found"),
        "locked.pdf": (pymupdf.open(stream=report).tobytes(
            encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="o"), "encrypted"),
        "no-pages.pdf": (zero_page_pdf(), "no_pages"),
        "giant-page.pdf": (_pdf(size=(20000, 20000)), "page_too_large"),
        "stream-bomb.pdf": (stream_bomb_pdf(), "no_table_found"),
        "huge-image.pdf": (huge_image_pdf(), "page_too_large"),
        "javascript.pdf": (javascript_pdf(report), "active_content"),  # refused by default
        "traversal.zip": (zip_bytes({"../../etc/cron.d/evil.pdf": report, "ok.pdf": report}),
                          "unsafe_archive"),
        "zip-bomb.zip": (zip_bomb(64), "unsafe_archive"),
        "3000-pages.pdf": (_pdf(pages=3000), "too_many_pages"),
    }


def test_hostile_inputs_fail_cleanly_and_the_batch_completes(service, synth_reports, tmp_path):
    service.set_env(TALLYSCAN_MAX_ARCHIVE_MB="32")  # the 64 MB zip bomb is over it
    folder = tmp_path / "in"
    good = synth_reports(2, start=310, into=folder)
    expected = {}
    for name, (data, outcome) in hostile_inputs().items():
        (folder / name).write_bytes(data)
        expected[str(folder / name)] = outcome
    worker = service.start_worker(concurrency=2)
    batch = service.submit(str(folder))

    counts = service.wait_finished(batch, len(expected) + len(good), timeout=240)
    outcomes = {}
    for row in service.store.documents(batch):
        name = row.batch_name
        outcomes[name] = row.state if row.state == "done" else row.error_code
        assert row.crashes == 0, (name, "a hostile input killed its worker")
        if row.state == "failed":
            assert Path(name).name in row.error_message, row.error_message
            assert len(row.error_message) > len(name) + 20, row.error_message  # says why
    for name, outcome in expected.items():
        assert outcomes[name] in outcome.split("|"), (name, outcomes[name])
    for path in good:
        assert outcomes[str(path)] == "done"
    assert counts["done"] == 2 and counts["failed"] == len(expected)
    assert "WorkerLostError" not in worker.output()
