from __future__ import annotations

import csv
import json

import pytest

from tallyscan.export import (
    CELL_COLUMNS,
    DOCUMENT_COLUMNS,
    CellsWriter,
    format_bbox,
    format_number,
    json_names,
    read_csv,
    write_atomic,
    write_cells_csv,
    write_document_json,
    write_documents_csv,
)
from tallyscan.model import CanonicalCell, DocumentResult

BOM = b"\xef\xbb\xbf"


def cell(**kw) -> CanonicalCell:
    base = dict(section="三", row_path="一、本年新收政府信息公开申请数量", col_path="总计", value=12,
                raw_text="12", confidence=0.987654, status="ok", page=0,
                bbox=(100.04, 200.0, 150.55, 215.0), template="2021",
                alternatives=[[("1", 0.9), ("7", 0.1)], [("2", 1.0)]])
    base.update(kw)
    return CanonicalCell(**base)


def done(name="a.pdf", cells=None) -> DocumentResult:
    return DocumentResult(
        document=name, sha256="ab" * 32, status="done", agency="某某县人民政府办公室", year=2022,
        templates={"四": "any", "二": "2021", "三": "2019"}, pages=3,
        cells=cells if cells is not None else [
            cell(),
            cell(section="二", row_path="第二十条第（八）项/行政事业性收费", col_path="本年收费金额（单位：万元）",
                 value=1.25e-05, raw_text="0.0000125", confidence=0.5, status="low_confidence", page=2,
                 bbox=None),
            cell(value=None, raw_text="", status="missing", confidence=0.0, page=None, bbox=None),
            cell(value=3.0, raw_text="3.00", page=1, bbox=(-0.01, 0.0, 1.0, 2.0)),
        ],
        seconds=1.23456, timings={"rasterise": 0.1, "layout": 0.2, "ocr": 0.3, "snap": 0.01},
    )


def failed(name="bad.pdf") -> DocumentResult:
    return DocumentResult(document=name, sha256="cd" * 32, status="failed", error_code="corrupt_document",
                          error_message=f"{name}: the file is damaged, \"quoted\", with a comma")


def test_cells_csv_bom_columns_and_formats(tmp_path):
    path = write_cells_csv(tmp_path / "cells.csv", [done(), failed()])
    raw = path.read_bytes()
    assert raw.startswith(BOM)
    assert raw[3:].decode("utf-8").splitlines()[0] == ",".join(CELL_COLUMNS)
    rows = read_csv(path)
    assert list(rows[0]) == list(CELL_COLUMNS)
    assert len(rows) == 4  # failed document: no rows
    r0, r1, r2, r3 = rows
    assert r0["document"] == "a.pdf" and r0["agency"] == "某某县人民政府办公室" and r0["year"] == "2022"
    assert (r0["value"], r0["confidence"], r0["page"], r0["bbox"]) == ("12", "0.9877", "1", "100.0,200.0,150.6,215.0")
    assert r0["template"] == "2021" and r0["section"] == "三" and r0["status"] == "ok"
    assert r1["value"] == "0.0000125" and "e" not in r1["value"]
    assert (r1["page"], r1["bbox"], r1["confidence"]) == ("3", "", "0.5")
    assert r2["value"] == "" and r2["page"] == "" and r2["status"] == "missing"
    assert r3["value"] == "3.0" and r3["bbox"] == "0.0,0.0,1.0,2.0"


def test_documents_csv(tmp_path):
    path = write_documents_csv(tmp_path / "documents.csv", [done(), failed()])
    assert path.read_bytes().startswith(BOM)
    rows = read_csv(path)
    assert list(rows[0]) == list(DOCUMENT_COLUMNS)
    ok, bad = rows
    assert ok["file"] == "a.pdf" and ok["templates"] == "二:2021 三:2019 四:any"
    assert (ok["pages"], ok["cells_found"], ok["cells_flagged"], ok["status"]) == ("3", "3", "2", "done")
    assert ok["error_code"] == "" and ok["seconds"] == "1.235"
    assert bad["status"] == "failed" and bad["error_code"] == "corrupt_document"
    assert bad["error_message"] == 'bad.pdf: the file is damaged, "quoted", with a comma'
    # Excel-style reading with the csv module and the BOM-aware codec gives the same
    with open(path, encoding="utf-8-sig", newline="") as fh:
        assert next(csv.reader(fh)) == list(DOCUMENT_COLUMNS)


def test_json_round_trip(tmp_path):
    r = done()
    path = write_document_json(tmp_path / "a.json", r)
    text = path.read_text(encoding="utf-8")
    assert "某某县人民政府办公室" in text  # ensure_ascii=False
    assert text.startswith("{\n \"document\"")  # indent=1
    data = json.loads(text)
    assert data == json.loads(json.dumps(r.to_json()))
    assert data["cells_found"] == 3 and data["cells_flagged"] == 2
    assert data["cells"][0]["alternatives"] == [[["1", 0.9], ["7", 0.1]], [["2", 1.0]]]
    back = DocumentResult(**{k: v for k, v in data.items() if k not in ("cells_found", "cells_flagged")})
    back.cells = [CanonicalCell(**c) for c in data["cells"]]
    assert back.cells[0].key == r.cells[0].key and back.cells[1].value == r.cells[1].value


def test_numpy_values_are_serialised(tmp_path):
    np = pytest.importorskip("numpy")
    r = done(cells=[cell(value=np.int64(5), confidence=np.float32(0.25))])
    data = json.loads(write_document_json(tmp_path / "n.json", r).read_text(encoding="utf-8"))
    assert data["cells"][0]["value"] == 5
    write_cells_csv(tmp_path / "c.csv", [r])
    assert read_csv(tmp_path / "c.csv")[0]["value"] == "5"


def test_format_number():
    assert format_number(None) == ""
    assert format_number(7) == "7"
    assert format_number(True) == "1"
    assert format_number(1e-7) == "0.0000001"
    assert format_number(1.5e16) == "15000000000000000"
    assert format_number(0.1 + 0.2) == "0.30000000000000004"
    assert format_number(float("nan")) == ""
    assert format_bbox((1.25, 2.0, -0.04, 3.96)) == "1.2,2.0,0.0,4.0"


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "documents.csv"
    target.write_text("old complete file")

    def boom(fh):
        fh.write("half a")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        write_atomic(target, boom)
    assert target.read_text() == "old complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["documents.csv"]  # no temp file left


def test_cells_writer_only_appears_on_commit(tmp_path):
    w = CellsWriter(tmp_path / "cells.csv")
    w.add(done())
    assert not (tmp_path / "cells.csv").exists()
    w.commit()
    assert len(read_csv(tmp_path / "cells.csv")) == 4
    w2 = CellsWriter(tmp_path / "other.csv")
    w2.add(done())
    w2.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.csv"]


def test_written_files_have_normal_permissions(tmp_path):
    path = write_documents_csv(tmp_path / "documents.csv", [done()])
    assert path.stat().st_mode & 0o044  # readable by others, as a plain open() would make it (umask)


def test_json_names_unique():
    names = json_names([("report", "aaaaaaaa11"), ("Report", "bbbbbbbb22"), ("other", "cc"),
                        ("cells", "dd"), ("a/b", "ee")])
    assert names == ["report-aaaaaaaa.json", "Report-bbbbbbbb.json", "other.json", "cells-2.json", "a_b.json"]
    assert json_names([("x", "same1234"), ("x", "same1234")]) == ["x-same1234.json", "x-same1234-2.json"]
