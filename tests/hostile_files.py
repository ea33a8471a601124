"""Builders of hostile files shared by the pipeline's and the service's bad-input tests."""

from __future__ import annotations

import io
import zipfile

import pymupdf


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A ZIP archive of ``members`` (name -> bytes), names kept as given."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zero_page_pdf() -> bytes:
    """A well-formed PDF whose page tree is empty (PyMuPDF refuses to save one)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def javascript_pdf(pdf: bytes) -> bytes:
    """``pdf`` with a JavaScript open action and a JavaScript name-tree entry."""
    doc = pymupdf.open(stream=pdf)
    cat = doc.pdf_catalog()
    js = doc.get_new_xref()
    doc.update_object(js, "<< /S /JavaScript /JS (app.alert\\('pwned'\\); "
                          "this.exportDataObject\\({cName: 'x'}\\);) >>")
    doc.xref_set_key(cat, "OpenAction", f"{js} 0 R")
    doc.xref_set_key(cat, "Names", f"<< /JavaScript << /Names [(a) {js} 0 R] >> >>")
    return doc.tobytes()
