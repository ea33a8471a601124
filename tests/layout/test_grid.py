"""Grid reconstruction on hand-made segment sets."""

from __future__ import annotations

import pytest

from tallyscan.layout.grid import assign_words, build_tables, join_pieces
from tallyscan.model import Table

TOL = 2.0


def hline(y: float, x0: float, x1: float) -> tuple[float, float, float, float]:
    return (x0, y, x1, y)


def vline(x: float, y0: float, y1: float) -> tuple[float, float, float, float]:
    return (x, y0, x, y1)


def full_grid(xs: list[float], ys: list[float]):
    hs = [hline(y, xs[0], xs[-1]) for y in ys]
    vs = [vline(x, ys[0], ys[-1]) for x in xs]
    return hs, vs


def spans(table: Table) -> list[tuple[int, int, int, int]]:
    return [(c.row, c.col, c.row_span, c.col_span) for c in table.cells]


def cell_at(table: Table, row: int, col: int):
    for c in table.cells:
        if c.row <= row < c.row + c.row_span and c.col <= col < c.col + c.col_span:
            return c
    raise KeyError((row, col))


XS = [0.0, 100.0, 200.0, 300.0]
YS = [0.0, 20.0, 40.0, 60.0]


def test_simple_3x3():
    hs, vs = full_grid(XS, YS)
    (t,) = build_tables(hs, vs, tolerance=TOL, page=4)
    assert t.page == 4
    assert (t.n_rows, t.n_cols) == (3, 3)
    assert t.row_edges == pytest.approx(YS)
    assert t.col_edges == pytest.approx(XS)
    assert t.bbox == pytest.approx((0, 0, 300, 60))
    assert spans(t) == [(r, c, 1, 1) for r in range(3) for c in range(3)]
    assert cell_at(t, 1, 2).bbox == pytest.approx((200, 20, 300, 40))
    assert all(c.text == "" for c in t.cells)


def test_uneven_positions_and_overshoot():
    # hand-drawn / detected lines: positions jitter by < tolerance, ends overshoot
    hs = [hline(0.8, -1, 301), hline(19.3, 0.5, 299), hline(40.9, -0.7, 300.6), hline(59.5, 1, 302)]
    vs = [vline(-0.6, -1, 61), vline(101.2, 0, 60), vline(199.1, 1, 59), vline(300.9, -2, 60)]
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert (t.n_rows, t.n_cols) == (3, 3)
    assert t.row_edges == pytest.approx([0.8, 19.3, 40.9, 59.5])
    assert len(t.cells) == 9


def section3_like():
    """Corner note over 2 rows x 2 cols, a header spanning the value columns,
    a left column spanning the body rows (like 三、本年度办理结果)."""
    xs = [0, 100, 150, 200, 250, 300]
    hs = [
        hline(0, 0, 300),
        hline(20, 150, 300),  # under 申请人情况 only
        hline(40, 0, 300),
        hline(60, 100, 300),  # body rows: not across the spanning left column
        hline(80, 100, 300),
        hline(100, 0, 300),
    ]
    vs = [
        vline(0, 0, 100),
        vline(100, 40, 100),  # left column | labels, only in the body
        vline(150, 0, 100),
        vline(200, 20, 100),
        vline(250, 20, 100),
        vline(300, 0, 100),
    ]
    return xs, hs, vs


def test_row_and_column_spans():
    xs, hs, vs = section3_like()
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert (t.n_rows, t.n_cols) == (5, 5)
    assert t.col_edges == pytest.approx(xs)
    got = set(spans(t))
    assert (0, 0, 2, 2) in got  # corner note
    assert (0, 2, 1, 3) in got  # 申请人情况
    assert (2, 0, 3, 1) in got  # 三、本年度办理结果
    assert {(r, 1, 1, 1) for r in (2, 3, 4)} <= got
    assert len(t.cells) == 1 + 1 + 3 + 1 + 3 * 4
    corner = cell_at(t, 1, 1)
    assert corner.bbox == pytest.approx((0, 0, 150, 40))

    words = [
        (10, 5, 140, 15, "（本列数据的勾稽关系为："),
        (10, 22, 90, 32, "第一项加第二项之和）"),
        (200, 5, 250, 15, "申请人情况"),
        (10, 45, 40, 55, "三、本"),
        (10, 62, 40, 72, "年度办"),
        (10, 82, 40, 92, "理结果"),
        (105, 45, 145, 55, "（一）予以公开"),
        (270, 45, 280, 55, "12"),
        (400, 400, 420, 410, "outside"),
    ]
    rest = assign_words(t, words)
    assert rest == [words[-1]]
    assert corner.text == "（本列数据的勾稽关系为：第一项加第二项之和）"
    assert cell_at(t, 0, 3).text == "申请人情况"
    assert cell_at(t, 3, 0).text == "三、本年度办理结果"
    row = [c for c in t.rows()[2]]
    assert [c.text for c in row] == ["三、本年度办理结果", "（一）予以公开", "", "", "12"]
    assert all(c.reading.confidence == 1.0 for c in t.cells)


def test_broken_lines_and_coverage():
    hs, vs = full_grid(XS, YS)
    # v-line at x=100: replace by pieces. Row 0 (0..20): small gaps (< tol),
    # fully joined. Row 1 (20..40): 6 + 3 of 20 covered -> 45 %, missing.
    # Row 2 (40..60): 12 of 20 covered with a 5 pt gap -> 60 %, present.
    vs = [v for v in vs if v[0] != 100.0]
    vs += [
        vline(100, 0, 7),
        vline(100.5, 8, 14),
        vline(99.6, 15, 20),
        vline(100, 20, 26),
        vline(100, 37, 40),
        vline(100, 40, 46),
        vline(100, 51, 57),
    ]
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert (t.n_rows, t.n_cols) == (3, 3)
    assert (1, 0, 1, 2) in spans(t)  # merged across the missing piece
    assert (0, 0, 1, 1) in spans(t) and (0, 1, 1, 1) in spans(t)
    assert (2, 0, 1, 1) in spans(t) and (2, 1, 1, 1) in spans(t)

    # h-line at y=20 drawn only over the first column: missing elsewhere
    hs2 = [h for h in full_grid(XS, YS)[0] if h[1] != 20.0] + [hline(20, 0, 30), hline(20, 40, 100)]
    (t2,) = build_tables(hs2, full_grid(XS, YS)[1], tolerance=TOL)
    assert (0, 0, 1, 1) in spans(t2) and (1, 0, 1, 1) in spans(t2)
    assert (0, 1, 2, 1) in spans(t2) and (0, 2, 2, 1) in spans(t2)


def test_missing_line_everywhere_drops_the_edge():
    hs, vs = full_grid(XS, YS)
    vs = [v for v in vs if v[0] != 200.0] + [vline(200, 0, 5)]  # only a stub survives
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert t.col_edges == pytest.approx([0, 100, 300])
    assert (t.n_rows, t.n_cols) == (3, 2)


def test_spurious_short_segments_ignored():
    hs, vs = full_grid(XS, YS)
    clean = build_tables(hs, vs, tolerance=TOL)
    noisy_h = hs + [
        hline(30, 120, 140),  # text stroke inside a cell, touching nothing
        hline(50, 290, 310),  # crossing the right border only
        hline(10, 150, 151),  # speck shorter than the tolerance
    ]
    noisy_v = vs + [
        vline(150, 40, 52),  # tick hanging off the line at y=40, 60 % of the row
        vline(50, 25, 30),  # isolated
        vline(400, 400, 420),  # far away
    ]
    noisy = build_tables(noisy_h, noisy_v, tolerance=TOL)
    assert len(noisy) == 1
    assert noisy[0].row_edges == pytest.approx(clean[0].row_edges)
    assert noisy[0].col_edges == pytest.approx(clean[0].col_edges)
    assert spans(noisy[0]) == spans(clean[0])


def test_two_tables_one_above_the_other():
    h1, v1 = full_grid([50, 150, 250], [100, 120, 140])
    h2, v2 = full_grid([40, 100, 160, 220, 280], [300, 320, 340, 360])
    # a lone underline between them is no table
    tables = build_tables(h2 + h1 + [hline(200, 50, 250)], v2 + v1, tolerance=TOL, page=1)
    assert len(tables) == 2
    a, b = tables
    assert a.bbox == pytest.approx((50, 100, 250, 140))
    assert (a.n_rows, a.n_cols) == (2, 2)
    assert b.bbox == pytest.approx((40, 300, 280, 360))
    assert (b.n_rows, b.n_cols) == (3, 4)
    assert a.page == b.page == 1


def test_a_table_whose_rules_broke_at_one_place_is_one_table():
    """Held-out syn06036 and syn12020: every row rule of a table broke for longer
    than the tolerance at one place (a seal; a faded stretch), and its right
    border too: the two sides fall into groups of their own, but share rows."""
    ys = [0.0, 20.0, 40.0, 60.0]
    hs = [hline(y, 0, 140) for y in ys] + [hline(y, 160, 300) for y in ys]
    vs = [vline(x, 0, 60) for x in (0, 100)] + [vline(x, 0, 60) for x in (200, 300)]
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert t.col_edges == pytest.approx([0, 100, 200, 300]) and t.n_rows == 3
    # Two tables side by side with rows at other heights stay two.
    hs = [hline(y, 0, 140) for y in ys] + [hline(y + 10, 160, 300) for y in ys]
    vs = [vline(x, 0, 60) for x in (0, 100)] + [vline(x, 10, 70) for x in (200, 300)]
    assert len(build_tables(hs, vs, tolerance=TOL)) == 2


def test_missing_left_and_right_border():
    # open table: no outer verticals, h-lines give the extent
    hs = [hline(y, 10, 310) for y in (0, 20, 40, 60)]
    vs = [vline(x, 0, 60) for x in (110, 210)]
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert t.col_edges == pytest.approx([10, 110, 210, 310])
    assert (t.n_rows, t.n_cols) == (3, 3)
    assert len(t.cells) == 9

    # left border missing, and a left-column line that touches one v-line only
    hs = [hline(0, 10, 310), hline(20, 10, 110), hline(40, 10, 310), hline(60, 10, 310)]
    vs = [vline(x, 0, 60) for x in (110, 210, 310)]
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert t.col_edges == pytest.approx([10, 110, 210, 310])
    assert (0, 0, 1, 1) in spans(t) and (1, 0, 1, 1) in spans(t)
    assert (0, 1, 2, 1) in spans(t)


def test_single_box_is_not_a_table():
    hs, vs = full_grid([0, 500], [0, 700])
    assert build_tables(hs, vs, tolerance=TOL) == []
    assert build_tables([], [], tolerance=TOL) == []


def test_tolerance_scales_with_units():
    # same geometry in points x 3 (e.g. pixels at 216 dpi), tolerance x 3
    xs, hs, vs = section3_like()
    k = 3.0
    hs3 = [tuple(v * k for v in s) for s in hs]
    vs3 = [tuple(v * k for v in s) for s in vs]
    (t,) = build_tables(hs, vs, tolerance=TOL)
    (t3,) = build_tables(hs3, vs3, tolerance=TOL * k)
    assert spans(t) == spans(t3)


def test_join_pieces_spacing_and_order():
    # CJK: never a space; Latin/digit runs: a space only over a visible gap
    assert join_pieces([(0, 0, 20, 10, "2023"), (21, 0, 31, 10, "年")]) == "2023年"
    assert join_pieces([(0, 0, 20, 10, "abc"), (26, 0, 40, 10, "def")]) == "abc def"
    assert join_pieces([(0, 0, 20, 10, "12"), (20.5, 0, 30, 10, "34")]) == "1234"
    # reading order: lines top to bottom, pieces left to right
    pieces = [
        (50, 15, 60, 25, "机构"),
        (0, 0, 10, 10, "法律"),
        (0, 15, 10, 25, "服务"),
        (12, 1, 22, 11, "援助"),
    ]
    assert join_pieces(pieces) == "法律援助服务机构"
    assert join_pieces([]) == ""


def test_stray_vertical_ink_in_two_rows_does_not_add_a_column():
    """A stroke crossing two rows' rules next to a real rule is not a column edge."""
    xs = [0.0, 40.0, 80.0, 120.0, 160.0, 200.0]
    ys = [float(y) for y in range(0, 220, 20)]  # 10 rows
    hs, vs = full_grid(xs, ys)
    vs.append(vline(92.0, 140.0, 180.0))  # rows 7 and 8 only, 12 pt right of x=80
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert t.col_edges == pytest.approx(xs)
    assert (t.n_rows, t.n_cols) == (10, 5)
    assert all(c.col_span == 1 for c in t.cells)


def test_a_sub_column_rule_of_a_few_rows_stays():
    """Section 二's first block splits its rows into three equal value columns; the
    blocks below have one: those rules cover few rows but make full-width columns."""
    xs = [0.0, 100.0, 200.0, 300.0, 400.0]
    ys = [float(y) for y in range(0, 220, 20)]  # 10 rows
    hs = [hline(y, xs[0], xs[-1]) for y in ys]
    vs = [vline(x, ys[0], ys[-1]) for x in (0.0, 100.0, 400.0)]
    vs += [vline(x, 0.0, 40.0) for x in (200.0, 300.0)]  # only the first two rows
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert t.col_edges == pytest.approx(xs)
    assert cell_at(t, 0, 2).col_span == 1 and cell_at(t, 5, 1).col_span == 3


def test_a_doubled_vertical_rule_is_one_edge():
    """Two strokes 2 pt apart (a double or thickened rule) bound no column between them."""
    xs = [0.0, 100.0, 200.0, 300.0]
    hs, vs = full_grid(xs, YS)
    vs.append(vline(202.0, YS[0], YS[-1]))
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert t.n_cols == 3
    assert t.col_edges[2] == pytest.approx(201.0)


def test_a_split_next_to_an_existing_rule_lands_on_it():
    from tallyscan.layout.grid import split_cells

    hs, vs = full_grid(XS, YS)
    (t,) = build_tables(hs, vs, tolerance=TOL)
    near = split_cells(t, [(102.0, 0.0, 60.0)], [], min_gap=8.0)
    assert near.col_edges == pytest.approx(XS)
    far = split_cells(t, [(150.0, 0.0, 60.0)], [], min_gap=8.0)
    assert far.col_edges == pytest.approx([0.0, 100.0, 150.0, 200.0, 300.0])


def test_a_split_near_a_rule_cuts_the_row_that_lost_that_rule():
    """The bottom row lost its rule at x=100 (a broken line): a split found 2 pt
    beside it cuts that row at the table's own edge, not a sliver beside it."""
    from tallyscan.layout.grid import split_cells

    hs = [hline(y, XS[0], XS[-1]) for y in YS]
    vs = [vline(0.0, 0, 60), vline(100.0, 0, 40), vline(200.0, 0, 60), vline(300.0, 0, 60)]
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert cell_at(t, 2, 0).col_span == 2
    out = split_cells(t, [(102.0, 40.0, 60.0)], [], min_gap=8.0)
    assert out.col_edges == pytest.approx(XS)
    assert spans(out) == [(r, c, 1, 1) for r in range(3) for c in range(3)]


def _label_columns_with_faded_rule(gap: tuple[float, float] | None):
    """Section 三's label area: 三、本年度办理结果 spanning every row (x 0-50),
    two groups (x 50-100, rows 0-2 and 3-4) each over its own sub-rows
    (x 100-200), one value column, and a bottom row where a label spans the
    group and sub-label columns (（六）其他处理). ``gap``: a stretch of the rule
    at x=50 that faded away."""
    xs = [0.0, 50.0, 100.0, 200.0, 250.0]
    hs = [hline(0, 0, 250), hline(120, 0, 250), hline(60, 50, 250), hline(100, 50, 250)]
    hs += [hline(y, 100, 250) for y in (20, 40, 80)]
    vs = [vline(0, 0, 120), vline(100, 0, 100), vline(200, 0, 120), vline(250, 0, 120)]
    vs += [vline(50, 0, 120)] if gap is None else [vline(50, 0, gap[0]), vline(50, gap[1], 120)]
    return xs, hs, vs


def test_a_rule_that_faded_mid_line_keeps_its_columns():
    """Without the rule's faded stretch, the spanning label cell and the group
    cell beside it join into an L; grown to a rectangle, that L would swallow
    the rule, and the sub-labels beside it, down the whole table."""
    xs, hs, vs = _label_columns_with_faded_rule(gap=(25.0, 55.0))
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert t.col_edges == pytest.approx(xs)
    got = set(spans(t))
    assert {(0, 0, 6, 1), (0, 1, 3, 1), (3, 1, 2, 1), (5, 1, 1, 2)} <= got
    assert {(r, 2, 1, 1) for r in range(5)} <= got
    (whole,) = build_tables(*_label_columns_with_faded_rule(gap=None)[1:], tolerance=TOL)
    assert set(spans(whole)) == got


def test_a_rule_missing_along_its_end_is_not_invented():
    """A rule gone from a stretch running to the table's edge is not mended
    (nothing shows where it would stop): the columns merge as before."""
    xs, hs, vs = _label_columns_with_faded_rule(gap=(25.0, 130.0))
    (t,) = build_tables(hs, vs, tolerance=TOL)
    assert 50.0 not in [round(x) for x in t.col_edges]


def test_a_column_rule_lost_at_the_tables_top_edge_keeps_its_columns():
    """A table continued from the page before starts mid-section: the rule at
    x=50 is lost over its first rows (a faint dashed rule, syn06016) and
    present below for as many rows. Grown to a rectangle, the L it leaves
    would swallow every label column down the table; restored, the columns
    are as with the whole rule."""
    xs, hs, vs = _label_columns_with_faded_rule(gap=None)
    vs = [v for v in vs if v[0] != 50.0] + [vline(50, 55, 120)]
    (t,) = build_tables(hs, vs, tolerance=TOL)
    (whole,) = build_tables(*_label_columns_with_faded_rule(gap=None)[1:], tolerance=TOL)
    assert t.col_edges == pytest.approx(xs)
    assert set(spans(t)) == set(spans(whole))


def _label_area_under_a_spanning_row(fade_top: bool):
    """Section 三's label area below a row whose label spans every label column
    (二、上年结转…, y 0-20): 三、本年度办理结果 (x 0-50) over rows 20-140;
    （一） and （二） spanning x 50-200; （三） (x 50-100) over four sub-rows.
    ``fade_top``: the rule at x=50 faded in its first row, where it meets the
    rule under the spanning row."""
    hs = [hline(0, 0, 250), hline(20, 0, 250), hline(140, 0, 250), hline(40, 50, 250), hline(60, 50, 250)]
    hs += [hline(y, 100, 250) for y in (80, 100, 120)]
    vs = [vline(0, 0, 140), vline(100, 60, 140), vline(200, 0, 140), vline(250, 0, 140)]
    vs += [vline(50, 40 if fade_top else 20, 140)]
    return hs, vs


def test_a_rule_faded_at_its_end_where_it_meets_another_keeps_its_columns():
    """The rule between 三、本年度办理结果 and （一） faded in its first row: the
    two cells join into an L, which grown to a rectangle would swallow the
    sub-labels beside it. The rule is there for the rows below and the L
    ends at a rule above, so its one missing slot is restored."""
    (t,) = build_tables(*_label_area_under_a_spanning_row(fade_top=True), tolerance=TOL)
    (whole,) = build_tables(*_label_area_under_a_spanning_row(fade_top=False), tolerance=TOL)
    assert set(spans(t)) == set(spans(whole))
    assert {(1, 0, 6, 1), (1, 1, 1, 2), (2, 1, 1, 2), (3, 1, 4, 1)} <= set(spans(t))
