"""Random table values that obey the report's own arithmetic (勾稽关系).

Everything is driven by the canonical template in
``tallyscan/postprocess/templates/report.json`` so the generated keys are exactly
the ones the extractor must produce:

* section 二: ``二|<block heading>/<row>|<column>``
* section 三: ``三|<row path>|<column path>``
* section 四: ``四||<column path>``

``random_values`` draws a plausible report (mostly zeros, a few busy cells,
occasionally very large counts, 万元 amounts with decimals) such that every
constraint of the template holds; ``inconsistent=True`` then changes one printed
number so that a sum no longer holds, as real reports sometimes do.
"""

from __future__ import annotations

import json
import math
import random
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

Number = int | float
Version = Literal["2019", "2021"]

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "postprocess" / "templates" / "report.json"

SIX_ROW_2019 = "三、本年度办理结果/（六）其他处理"


@lru_cache(maxsize=1)
def load_template() -> dict[str, Any]:
    """The canonical template (parsed report.json)."""
    with TEMPLATE_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


def section_spec(section: str, version: str) -> dict[str, Any]:
    """Template of one section for one format version ("any" if version-free)."""
    sec = load_template()["sections"][section]
    if version in sec:
        return sec[version]
    if "any" in sec:
        return sec["any"]
    raise KeyError(f"no template for section {section} version {version}")


def cell_key(section: str, row_path: str, col_path: str) -> str:
    return f"{section}|{row_path}|{col_path}"


def _table_keys(section: str, version: str) -> list[str]:
    spec = section_spec(section, version)
    if "blocks" in spec:
        return [
            cell_key(section, f"{b['heading']}/{row}", col)
            for b in spec["blocks"]
            for row in b["rows"]
            for col in b["columns"]
        ]
    return [cell_key(section, row, col) for row in spec["rows"] for col in spec["columns"]]


def canonical_keys(version: str, *, six_row_version: str | None = None) -> list[str]:
    """All canonical cell keys of a report, in printed order.

    ``six_row_version`` picks section 三's rows independently (a "mixed" report:
    2021 section 二 with the 2019 single （六） row uses ``six_row_version="2019"``).
    """
    v3 = six_row_version or version
    return _table_keys("二", version) + _table_keys("三", v3) + _table_keys("四", version)


def is_money_key(key: str, version: str) -> bool:
    """True for the 万元 / amount cells that may carry decimals."""
    section, row_path, col = key.split("|")
    if section != "二":
        return False
    heading = row_path.split("/", 1)[0]
    for block in section_spec("二", version)["blocks"]:
        if block["heading"] == heading and block.get("decimal"):
            return "金额" in col or len(block["columns"]) == 1
    return False


# --------------------------------------------------------------------------- checks


def _constraint_groups(version: str, six_row_version: str | None = None):
    """Yield (name, left_keys, right_keys) meaning sum(left) == sum(right)."""
    for section in ("二", "三", "四"):
        v = (six_row_version or version) if section == "三" else version
        spec = section_spec(section, v)
        if "blocks" in spec:
            continue
        rows, cols = spec["rows"], spec["columns"]
        for con in spec.get("constraints", []):
            each = con["each"]
            lines = rows if each == "row" else cols
            for line in lines:

                def k(item: str, line: str = line, each: str = each, section: str = section) -> str:
                    return (
                        cell_key(section, line, item)
                        if each == "row"
                        else cell_key(section, item, line)
                    )

                if "total" in con:
                    left, right = [k(con["total"])], [k(p) for p in con["parts"]]
                else:
                    left, right = [k(p) for p in con["left"]], [k(p) for p in con["right"]]
                yield f"{section}:{con['name']}:{line}", left, right


def constraint_violations(
    values: dict[str, Number], version: str, *, six_row_version: str | None = None
) -> list[str]:
    """Names of the template constraints that ``values`` break (empty = consistent)."""
    bad = []
    for name, left, right in _constraint_groups(version, six_row_version):
        lsum = sum(values.get(k, 0) for k in left)
        rsum = sum(values.get(k, 0) for k in right)
        if not math.isclose(lsum, rsum, abs_tol=1e-6):
            bad.append(name)
    return bad


# --------------------------------------------------------------------------- drawing


def as_random(rng: Any) -> random.Random:
    """Accept a ``random.Random``, a ``numpy.random.Generator`` or an int seed."""
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, np.random.Generator):
        return random.Random(int(rng.integers(0, 2**63 - 1)))
    if rng is None or isinstance(rng, int | np.integer):
        return random.Random(rng)
    raise TypeError(f"rng must be random.Random, numpy Generator or int, not {type(rng).__name__}")


def _small_count(r: random.Random, scale: float = 1.0) -> int:
    """A count >= 1, mostly small with a long tail."""
    u = r.random()
    if u < 0.55:
        base = r.randint(1, 3)
    elif u < 0.85:
        base = r.randint(4, 20)
    elif u < 0.97:
        base = r.randint(21, 150)
    else:
        base = r.randint(151, 900)
    return max(1, int(round(base * scale)))


def _large_count(r: random.Random) -> int:
    """The occasional huge figure real reports print (447228, 3985758)."""
    return int(round(10 ** r.uniform(4.0, 6.7)))


def _money(r: random.Random, big: bool) -> float:
    """An amount in 万元, with 0–2 decimals (7730.28, 96171.6, 15.0)."""
    x = 10 ** r.uniform(0.3, 5.2 if big else 3.5)
    return float(round(x, r.choice([0, 1, 2, 2])))


def _draw_section2(vals: dict, version: str, r: random.Random, p_nz: float, big: bool) -> None:
    for block in section_spec("二", version)["blocks"]:
        for row in block["rows"]:
            for col in block["columns"]:
                key = cell_key("二", f"{block['heading']}/{row}", col)
                if r.random() >= p_nz:
                    vals[key] = 0
                elif is_money_key(key, version):
                    vals[key] = _money(r, big)
                elif col == "本年增/减":
                    vals[key] = r.choice([-5, -3, -2, -1, -1, 1, 1, 2, 3, 4, 6, 10])
                elif (
                    big
                    and row in ("行政许可", "行政处罚", "其他对外管理服务事项")
                    and r.random() < 0.6
                ):
                    vals[key] = _large_count(r)
                elif "金额" in col:
                    vals[key] = _large_count(r) if big else _small_count(r, 20)
                else:
                    vals[key] = _small_count(r, 3.0 if big else 1.0)


# Relative likelihood that a disposal row gets cases, by its label prefix.
_ROW_WEIGHT = {
    "（一）": 10.0,
    "（二）": 2.5,
    "（三）": 0.35,
    "（四）无法提供/1": 4.0,
    "（四）": 1.2,
    "（五）不予处理/1": 1.0,
    "（五）不予处理/2": 1.2,
    "（五）": 0.5,
    "（六）": 0.9,
}


def _row_weight(row: str) -> float:
    tail = row.split("/", 1)[1] if "/" in row else row
    best = 0.5
    best_len = -1
    for prefix, w in _ROW_WEIGHT.items():
        if tail.startswith(prefix) and len(prefix) > best_len:
            best, best_len = w, len(prefix)
    return best


def _draw_section3(vals: dict, version: str, r: random.Random, d: float, busy: bool) -> None:
    spec = section_spec("三", version)
    rows, cols = spec["rows"], spec["columns"]
    total_col = cols[-1]
    applicant_cols = cols[:-1]
    new_row, carry_in, seventh, carry_out = rows[0], rows[1], rows[-2], rows[-1]
    disposal = [row for row in rows if row not in (new_row, carry_in, seventh, carry_out)]
    weights = [_row_weight(row) for row in disposal]

    grid = {(row, col): 0 for row in rows for col in cols}
    for ci, col in enumerate(applicant_cols):
        p_active = min(1.0, (2.4 if ci == 0 else 0.9) * d)
        if r.random() >= p_active:
            continue
        scale = (1.0 if ci == 0 else 0.5) * (40.0 if busy else 1.0)
        k = 1 + sum(r.random() < min(0.9, 0.6 * d + 0.05) for _ in range(len(disposal) - 1))
        chosen: set[int] = set()
        while len(chosen) < k:
            chosen.add(r.choices(range(len(disposal)), weights=weights)[0])
        for i in chosen:
            grid[(disposal[i], col)] = _small_count(r, scale)
        done = sum(grid[(row, col)] for row in disposal)
        grid[(seventh, col)] = done
        out = r.randint(1, max(1, done // 4 + 1)) if r.random() < 0.25 else 0
        grid[(carry_out, col)] = out
        cin = r.randint(1, max(1, (done + out) // 3)) if r.random() < 0.2 else 0
        grid[(carry_in, col)] = cin
        grid[(new_row, col)] = done + out - cin
    for row in rows:
        grid[(row, total_col)] = sum(grid[(row, c)] for c in applicant_cols)
    for (row, col), v in grid.items():
        vals[cell_key("三", row, col)] = v


def _draw_section4(vals: dict, r: random.Random, d: float) -> None:
    spec = section_spec("四", "any")
    cols = spec["columns"]
    for col in cols:
        vals[cell_key("四", "", col)] = 0
    if r.random() >= min(1.0, 1.3 * d):
        return
    for con in spec["constraints"]:
        if r.random() >= 0.6:
            continue
        parts = {p: (_small_count(r, 0.5) if r.random() < 0.45 else 0) for p in con["parts"]}
        if not any(parts.values()):
            parts[r.choice(con["parts"])] = r.randint(1, 5)
        for p, v in parts.items():
            vals[cell_key("四", "", p)] = v
        vals[cell_key("四", "", con["total"])] = sum(parts.values())


def _draw(version: str, r: random.Random, d: float) -> dict[str, Number]:
    vals: dict[str, Number] = {}
    big = r.random() < 0.2
    busy = r.random() < 0.06
    _draw_section2(vals, version, r, min(0.95, 2.6 * d + 0.02) if d > 0 else 0.0, big)
    _draw_section3(vals, version, r, d, busy)
    _draw_section4(vals, r, d)
    keys = canonical_keys(version)
    return {k: vals[k] for k in keys}


def _zero_fraction(vals: dict[str, Number]) -> float:
    return sum(1 for v in vals.values() if v == 0) / max(1, len(vals))


def _break_one(vals: dict[str, Number], version: str, r: random.Random) -> str:
    """Change one printed number in a constrained cell so that a sum breaks."""
    spec3 = section_spec("三", version)
    rows3, cols3 = spec3["rows"], spec3["columns"]
    kind = r.choices(["total", "part", "seventh", "sec4", "new"], weights=[3, 3, 2, 1, 2])[0]
    if kind == "total":
        key = cell_key("三", r.choice(rows3), cols3[-1])
    elif kind == "part":
        key = cell_key("三", r.choice(rows3[2:-2]), r.choice(cols3[:-1]))
    elif kind == "seventh":
        key = cell_key("三", rows3[-2], r.choice(cols3))
    elif kind == "new":
        key = cell_key("三", rows3[0], r.choice(cols3))
    else:
        con = r.choice(section_spec("四", "any")["constraints"])
        key = cell_key("四", "", r.choice([con["total"], *con["parts"]]))
    old = int(vals[key])
    choices = [old + 1, old + 2, old + 10, old * 10 if old else 1]
    if old > 0:
        choices += [old - 1, 0]
    if old > 9:
        s = str(old)
        choices.append(int(s[::-1]) if s[::-1] != s else old + 3)  # swapped digits
    new = r.choice([c for c in choices if c != old and c >= 0])
    vals[key] = new
    return key


@overload
def random_values(
    version: str, rng: Any, *, zero_share: float = ..., inconsistent: Literal[False] = ...
) -> dict[str, Number]: ...
@overload
def random_values(
    version: str, rng: Any, *, zero_share: float = ..., inconsistent: Literal[True]
) -> tuple[dict[str, Number], str]: ...
def random_values(version, rng, *, zero_share=0.8, inconsistent=False):
    """Values for every canonical cell of a ``version`` ("2019"/"2021") report.

    All template sums hold. About ``zero_share`` of the cells are zero (per
    document the share varies a little, as in real reports). With
    ``inconsistent=True`` one printed number breaks a sum and the function returns
    ``(values, key_of_that_cell)`` instead of just the values.
    """
    if version not in ("2019", "2021"):
        raise ValueError(f"version must be '2019' or '2021', not {version!r}")
    r = as_random(rng)
    jitter = r.gauss(0.0, 0.03) if 0.0 < zero_share < 1.0 else 0.0
    target = min(1.0, max(0.0, zero_share + jitter))
    nz_target = 1.0 - target
    d = max(0.0, min(1.0, nz_target))
    best: dict[str, Number] | None = None
    best_err = math.inf
    for _ in range(40):
        vals = _draw(version, r, d)
        err = abs(_zero_fraction(vals) - target)
        if err < best_err:
            best, best_err = vals, err
        if err <= 0.025:
            break
        nz = 1.0 - _zero_fraction(vals)
        d = min(1.0, d * 1.5 + 0.02) if nz <= 0 else max(0.0, min(1.0, d * (nz_target / nz) ** 0.7))
    assert best is not None
    assert not constraint_violations(best, version)
    if not inconsistent:
        return best
    key = _break_one(best, version, r)
    return best, key


def collapse_six_row(values: dict[str, Number]) -> dict[str, Number]:
    """2021-format values as printed in a "mixed" report with the 2019 single （六） row.

    The three （六）其他处理 sub-rows of section 三 are summed into
    ``三、本年度办理结果/（六）其他处理``; everything else is unchanged.
    """
    out: dict[str, Number] = {}
    six_prefix = SIX_ROW_2019 + "/"
    for key, v in values.items():
        section, row, col = key.split("|")
        if section == "三" and row.startswith(six_prefix):
            k = cell_key("三", SIX_ROW_2019, col)
            out[k] = out.get(k, 0) + v
        else:
            out[key] = v
    return out


def format_number(value: Number, zero_style: str = "0") -> str:
    """How a value is printed in a cell (zeros in the report's zero style)."""
    if value == 0:
        return zero_style
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)
