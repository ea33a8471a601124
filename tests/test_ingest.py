from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from tallyscan.ingest import Source, expand_inputs, load_bytes, sniff, unsafe_member_name
from tallyscan.settings import Settings, SettingsError


@pytest.fixture
def settings():
    return Settings()


def names(sources):
    return [s.name.replace("\\", "/") for s in sources]


def test_directory_recursive_sorted_skips_hidden_and_unknown(tmp_path, settings, mk):
    root = tmp_path / "in"
    mk.write(root / "b.pdf", mk.pdf())
    mk.write(root / "a" / "z.png", mk.png())
    mk.write(root / "a" / "c.JPG", _jpeg())
    mk.write(root / "notes.txt", b"hello")
    mk.write(root / ".hidden.pdf", mk.pdf())
    mk.write(root / ".git" / "x.pdf", mk.pdf())
    mk.write(root / "a" / "deeper" / "d.tif", _tiff(2))
    sources = expand_inputs([root], settings)
    rel = [n.split("/in/", 1)[1] for n in names(sources)]
    assert rel == ["a/c.JPG", "a/deeper/d.tif", "a/z.png", "b.pdf"]
    kinds = {r: s.kind for r, s in zip(rel, sources, strict=True)}
    assert kinds == {"a/c.JPG": "image", "a/deeper/d.tif": "image", "a/z.png": "image", "b.pdf": "pdf"}
    assert all(not s.failed for s in sources)
    s = sources[-1]
    assert s.sha256 == hashlib.sha256((root / "b.pdf").read_bytes()).hexdigest()
    assert s.size == (root / "b.pdf").stat().st_size
    assert s.stem == "b"


def test_explicit_file_unknown_type_is_a_failed_source(tmp_path, settings, mk):
    txt = mk.write(tmp_path / "notes.txt", b"just some text\n")
    disguised = mk.write(tmp_path / "scan.dat", mk.png())
    sources = expand_inputs([txt, disguised], settings)
    assert [s.kind for s in sources] == ["unknown", "image"]
    assert sources[0].error_code == "unsupported_format"
    assert "looks like text" in sources[0].error_message
    assert sources[1].format == "png" and not sources[1].failed


def test_magic_bytes_not_extension(tmp_path, settings, mk):
    png_as_pdf = mk.write(tmp_path / "a.pdf", mk.png())
    text_as_pdf = mk.write(tmp_path / "b.pdf", b"%%this is not a pdf at all\n")
    jpeg_as_png = mk.write(tmp_path / "c.png", _jpeg())
    pdf_as_jpg = mk.write(tmp_path / "d.jpg", mk.pdf())
    a, b, c, d = expand_inputs([png_as_pdf, text_as_pdf, jpeg_as_png, pdf_as_jpg], settings)
    assert (a.kind, a.format) == ("image", "png")
    assert b.kind == "unknown" and b.error_code == "unsupported_format"
    assert (c.kind, c.format) == ("image", "jpeg")
    assert (d.kind, d.format) == ("pdf", "pdf")


def test_sniff():
    assert sniff(b"%PDF-1.7\n") == "pdf"
    assert sniff(b"\x00\x00junk%PDF-1.4") == "pdf"
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff(b"II*\x00") == sniff(b"MM\x00*") == "tiff"
    assert sniff(b"PK\x03\x04") == "zip"
    assert sniff(b"hello") is None
    assert sniff(b"") is None


def test_multipage_tiff_is_one_document(tmp_path, settings, mk):
    tif = mk.write(tmp_path / "scan.tiff", _tiff(3))
    (src,) = expand_inputs([tif], settings)
    assert (src.kind, src.format) == ("image", "tiff")
    assert load_bytes(src) == tif.read_bytes()


def test_empty_file(tmp_path, settings, mk):
    (src,) = expand_inputs([mk.write(tmp_path / "e.pdf", b"")], settings)
    assert src.error_code == "empty_file" and src.failed
    err = src.error()
    assert err.code == "empty_file" and "e.pdf" in str(err)


def test_file_too_large(tmp_path, mk):
    f = mk.write(tmp_path / "big.pdf", mk.pdf() + b"\n" * 5000)
    (src,) = expand_inputs([f], Settings(max_file_mb=0.001))
    assert src.error_code == "bad_input"
    assert "TALLYSCAN_MAX_FILE_MB" in src.error_message


def test_missing_path_raises(tmp_path, settings):
    with pytest.raises(FileNotFoundError):
        expand_inputs([tmp_path / "nope.pdf"], settings)


def test_duplicates_are_listed_once(tmp_path, settings, mk):
    f = mk.write(tmp_path / "a.pdf", mk.pdf())
    assert len(expand_inputs([f, f, tmp_path], settings)) == 1


def test_zip_members(tmp_path, settings, mk):
    pdf, png = mk.pdf(), mk.png()
    archive = mk.write(tmp_path / "batch.zip", mk.zip({
        "reports/a.pdf": pdf,
        "reports/b.png": png,
        "reports/readme.txt": b"ignored",
        "__MACOSX/reports/._a.pdf": b"junk",
        "reports/.DS_Store.pdf": b"junk",
        "inner.zip": mk.zip({"x.pdf": pdf}),
        "fake.pdf": b"plain text, not a pdf",
        "empty.pdf": b"",
    }))
    sources = expand_inputs([archive], settings)
    by_member = {s.member: s for s in sources}
    assert sorted(by_member) == ["empty.pdf", "fake.pdf", "inner.zip", "reports/a.pdf", "reports/b.png"]
    a = by_member["reports/a.pdf"]
    assert a.name.endswith("batch.zip!reports/a.pdf") and a.kind == "pdf" and not a.failed
    assert a.sha256 == hashlib.sha256(pdf).hexdigest()
    assert load_bytes(a) == pdf
    assert load_bytes(by_member["reports/b.png"]) == png
    assert by_member["inner.zip"].error_code == "unsupported_format"
    assert "inside a ZIP" in by_member["inner.zip"].error_message
    assert by_member["fake.pdf"].error_code == "unsupported_format"
    assert by_member["empty.pdf"].error_code == "empty_file"


def test_zip_in_directory_is_expanded(tmp_path, settings, mk):
    mk.write(tmp_path / "d" / "batch.zip", mk.zip({"a.pdf": mk.pdf()}))
    (src,) = expand_inputs([tmp_path / "d"], settings)
    assert src.member == "a.pdf" and src.kind == "pdf"


@pytest.mark.parametrize("evil", ["../../etc/evil.pdf", "/etc/evil.pdf", "a/../../evil.pdf", "C:\\evil.pdf"])
def test_zip_path_traversal_fails_the_archive(tmp_path, settings, evil, mk):
    archive = mk.write(tmp_path / "evil.zip", _zip_with_raw_name(evil, mk.pdf()))
    sources = expand_inputs([archive], settings)
    assert len(sources) == 1
    (src,) = sources
    assert src.error_code == "unsafe_archive" and src.failed
    assert "path traversal" in src.error_message
    assert src.name.endswith("evil.zip")
    assert not (tmp_path.parent / "evil.pdf").exists()


def test_unsafe_member_name():
    assert unsafe_member_name("a/b/c.pdf") is None
    assert unsafe_member_name("..hidden/c.pdf") is None
    assert unsafe_member_name("../c.pdf")
    assert unsafe_member_name("/abs.pdf")
    assert unsafe_member_name("D:/x.pdf")


def test_zip_bomb_fails_the_archive(tmp_path, mk):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("bomb.pdf", b"%PDF-1.4\n" + bytes(8 * 1024 * 1024))
    assert len(buf.getvalue()) < 100_000  # 8 MB of zeros squeeze into KBs
    archive = mk.write(tmp_path / "bomb.zip", buf.getvalue())
    (src,) = expand_inputs([archive], Settings(max_archive_mb=2))
    assert src.error_code == "unsafe_archive"
    assert "zip bomb" in src.error_message and "TALLYSCAN_MAX_ARCHIVE_MB" in src.error_message


def test_zip_member_count_cap(tmp_path, mk):
    archive = mk.write(tmp_path / "many.zip", mk.zip({f"f{i}.pdf": b"%PDF-1.4" for i in range(20)}))
    (src,) = expand_inputs([archive], Settings(max_archive_members=10))
    assert src.error_code == "unsafe_archive" and "TALLYSCAN_MAX_ARCHIVE_MEMBERS" in src.error_message


def test_corrupt_zip(tmp_path, settings, mk):
    archive = mk.write(tmp_path / "broken.zip", b"PK\x03\x04" + b"\x00" * 50)
    (src,) = expand_inputs([archive], settings)
    assert src.failed and src.error_code == "corrupt_document"


def test_source_json_round_trip(tmp_path, settings, mk):
    mk.write(tmp_path / "z.zip", mk.zip({"a.pdf": mk.pdf()}))
    for src in expand_inputs([tmp_path], settings):
        again = Source.from_json(json.loads(json.dumps(src.to_json())))
        assert again == src


def test_settings_from_env():
    s = Settings.from_env({"TALLYSCAN_MAX_PAGES": "7", "TALLYSCAN_OCR_ENGINE": "RapidOCR",
                           "TALLYSCAN_MAX_PAGE_PT": "100.5", "TALLYSCAN_RASTER_DPI": ""})
    assert (s.max_pages, s.ocr_engine, s.max_page_pt, s.raster_dpi) == (7, "rapidocr", 100.5, 200)
    for var, value in [("TALLYSCAN_MAX_PAGES", "ten"), ("TALLYSCAN_RASTER_DPI", "5"),
                       ("TALLYSCAN_OCR_THREADS", "0"), ("TALLYSCAN_MAX_FILE_MB", "nan"),
                       ("TALLYSCAN_OCR_ENGINE", "rm -rf")]:
        with pytest.raises(SettingsError, match=var):
            Settings.from_env({var: value})


# --------------------------------------------------------------------------- #


def _jpeg() -> bytes:
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".jpg", np.full((40, 60, 3), 200, np.uint8))
    return buf.tobytes()


def _tiff(frames: int) -> bytes:
    from PIL import Image

    imgs = [Image.new("L", (50, 70), color=40 * i) for i in range(frames)]
    buf = io.BytesIO()
    imgs[0].save(buf, format="TIFF", save_all=True, append_images=imgs[1:], dpi=(300, 300))
    return buf.getvalue()


def _zip_with_raw_name(name: str, pdf: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("good.pdf", pdf)
        zf.writestr(zipfile.ZipInfo(name), pdf)
    return buf.getvalue()


def test_zip_duplicate_member_names(tmp_path, settings, mk):
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("a.pdf", mk.pdf("one"))
            zf.writestr("a.pdf", mk.pdf("two"))
            zf.writestr("b.pdf", mk.pdf())
    sources = expand_inputs([mk.write(tmp_path / "dup.zip", buf.getvalue())], settings)
    assert [(s.member, s.error_code) for s in sources] == [("a.pdf", "unsafe_archive"), ("b.pdf", None)]
