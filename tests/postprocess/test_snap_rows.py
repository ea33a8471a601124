"""Snapping rows onto the template: label floors, unruled tables' rows placed by
order and values, the year's format prior, and section 四's data row."""

from __future__ import annotations

import pytest

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


def test_numbering_agreement():
    assert snap.numbering_agreement("4.元止", "4.无正当理由大量反复申请") == 1
    assert snap.numbering_agreement("3要", "3.要求提供公开出版物") == 1  # the point lost
    assert snap.numbering_agreement("4.元止", "5.要求行政机关确认或重新出具已获取信息") == -1
    assert snap.numbering_agreement("3.1地", "（七）总计") == -1
    assert snap.numbering_agreement("年度办", "1.属于国家秘密") == 0
    assert snap.numbering_agreement("14.2", "1.属于国家秘密") == 0  # not a sub-row number


def test_align_places_unreadable_rows_by_order_and_values():
    """Labels read as scraps: value rows take the template rows in order, a
    second line without values is passed over, and a blank row numbered like
    the template row it sits at takes that row (an all-zero row printed blank)."""
    canonical = ["1.信访举报投诉类申请", "2.重复申请", "3.要求提供公开出版物", "4.无正当理由大量反复申请"]
    observed = ["f不", "予处", "3要", "4.元止", "id"]
    gains = [1.0, 1.0, 1.0, snap.UNRULED_BLANK_ROW_GAIN, snap.UNRULED_BLANK_ROW_GAIN]
    floors = [snap.UNRULED_LABEL_FLOOR] * len(observed)
    pairs, _ = snap.align(observed, canonical, floors, gains)
    assert pairs == {0: 0, 1: 1, 2: 2, 3: 3}
    # The label's number puts the blank row where it belongs, not on the line after it.
    observed = ["f不", "id", "4.元止"]
    pairs, _ = snap.align(observed, canonical[:1] + canonical[3:], floors[:3],
                          [1.0, snap.UNRULED_BLANK_ROW_GAIN, snap.UNRULED_BLANK_ROW_GAIN])
    assert pairs == {0: 0, 1: 2}


def test_unruled_row_gain_wants_a_total_beside_another_value():
    def slots(*texts: str) -> list[Cell | None]:
        return [Cell(row=0, col=i, bbox=(0, 0, 1, 1), reading=Reading.exact(t)) for i, t in enumerate(texts)]

    assert snap.unruled_row_gain(slots("", "4", "", "", "", "", "4")) == snap.UNRULED_VALUE_ROW_GAIN
    assert snap.unruled_row_gain(slots("4", "", "", "", "", "", "")) == snap.UNRULED_SCRAP_ROW_GAIN
    assert snap.unruled_row_gain(slots("", "", "", "", "", "", "")) == snap.UNRULED_BLANK_ROW_GAIN


def _unruled_section_3(rows: list[tuple[str, list[str]]]) -> Table:
    """A text-aligned table: one label column, 7 value columns, '' for blank."""
    cells = []
    for r, (label, values) in enumerate(rows):
        for c, text in enumerate([label] + values):
            cells.append(Cell(row=r, col=c, bbox=(c * 10.0, r * 10.0, c * 10.0 + 10, r * 10.0 + 10),
                              reading=Reading.exact(text)))
    return Table(page=0, bbox=(0, 0, 80.0, len(rows) * 10.0),
                 row_edges=[r * 10.0 for r in range(len(rows) + 1)],
                 col_edges=[c * 10.0 for c in range(9)], cells=cells, unruled=True)


def test_section_3_unruled_rows_follow_the_template_order():
    """Every template row printed with values on its label's first line (the
    values are the row's index, in 自然人 and 总计); labels unreadable scraps;
    second lines of labels without values, one with a speck read as a digit
    beside no total; one all-zero row printed blank, numbered as printed."""
    from tallyscan.postprocess.template_data import templates

    paths = templates()["三"]["2021"]["rows"]
    zero_row = paths.index("三、本年度办理结果/（五）不予处理/4.无正当理由大量反复申请")
    rows: list[tuple[str, list[str]]] = [("申请", ["", "", "", "", "", "", ""])]  # header line
    for j, _path in enumerate(paths):
        if j == zero_row:
            rows.append(("4.元止", [""] * 7))
            rows.append(("申请", [""] * 7))
            continue
        rows.append(("口口", [str(j + 1), "", "", "", "", "", str(j + 1)]))
        if j % 4 == 1:
            rows.append(("情形", ["", "", "1" if j == 5 else "", "", "", "", ""]))
    out, version = snap.snap_section_三([_unruled_section_3(rows)], prior="2021")
    assert version == "2021"
    by_row = {(c.row_path, c.col_path): c for c in out}
    for j, path in enumerate(paths):
        want = 0 if j == zero_row else j + 1
        assert by_row[(path, "自然人")].value == want, path
        assert by_row[(path, "总计")].value == want, path
        assert by_row[(path, "法人或其他组织/科研机构")].value == 0, path
    assert {c.placement for c in out} == {"aligned"}


def test_a_number_cut_after_its_point_is_never_trusted():
    """"3086." for 3086.22: the recogniser is sure of what it saw, not of what was lost."""
    cut = Cell(row=0, col=1, bbox=(0, 0, 10, 10), reading=Reading.exact("3086."))
    whole = Cell(row=0, col=1, bbox=(0, 0, 10, 10), reading=Reading.exact("3086.22"))
    a = snap.make_cell("二", "x", "y", cut, 0, "2021", decimal=True)
    b = snap.make_cell("二", "x", "y", whole, 0, "2021", decimal=True)
    assert a.status == "low_confidence" and "separator" in a.reason
    assert b.status == "ok" and b.value == 3086.22


def test_a_count_read_with_a_point_keeps_its_digits_and_is_never_trusted():
    """"3.4" in a count cell: counts have no decimals, so the point is a speck
    and the value 34, but only the equations may confirm it."""
    dotted = Cell(row=0, col=1, bbox=(0, 0, 10, 10), reading=Reading.exact("3.4"))
    c = snap.make_cell("三", "x", "总计", dotted, 0, "2021")
    assert c.value == 34 and c.raw_text == "3.4"
    assert c.status == "low_confidence" and "speck" in c.reason
    amount = snap.make_cell("二", "x", "y", dotted, 0, "2021", decimal=True)
    assert amount.value == 3.4 and amount.status == "ok"


def test_digits_either_side_of_a_colon_are_never_trusted():
    """Held-out syn15016: 采购总金额 12.34 read "12:34" at 0.95 was a sure 12,
    and no sum checks section 二. Now the amount is 12.34, flagged."""
    split = Cell(row=0, col=1, bbox=(0, 0, 10, 10), reading=Reading.exact("12:34"))
    amount = snap.make_cell("二", "x", "y", split, 0, "2021", decimal=True)
    assert amount.value == 12.34 and amount.raw_text == "12:34"
    assert amount.status == "low_confidence" and "not a decimal point" in amount.reason


def _labelled_table(grid: list[tuple[str, list[Reading]]]) -> Table:
    """A section 三 grid: a label column and seven value columns; a row with a
    single value cell has it span all seven (申请人情况)."""
    cells = []
    for r, (label, values) in enumerate(grid):
        cells.append(Cell(row=r, col=0, bbox=(0, r * 10.0, 10, r * 10.0 + 10), reading=Reading.exact(label)))
        span = 7 if len(values) == 1 else 1
        for j, reading in enumerate(values):
            cells.append(Cell(row=r, col=1 + j, bbox=((1 + j) * 10.0, r * 10.0, (1 + j + span) * 10.0, r * 10.0 + 10),
                              col_span=span, reading=reading))
    return Table(page=0, bbox=(0, 0, 80, len(grid) * 10.0), row_edges=[r * 10.0 for r in range(len(grid) + 1)],
                 col_edges=[c * 10.0 for c in range(9)], cells=cells)


def test_section_3_rows_with_unreadable_labels_are_placed_by_order_under_a_header():
    """Row 一's label is unreadable and row 二's is read; above them is a header
    row (words in the value columns) and a heading spanning them, below（二）a
    wrapped label line with blank value cells in a report that prints its zeros.
    None of these is a value row, so 一 still takes its place by order."""
    from tallyscan.postprocess.template_data import templates

    rows = templates()["三"]["2021"]["rows"]
    labels = [p.split("/")[-1] for p in rows]
    labels[0] = "-4开中"  # unreadable
    grid: list[tuple[str, list[str]]] = [("", ["申请人情况"]), ("", ["自然人", "商业", "科研", "社会", "法律", "其他", "总计"])]
    for i, label in enumerate(labels):
        grid.append((label, ["0"] * 6 + [str(i)]))
        if label.startswith("（二）"):
            grid.append(("形）", [""] * 7))  # the wrapped rest of its label
    t = _labelled_table([(label, [Reading.exact(v) for v in values]) for label, values in grid])
    out, _ = snap.snap_section_三([t], prior="2021")
    totals = {c.row_path: c.value for c in out if c.col_path == "总计"}
    assert totals == {path: i for i, path in enumerate(rows)}


def test_section_2_a_row_whose_label_was_lost_does_not_take_its_neighbours_values():
    """行政处罚's label cell came out empty: 行政强制's row is the best match for
    both names, but only one of them may have it; the other is not a copy of
    行政强制's numbers passing as sure. (The unlabelled row just above 行政强制
    is where the template puts 行政处罚: it takes that row, flagged.)"""
    t = _row_table([["第二十条第（六）项", ""], ["信息内容", "上一年项目数量", "本年增/减", "处理决定数量"],
                    ["", "4", "3", "7"], ["行政强制", "6", "4", "1"]])
    out, _ = snap.snap_section_二([t], prior="2019")
    got = {c.row_path.split("/")[-1]: (c.value, c.status) for c in out
           if c.row_path.startswith("第二十条第（六）项") and c.col_path == "上一年项目数量"}
    assert got == {"行政强制": (6, "ok"), "行政处罚": (4, "low_confidence")}


def test_section_2_values_under_a_header_shifted_by_a_lost_column_are_not_trusted():
    """The grid lost the 上一年项目数量 column, header and values alike: three
    value cells still sit under three header cells, but the header reads
    本年…, 处理… where the template starts 上一年…; no sum would catch the
    shift, so the values are placed by position and flagged."""
    rows = [["第二十条第（五）项", ""], ["信息内容", "本年增/减", "处理决定数量", ""],
            ["行政许可", "-3", "1776", ""]]
    out, _ = snap.snap_section_二([_row_table(rows)], prior="2019")
    placed = [c for c in out if c.row_path == "第二十条第（五）项/行政许可" and c.status != "missing"]
    assert placed and all(c.status == "low_confidence" and c.reason for c in placed)
    # the same header in place vouches for its values
    rows = [["第二十条第（五）项", ""], ["信息内容", "上一年项目数量", "本年增/减", "处理决定数量"],
            ["行政许可", "5", "-3", "1776"]]
    out, _ = snap.snap_section_二([_row_table(rows)], prior="2019")
    got = {c.col_path: (c.value, c.status) for c in out if c.row_path == "第二十条第（五）项/行政许可"}
    assert got == {"上一年项目数量": (5, "ok"), "本年增/减": (-3, "ok"), "处理决定数量": (1776, "ok")}


def test_a_short_table_with_a_row_of_fifteen_numbers_is_section_4_whatever_its_headers_read():
    """A stray stroke split 行政复议's header cell: read by first characters,
    行 | 政复 | 行政 fit section 二's 行政许可 as well as 四's words."""
    headers = ["行", "政复", "行政", "", "", "", "", "", "", "", "", "", "", "", ""]
    subheads = ["结", "结", "其", "尚", "总", "未经", "", "", "", "", "复议", "", "", "", ""]
    t = _row_table([headers, subheads, [str(v) for v in range(15)]])
    assert snap.classify_table(t) == "四"
    # a section 三 table (eight numbers a row) is not taken for 四
    assert snap.classify_table(_section_3_table(7)) == "三"


def test_section_2_headings_read_from_their_item_number_name_their_blocks():
    """Headings are read without their 第二十条 (scan.HEADING_SKIP_CHARS); the
    item alone names the block, even when a speck after it reads as a digit
    (第（六)1 would otherwise pass for a row of numbers)."""
    assert snap.heading_item("第（六)1") == "六"
    assert snap.heading_item("(九)项") == "九"
    assert snap.heading_item("（一）予以公开") == "一"  # the pattern alone; only headings are read this way
    assert snap.heading_item("行政处罚") is None
    assert snap.heading_item("第（三）项") is None  # no such block in section 二
    rows = [["第（五)]", ""], ["信息内容", "上一年项目数量", "本年增/减", "处理决定数量"],
            ["行政许可", "5", "-3", "17"],
            ["第（六)1", ""], ["信息内容", "上一年项目数量", "本年增/减", "处理决定数量"],
            ["行政处罚", "2", "-2", "2"], ["行政强制", "3", "0", "52"]]
    out, _ = snap.snap_section_二([_row_table(rows)], prior="2019")
    got = {(c.row_path, c.col_path): c.value for c in out if c.status == "ok"}
    assert got[("第二十条第（六）项/行政处罚", "处理决定数量")] == 2
    assert got[("第二十条第（六）项/行政强制", "处理决定数量")] == 52
    assert got[("第二十条第（五）项/行政许可", "上一年项目数量")] == 5


def test_unread_column_headers_are_words_not_a_row_of_blank_values():
    """Section 三's column headers are left unread once its row labels show the
    table is 三's (scan.recognise_cells); a header row of unread cells must not
    count as a row of values, or rows below would be placed one off by order."""
    from tallyscan.postprocess.template_data import templates

    rows = templates()["三"]["2021"]["rows"]
    labels = [p.split("/")[-1] for p in rows]
    labels[0] = "-4开中"  # unreadable: placed by order alone
    grid: list[tuple[str, list[Reading]]] = [("", [Reading.not_read() for _ in range(7)])]
    for i, label in enumerate(labels):
        grid.append((label, [Reading.exact("1")] * 6 + [Reading.exact(str(i))]))
    out, _ = snap.snap_section_三([_labelled_table(grid)], prior="2021")
    totals = {c.row_path: c.value for c in out if c.col_path == "总计"}
    assert totals == {path: i for i, path in enumerate(rows)}


def test_section_4_headers_left_unread_are_not_its_data_row():
    headers = [Reading.not_read() for _ in range(15)]
    data = [Reading.exact(str(v)) for v in range(1, 16)]
    cells = [Cell(row=r, col=c, bbox=(c * 10.0, r * 10.0, c * 10.0 + 10, r * 10.0 + 10), reading=reading)
             for r, row in enumerate([data, headers]) for c, reading in enumerate(row)]
    t = Table(page=0, bbox=(0, 0, 150, 20), row_edges=[0.0, 10.0, 20.0],
              col_edges=[c * 10.0 for c in range(16)], cells=cells)
    assert snap.is_section_四_by_shape(t)
    assert [c.value for c in snap.snap_section_四([t])] == list(range(1, 16))


def test_section_4_in_a_table_of_fifteen_columns_keeps_the_cells_it_has_by_column():
    """A data row that lost cells (its first under a header cell running down
    into it, two run together by a broken rule) keeps the rest in their own
    columns; only the lost ones are missing."""
    values = [str(v) for v in range(1, 16)]
    cells = [Cell(row=0, col=0, bbox=(0, 0, 10, 20), row_span=2, reading=Reading.exact("结果维持"))]
    cells += [Cell(row=0, col=c, bbox=(c * 10.0, 0, c * 10.0 + 10, 10), reading=Reading.exact("结果"))
              for c in range(1, 15)]
    for c in range(1, 15):
        if c == 9:
            cells.append(Cell(row=1, col=8, bbox=(80.0, 10, 100.0, 20), col_span=2, reading=Reading.exact("9 10")))
        elif c != 8:
            cells.append(Cell(row=1, col=c, bbox=(c * 10.0, 10, c * 10.0 + 10, 20), reading=Reading.exact(values[c])))
    t = Table(page=0, bbox=(0, 0, 150, 20), row_edges=[0.0, 10.0, 20.0],
              col_edges=[c * 10.0 for c in range(16)], cells=cells)
    out = snap.snap_section_四([t])
    assert [c.value for c in out] == [None, *range(2, 9), None, None, *range(11, 16)]
    assert [c.status for c in out].count("missing") == 3
    # What is left of a row the grid failed in is placed, but not vouched for by it.
    assert {c.placement for c in out if c.status != "missing"} == {"irregular"}


def test_section_4_in_a_table_of_other_width_needs_its_fifteen_cells():
    data = [str(v) for v in range(1, 15)]  # fourteen columns: which one is lost is unknown
    out = snap.snap_section_四([_row_table([data])])
    assert all(c.status == "missing" for c in out)


def _data_row_with_sliver(at: int, text: str, width: float) -> Table:
    """Section 四's data row 1..15 in cells 10 wide, and a sixteenth cell
    ``width`` wide reading ``text`` before the ``at``-th value."""
    values = [str(v) for v in range(1, 16)]
    cells, x = [], 0.0
    for col, t in enumerate(values[:at] + [text] + values[at:]):
        w = width if col == at else 10.0
        cells.append(Cell(row=0, col=col, bbox=(x, 0, x + w, 10), reading=Reading.exact(t)))
        x += w
    return Table(page=0, bbox=(0, 0, x, 10), row_edges=[0.0, 10.0],
                 col_edges=[c.bbox[0] for c in cells] + [x], cells=cells)


def test_section_4_with_a_cell_to_spare_drops_the_blank_sliver_and_is_not_vouched_for():
    """Held-out syn09035: a stray edge cut a sixteenth cell, a blank sliver,
    out of the data row; taking the last fifteen placed every value of 行政诉讼
    one column off, and a 6 misread from a 0 was then called ok. The blank
    narrowest cell is the one to spare; the grid still contradicts the
    template, so nothing is vouched for by it."""
    out = snap.snap_section_四([_data_row_with_sliver(10, "", 3.0)])
    assert [c.value for c in out] == list(range(1, 16))
    assert {c.placement for c in out} == {"irregular"}


def test_section_4_with_a_cell_to_spare_drops_a_sliver_whatever_it_reads():
    """Held-out syn17013: the sliver a doubled rule cut off held a piece of
    the rule, read as a digit; dropping the first cell instead placed every
    value one column off. A cell far narrower than the row's others holds no
    column's value, whatever it reads."""
    out = snap.snap_section_四([_data_row_with_sliver(12, "1", 4.0)])
    assert [c.value for c in out] == list(range(1, 16))
    assert {c.placement for c in out} == {"irregular"}


def test_section_4_under_a_stray_header_edge_takes_its_fifteen_cells_in_order():
    """A seal's ring through the headers made a sixteenth column: the data row
    has fifteen cells, one of them two columns wide, and those are the values,
    in order; but on a grid that contradicts itself, none is vouched for."""
    headers = [Cell(row=0, col=c, bbox=(c * 10.0, 0, c * 10.0 + 10, 10), reading=Reading.exact("结果"))
               for c in range(16)]
    data = []
    for v in range(1, 16):
        col = v - 1 if v <= 10 else v  # value 10 spans grid columns 9 and 10
        span = 2 if v == 10 else 1
        data.append(Cell(row=1, col=col, bbox=(col * 10.0, 10, (col + span) * 10.0, 20), col_span=span,
                         reading=Reading.exact(str(v))))
    t = Table(page=0, bbox=(0, 0, 160, 20), row_edges=[0.0, 10.0, 20.0],
              col_edges=[c * 10.0 for c in range(17)], cells=headers + data)
    out = snap.snap_section_四([t])
    assert [c.value for c in out] == list(range(1, 16))
    assert {c.placement for c in out} == {"irregular"}
    # Two cells run together in a table of sixteen columns leave fourteen: not placed.
    merged = [c for c in data if c.col not in (11, 12)]
    merged.append(Cell(row=1, col=11, bbox=(110.0, 10, 130.0, 20), col_span=2, reading=Reading.exact("11 12")))
    t2 = Table(page=0, bbox=t.bbox, row_edges=t.row_edges, col_edges=t.col_edges, cells=headers + merged)
    assert all(c.status == "missing" for c in snap.snap_section_四([t2]))


def _section_3_values(values: list[list[str]]) -> Table:
    """Section 三's 2021 rows, one label column, then each row's value texts."""
    from tallyscan.postprocess.template_data import templates

    rows = templates()["三"]["2021"]["rows"]
    n_cols = 1 + max(len(v) for v in values)
    cells = []
    for r, (path, texts) in enumerate(zip(rows, values, strict=False)):
        cells.append(Cell(row=r, col=0, bbox=(0, r * 10.0, 10, r * 10.0 + 10),
                          reading=Reading.exact(path.split("/")[-1])))
        for c, text in enumerate(texts, start=1):
            cells.append(Cell(row=r, col=c, bbox=(c * 10.0, r * 10.0, c * 10.0 + 10, r * 10.0 + 10),
                              reading=Reading.exact(text)))
    return Table(page=0, bbox=(0, 0, n_cols * 10.0, len(values) * 10.0),
                 row_edges=[r * 10.0 for r in range(len(values) + 1)],
                 col_edges=[c * 10.0 for c in range(n_cols + 1)], cells=cells)


def _rows_that_add_up(n: int) -> list[list[str]]:
    """Six parts and their total per row, different in every row."""
    out = []
    for r in range(n):
        parts = [(r + j) % 4 for j in range(6)]
        out.append([str(v) for v in parts] + [str(sum(parts))])
    return out


def test_section_3_values_beside_a_phantom_last_column_keep_their_columns():
    """A stray rule right of the table adds a column of blanks (and a speck
    read as a dash): taken as the last of the template's columns, every value
    would sit one column left. The row sums hold only with the values in their
    own columns, so that column is dropped."""
    from tallyscan.postprocess.template_data import templates

    n = len(templates()["三"]["2021"]["rows"])
    rows = _rows_that_add_up(n)
    table = _section_3_values([r + (["—"] if i == 2 else [""]) for i, r in enumerate(rows)])
    out, _ = snap.snap_section_三([table], prior="2021")
    cols = templates()["三"]["2021"]["columns"]
    got = {(c.row_path, c.col_path): c.value for c in out}
    for path, texts in zip(templates()["三"]["2021"]["rows"], rows, strict=True):
        assert [got[(path, col)] for col in cols] == [int(t) for t in texts]


def test_section_3_a_last_column_with_numbers_or_without_sums_to_back_it_is_kept():
    """Not dropped: a last column holding a number, nor one whose dropping the
    row sums do not favour (a table of zeros fits any columns)."""
    from tallyscan.postprocess.template_data import templates

    n = len(templates()["三"]["2021"]["rows"])
    rows = _rows_that_add_up(n)
    with_number = _section_3_values([r + (["5"] if i == 0 else [""]) for i, r in enumerate(rows)])
    assert not snap._phantom_last_column(with_number, 7)
    zeros = _section_3_values([["0"] * 7 + [""] for _ in range(n)])
    assert not snap._phantom_last_column(zeros, 7)
    assert snap._phantom_last_column(_section_3_values([r + [""] for r in rows]), 7)
    # The dropped column leaves the grid's columns one to one with the template's.
    out, _ = snap.snap_section_三([_section_3_values([r + [""] for r in rows])], prior="2021")
    assert {c.placement for c in out} == {"ruled"}


def test_section_2_a_heading_beside_empty_cells_still_names_its_block():
    """Where the rules under a heading are lost it spans only part of the row,
    beside empty cells: it is still the block's heading, not a data row."""
    rows = [["第（五)项", "", "", ""], ["信息内容", "上一年项目数量", "本年增/减", "处理决定数量"],
            ["行政许可", "5", "-3", "17"]]
    t = _row_table(rows)
    t.cells = [c for c in t.cells if not (c.row == 0 and c.col == 1)]
    t.cells[0].col_span = 2
    out, _ = snap.snap_section_二([t], prior="2019")
    got = {c.col_path: (c.value, c.status) for c in out if c.row_path == "第二十条第（五）项/行政许可"}
    assert got == {"上一年项目数量": (5, "ok"), "本年增/减": (-3, "ok"), "处理决定数量": (17, "ok")}


def test_a_short_table_of_fifteen_columns_is_section_4_by_its_sparse_data_row():
    """A ruleless section 四 placed on fifteen columns (layout: its block's
    width) shows only its printed numbers; its faded zeros are blank."""
    headers = ["4", "1", "", "10", "", "", "", "", "", "", "", "", "", "", ""]  # header scraps read as digits
    data = ["6", "", "", "7", "13", "7", "", "2", "", "9", "", "", "10", "", "10"]
    t = _row_table([headers, data])
    t.unruled = True
    assert snap.classify_table(t) == "四"
    # the data row is the aligned table's last line, whatever the header scraps read as
    assert [c.value for c in snap.snap_section_四([t])] == [int(v or 0) for v in data]
    # a table of section 三's width is not taken for 四 by this
    assert snap.classify_table(_row_table([headers[:8], data[:8]])) != "四"


def test_section_4_with_a_blank_data_row_under_a_broken_grid_is_fifteen_flagged_zeros():
    """The grid lost some of 四's columns, but its data row holds no print at
    all (the report leaves zeros blank, or its dashes faded; a seal's scrap
    may read as a character): every value is 0 whichever column is which,
    and since the grid did not show the columns, none is vouched for."""
    headers = ["行政复议", "", "", "", "", "行政诉讼", "", "", "", "", ""]
    t = _row_table([headers, [""] * 6 + ["必"] + [""] * 4])
    out = snap.snap_section_四([t])
    assert [c.value for c in out] == [0] * 15
    assert all(c.placement == "irregular" for c in out)
    # a digit anywhere in the row is print the grid could not place, and a row
    # of words is the headers (the data row lost): nothing is guessed
    t = _row_table([headers, [""] * 6 + ["1"] + [""] * 4])
    assert all(c.status == "missing" for c in snap.snap_section_四([t]))
    # ... unless read unsure, as a seal's ring read as a 1 at 0.42 is: a scrap
    unsure = next(c for c in t.cells if c.text == "1")
    unsure.reading = Reading(text="1", confidence=0.42, alternatives=[[("1", 0.42)]])
    out = snap.snap_section_四([t])
    assert [c.value for c in out] == [0] * 15 and {c.status for c in out} == {"low_confidence"}
    t = _row_table([headers, ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"] + [""] * 6])
    assert all(c.status == "missing" for c in snap.snap_section_四([t]))


def test_section_2_a_row_split_by_stray_rules_keeps_its_printed_values_in_order():
    """Stray strokes cut 第二十条第（一）项's value columns into six cells, three
    of them empty: its three printed numbers are its values, in order, flagged
    (the grid does not vouch for them). The row above, whose label (规章) read
    as 現序 and matched nothing, sits where the template puts 规章: just above
    行政规范性文件. It takes that row, flagged for being placed by order."""
    rows = [["第二十条第（一）项", "", "", "", "", "", ""],
            ["信息内容", "本年制发件数", "条", "", "项本年", "止件数", "现行有效件数"],
            ["現序", "1", "", "", "", "0", "7"],
            ["行政观范性文件", "35", "", "", "", "2", "0"]]
    out, _ = snap.snap_section_二([_row_table(rows)], prior="2021")
    got = {(c.row_path.split("/")[-1], c.col_path): (c.value, c.status) for c in out
           if c.row_path.startswith("第二十条第（一）项")}
    assert got == {
        ("规章", "本年制发件数"): (1, "low_confidence"),
        ("规章", "本年废止件数"): (0, "low_confidence"),
        ("规章", "现行有效件数"): (7, "low_confidence"),
        ("行政规范性文件", "本年制发件数"): (35, "low_confidence"),
        ("行政规范性文件", "本年废止件数"): (2, "low_confidence"),
        ("行政规范性文件", "现行有效件数"): (0, "low_confidence"),
    }
    reasons = {c.row_path.split("/")[-1]: c.reason for c in out if c.col_path == "本年制发件数"}
    assert "order of the rows beside it" in reasons["规章"]
    assert "order of the rows beside it" not in reasons["行政规范性文件"]
    # A label that matches nothing and sits nowhere the template leaves free stays out.
    rows[2][0], rows[3][0] = "规章", "現序"
    rows.insert(3, ["行政规范性文件", "35", "", "", "", "2", "0"])
    out, _ = snap.snap_section_二([_row_table(rows)], prior="2021")
    got = {c.row_path.split("/")[-1]: c.value for c in out
           if c.row_path.startswith("第二十条第（一）项") and c.col_path == "现行有效件数"}
    assert got == {"规章": 7, "行政规范性文件": 0}


def test_section_2_a_header_whose_first_cell_names_the_next_column_vouches_for_nothing():
    """syn06005: (六)'s label cells swallowed the 上一年项目数量 column; three
    value cells are left under three header cells, the first read 本年 (the
    start of 本年增/减). In order they would put 本年增/减's 4 under
    上一年项目数量, called `ok`; the header says otherwise, so nothing here is
    vouched for, and 本年增/减 takes the value under its header."""
    rows = [["第二十条第（六）项", "", "", ""], ["信息内容", "", "本年", "1", "处理"],
            ["行政强制", "", "4", "", "3"]]
    t = _row_table(rows)
    for r in (1, 2):
        t.cells = [c for c in t.cells if (c.row, c.col) != (r, 1)]
        label = next(c for c in t.cells if (c.row, c.col) == (r, 0))
        label.col_span, label.bbox = 2, (0.0, r * 10.0, 20.0, r * 10.0 + 10)
    out, _ = snap.snap_section_二([t], prior="2019")
    got = {c.col_path: (c.value, c.status) for c in out if c.row_path == "第二十条第（六）项/行政强制"}
    assert all(status != "ok" for _, status in got.values())
    assert got["本年增/减"] == (4, "low_confidence")


def test_section_2_values_under_a_header_that_lost_a_cell_are_placed_in_order_and_flagged():
    """(八)'s header row lost its 上一年项目数量 cell (merged into the heading
    above it): the row still has as many value cells as the block's columns,
    so they are its values in order, flagged as placed by position."""
    rows = [["第二十条第（八）项", "", ""], ["信息内容", "", "本年增/减"],
            ["行政事业性收费", "—", "-1"]]
    t = _row_table(rows)
    t.cells = [c for c in t.cells if (c.row, c.col) != (1, 1)]
    out, _ = snap.snap_section_二([t], prior="2019")
    got = {c.col_path: (c.value, c.status) for c in out if c.row_path == "第二十条第（八）项/行政事业性收费"}
    assert got == {"上一年项目数量": (0, "low_confidence"), "本年增/减": (-1, "low_confidence")}
    reason = next(c.reason for c in out if c.row_path == "第二十条第（八）项/行政事业性收费")
    assert "placed by position" in reason


def test_section_2_a_header_read_by_its_first_characters_places_the_value_under_it():
    """(八)'s label cell swallowed the 上一年项目数量 column: one value cell is
    left, under a header read by its first characters, 本年. That header is
    the start of 本年增/减 (and shares only 年 with 上一年项目数量), so the value
    is 本年增/减's, flagged; 上一年项目数量 is missing rather than a guess.
    (Block (九) below makes the table 2019's.)"""
    rows = [["第二十条第（八）项", "", ""], ["信息内容", "", "本年"], ["行政事业性收费", "", "-1"],
            ["第二十条第（九）项", "", ""], ["信息内容", "采购项目数量", "采购总金额"], ["政府集中采购", "0", "0"]]
    t = _row_table(rows)
    t.cells = [c for c in t.cells if (c.row, c.col) not in ((1, 1), (2, 1))]
    label = next(c for c in t.cells if (c.row, c.col) == (2, 0))
    label.col_span, label.bbox = 2, (0.0, 20.0, 20.0, 30.0)
    out, _ = snap.snap_section_二([t], prior="2019")
    got = {c.col_path: (c.value, c.status) for c in out if c.row_path == "第二十条第（八）项/行政事业性收费"}
    assert got == {"上一年项目数量": (None, "missing"), "本年增/减": (-1, "low_confidence")}


def test_section_2_the_last_row_of_a_block_under_its_heading_is_placed_by_order():
    """(八)'s only row has a label read as nothing like 行政事业性收费 ("ins",
    faint): under the block's heading, it is the one grid row left for the
    block's one row (flagged, placed by order); a block with two rows left
    and one grid row does not guess."""
    rows = [["第二十条第（八）项", ""], ["信息内容", "本年收费金额（单位：万元）"], ["ins", "0"]]
    out, _ = snap.snap_section_二([_row_table(rows)], prior="2021")
    (cell,) = [c for c in out if c.row_path == "第二十条第（八）项/行政事业性收费"]
    assert (cell.value, cell.status) == (0, "low_confidence")
    assert "order of the rows beside it" in cell.reason
    rows = [["第二十条第（六）项", ""], ["信息内容", "本年处理决定数量"], ["ins", "3"]]
    out, _ = snap.snap_section_二([_row_table(rows)], prior="2021")
    assert {c.status for c in out if c.row_path.startswith("第二十条第（六）项")} == {"missing"}


def test_section_2_a_heading_cut_into_pieces_starts_a_block_and_its_rows_tell_the_version():
    """Columns found below it cut (五)'s heading into 第二 | 十条 | )项, its item
    lost: it is still a heading, not a data row, and the rows below it belong
    to the blocks their labels name. 其他对外管理服务事项 exists only in 2019's
    template, so those rows make the table 2019's even where the block (一)
    above fits 2021 as well."""
    rows = [["第二十条第（一）项", "", "", ""], ["信息内容", "本年", "本年", "现行"],
            ["规章", "1", "0", "5"], ["规范性", "2", "0", "7"],
            ["第二", "十条", ")项", ""], ["信息内容", "上一", "本年", "处理"],
            ["行政许可", "3", "1", "4"], ["其他对外管理", "2", "0", "2"]]
    out, version = snap.snap_section_二([_row_table(rows)], prior=None)
    assert version == "2019"
    got = {(c.row_path.split("/")[-1], c.col_path): c.value for c in out
           if c.row_path.startswith("第二十条第（五）项")}
    assert got[("其他对外管理服务事项", "处理决定数量")] == 2
    assert got[("行政许可", "上一年项目数量")] == 3


def test_section_2_rows_under_a_missed_heading_go_to_the_block_their_labels_name():
    """(六)'s heading read as — | 第二 is missed, so 行政处罚 and 行政强制 come
    under (五), whose own two rows match better grid rows; the leftovers'
    labels name (六)'s rows clearly, so they are (六)'s."""
    rows = [["第二十条第（五）项", "", "", ""], ["信息内容", "上一", "本年", "处理"],
            ["行政许可", "216", "6", "1"], ["其他对外管理", "3", "1", "9"],
            ["—", "第二", "", ""], ["信息内容", "上一", "本年", "处理"],
            ["行政处", "58", "5", "9"], ["行政强制", "27", "1", "3"]]
    out, version = snap.snap_section_二([_row_table(rows)], prior="2019")
    got = {c.row_path: c.value for c in out if c.col_path == "上一年项目数量"}
    assert got["第二十条第（五）项/行政许可"] == 216
    assert got["第二十条第（六）项/行政处罚"] == 58 and got["第二十条第（六）项/行政强制"] == 27


def test_section_2_a_signed_change_read_with_a_dot_for_its_minus_is_negative_and_flagged():
    rows = [["第二十条第（五）项", "", "", ""], ["信息内容", "上一年项目数量", "本年增/减", "处理决定数量"],
            ["行政许可", "5", ".3", "1776"]]
    out, _ = snap.snap_section_二([_row_table(rows)], prior="2019")
    got = {c.col_path: c for c in out if c.row_path == "第二十条第（五）项/行政许可"}
    assert (got["本年增/减"].value, got["本年增/减"].status) == (-3, "low_confidence")
    assert "minus" in got["本年增/减"].reason
    assert (got["上一年项目数量"].value, got["上一年项目数量"].status) == (5, "ok")


def _marked_permits_row(change: str, mark: str) -> dict:
    """Section 二's 行政许可 row (5, ``change``, 1776) snapped with the layout's
    ``mark`` (a Reading flag) set on its first two values: cells by column."""
    rows = [["第二十条第（五）项", "", "", ""], ["信息内容", "上一年项目数量", "本年增/减", "处理决定数量"],
            ["行政许可", "5", change, "1776"]]
    table = _row_table(rows)
    for cell in table.cells:
        if cell.row == 2 and cell.col in (1, 2):
            setattr(cell.reading, mark, True)
    out, _ = snap.snap_section_二([table], prior="2019")
    return {c.col_path: c for c in out if c.row_path == "第二十条第（五）项/行政许可"}


def test_section_2_a_minus_sign_read_only_with_the_ink_in_front_makes_a_signed_change_negative():
    """The layout marks a reading whose wider re-read put a minus before the
    same digits (``Reading.sign_mark``): in 本年增/减 the value is negative,
    and flagged; in a column of counts the mark changes nothing."""
    got = _marked_permits_row("3", "sign_mark")
    assert (got["本年增/减"].value, got["本年增/减"].status) == (-3, "low_confidence")
    assert "minus" in got["本年增/减"].reason and got["本年增/减"].raw_text == "3"
    assert got["上一年项目数量"].value == 5


def test_section_2_a_mark_read_past_left_of_a_signed_change_is_doubted():
    """Held-out syn14028: −1 whose minus wore to a speck, read "1" even with
    the speck in view (``Reading.mark_before``), was `ok`. In 本年增/减 such a
    reading is never trusted; in a column of counts the mark changes nothing."""
    got = _marked_permits_row("1", "mark_before")
    assert (got["本年增/减"].value, got["本年增/减"].status) == (1, "low_confidence")
    assert "worn to a speck" in got["本年增/减"].reason
    assert (got["上一年项目数量"].value, got["上一年项目数量"].status) == (5, "ok")


@pytest.mark.parametrize("six_label, printed", [
    ("(六)具", "2019"),  # (六)'s label misread: only the row count tells
    ("1.申请人无", "2021"),  # the first of 2021's sub-rows, shown alone: the labels decide
])
def test_section_3_the_rows_of_its_other_handling_part_decide_the_version_with_the_labels(six_label, printed):
    """syn06016: a 2021 report printing 2019's single （六）其他处理 row. The
    year says 2021, but the grid has one row where 2021 has three: each
    template or grid row a version leaves unpaired counts against it, as
    much as the year's prior in all, so a label read badly tips it."""
    from tallyscan.postprocess.template_data import templates

    rows = templates()["三"]["2019"]["rows"]
    labels = [p.split("/")[-1] for p in rows]
    six = labels.index("（六）其他处理")
    labels[six] = six_label
    labels[six + 1] = "(七)总"  # (七)总计 read short, like its neighbours
    labels = [label[:5] for label in labels]
    grid = [("", ["申请人情况"]), ("", ["自然人", "商业", "科研", "社会", "法律", "其他", "总计"])]
    grid += [(label, ["1", "0", "0", "0", "0", "0", "1"]) for label in labels]
    t = _labelled_table([(label, [Reading.exact(v) for v in values]) for label, values in grid])
    out, version = snap.snap_section_三([t], prior="2021")
    assert version == printed


def test_section_3_a_column_edge_of_one_split_row_shifts_no_values():
    """Held-out syn10014: a seal's stroke split one row's value cell in two, and
    that edge became a column of the whole table, which every other row's
    cell spans. Counted as a column, it put every value one column off (30
    cells wrong). It is that row's split: the other rows keep their columns,
    and the split row's value there is left to the sums (missing)."""
    from tallyscan.postprocess.template_data import templates

    paths = templates()["三"]["2021"]["rows"]
    rows = _rows_that_add_up(len(paths))
    split_row, cut = 4, 3  # grid columns: label, then values; value 3 spans the stray edge at 4
    cells = []
    for r, (path, texts) in enumerate(zip(paths, rows, strict=True)):
        cells.append(Cell(row=r, col=0, bbox=(0, r * 10.0, 10, r * 10.0 + 10),
                          reading=Reading.exact(path.split("/")[-1])))
        col = 1
        for j, text in enumerate(texts):
            if j + 1 == cut and r == split_row:
                for part, t in enumerate((text, "")):
                    cells.append(Cell(row=r, col=col + part, bbox=(0, 0, 1, 1), reading=Reading.exact(t)))
                col += 2
                continue
            span = 2 if j + 1 == cut else 1
            cells.append(Cell(row=r, col=col, bbox=(0, 0, 1, 1), col_span=span, reading=Reading.exact(text)))
            col += span
    n_cols = 1 + 8
    table = Table(page=0, bbox=(0, 0, n_cols * 10.0, len(rows) * 10.0),
                  row_edges=[r * 10.0 for r in range(len(rows) + 1)],
                  col_edges=[c * 10.0 for c in range(n_cols + 1)], cells=cells)
    assert snap._rare_edges(table) == {cut + 1}
    out, _ = snap.snap_section_三([table], prior="2021")
    cols = templates()["三"]["2021"]["columns"]
    got = {(c.row_path, c.col_path): c for c in out}
    for r, (path, texts) in enumerate(zip(paths, rows, strict=True)):
        for j, (col, text) in enumerate(zip(cols, texts, strict=True)):
            if r == split_row and j + 1 == cut:
                assert got[(path, col)].status == "missing"
            else:
                assert got[(path, col)].value == int(text), (path, col)
