"""Snapping rows onto the template: label floors for unruled tables, the year's
format prior, and section 四's data row."""

from __future__ import annotations

from tallyscan.model import Cell, Reading, Table
from tallyscan.postprocess import snap


def test_align_floor_drops_weak_matches_only_where_asked():
    observed = ["2.重", "2.重复申请"]
    canonical = ["1.信访举报投诉类申请", "2.重复申请"]
    pairs, _ = snap.align(observed[:1], canonical)
    assert pairs == {1: 0}  # a three-character prefix is enough in a ruled table
    pairs, _ = snap.align(observed[:1], canonical, floors=[0.97])
    assert pairs == {}
    pairs, _ = snap.align(observed[1:], canonical, floors=[0.97])
    assert pairs == {1: 0}


def test_version_for_year():
    assert snap.version_for_year(2020) == "2019"
    assert snap.version_for_year(2021) == "2021"
    assert snap.version_for_year(None) is None


def test_title_match():
    assert snap.title_match("丰城市医疗保障局2022年政府信息公开")
    assert not snap.title_match("丰城市医疗保障局")


def _row_table(rows: list[list[str]]) -> Table:
    n_cols = max(len(r) for r in rows)
    cells = []
    for r, texts in enumerate(rows):
        for c, text in enumerate(texts):
            cells.append(Cell(row=r, col=c, bbox=(c * 10.0, r * 10.0, c * 10.0 + 10, r * 10.0 + 10),
                              reading=Reading.exact(text)))
    return Table(page=0, bbox=(0, 0, n_cols * 10.0, len(rows) * 10.0),
                 row_edges=[r * 10.0 for r in range(len(rows) + 1)],
                 col_edges=[c * 10.0 for c in range(n_cols + 1)], cells=cells)


def test_section_4_takes_the_row_with_most_printed_numbers():
    data = [str(v) for v in range(1, 16)]
    empty_below = [""] * 14 + ["—"]  # cut off a broken rule under the data row
    out = snap.snap_section_四([_row_table([data, empty_below])])
    assert [c.value for c in out] == list(range(1, 16))


def _section_3_table(value_cols: int, span_at: int | None = None) -> Table:
    """Section 三's 2021 rows, one label column and ``value_cols`` value columns
    of 0; with ``span_at``, each row's value cell there spans two grid columns
    (a stray stroke made a column the values do not have)."""
    from tallyscan.postprocess.template_data import templates

    rows = templates()["三"]["2021"]["rows"]
    n_cols = 1 + value_cols
    cells = []
    for r, path in enumerate(rows):
        cells.append(Cell(row=r, col=0, bbox=(0, r * 10.0, 10, r * 10.0 + 10),
                          reading=Reading.exact(path.split("/")[-1])))
        c = 1
        while c < n_cols:
            span = 2 if c == span_at else 1
            cells.append(Cell(row=r, col=c, bbox=(c * 10.0, r * 10.0, (c + span) * 10.0, r * 10.0 + 10),
                              col_span=span, reading=Reading.exact("0")))
            c += span
    return Table(page=0, bbox=(0, 0, n_cols * 10.0, len(rows) * 10.0),
                 row_edges=[r * 10.0 for r in range(len(rows) + 1)],
                 col_edges=[c * 10.0 for c in range(n_cols + 1)], cells=cells)


def test_section_3_values_of_a_regular_grid_are_ruled():
    out, _ = snap.snap_section_三([_section_3_table(7)])
    assert {c.placement for c in out} == {"ruled"} and {c.value for c in out} == {0}


def test_section_3_values_of_a_grid_with_a_column_too_many_are_irregular():
    """A value cell spanning two columns: every value of the table may sit one
    column off, and the row and column sums cannot see a shift alike in all rows."""
    out, _ = snap.snap_section_三([_section_3_table(8, span_at=3)])
    assert {c.placement for c in out if c.status != "missing"} == {"irregular"}


def test_section_2_rows_without_a_legible_heading_join_the_block_their_labels_name():
    """A table continued on the next page (or under a heading the scan broke)
    starts without its 第二十条第（六）项 heading: 行政处罚 and 行政强制 still
    belong to block (六), 行政事业性收费 to block (八)."""
    t = _row_table([["行政处罚", "3"], ["行政强制", "1"], ["第二十", ""], ["行政事业性收费", "2.5"]])
    out, _ = snap.snap_section_二([t], prior="2021")
    got = {(c.row_path, c.col_path): c.value for c in out if c.status != "missing"}
    assert got == {
        ("第二十条第（六）项/行政处罚", "本年处理决定数量"): 3,
        ("第二十条第（六）项/行政强制", "本年处理决定数量"): 1,
        ("第二十条第（八）项/行政事业性收费", "本年收费金额（单位：万元）"): 2.5,
    }
