"""Repair misread digits with the tables' own arithmetic, and flag what stays unsure.

A report's section 三 and 四 tables obey sums (report-format.md, "Arithmetic that
holds"); the templates declare them as data (``templates/report.json``,
``constraints``). This stage picks one value per cell so that every equation
holds and the total log-probability of the readings is highest, with an exact
MILP (HiGHS through :func:`scipy.optimize.milp`):

* a confidently read cell (OCR confidence >= :data:`CONFIDENT`, or a text layer)
  is a constant: it is never altered to force a sum;
* an unsure cell may take its top reading, one built from the recogniser's
  per-character alternatives (substitutions, a doubled character dropped via the
  blank ``""`` alternative, a dropped character put back from
  ``insertions``), or, at a high price, any value;
* a cell that was not found may take any value;
* an equation may break, at a price no plausible repair reaches: that is the
  report printing numbers that do not add up (it happens), and then the printed
  readings are kept and the equation's cells are marked ``inconsistent``.

A changed or inferred value is trusted only when it is *pinned*: forcing that
cell to any other value costs at least :data:`PIN_MARGIN` (a second MILP per
cell). Otherwise the cell stays flagged. Statuses afterwards: ``ok``,
``repaired``, ``low_confidence``, ``inconsistent``, ``missing``.

>>> outcome = repair_cells(cells, {"三": "2021", "四": "any"})
>>> outcome.cells, outcome.failed_equations
"""

from __future__ import annotations

import heapq
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from tallyscan.model import CanonicalCell
from tallyscan.postprocess.numbers import parse_number
from tallyscan.postprocess.template_data import OK_CONFIDENCE, templates

# A reading at least this sure (its weakest character) is taken as printed.
CONFIDENT = OK_CONFIDENCE
# ... and, for a cell no equation checks (section 二), at least this sure. Over
# the devset and five held-out sets, such cells read `ok` at 0.90-0.97 were
# wrong 3 times in 35 (heavy scans: a faint 9 read as a 4 at 0.96, a −2 whose
# minus was lost at 0.967), at 0.97 or more once in about 3,070.
UNCHECKED_CONFIDENT = 0.97
# Candidates less likely than the top reading by more than this factor are dropped.
MIN_RELATIVE = 1e-3
# Per-position alternatives considered, and candidate readings kept per cell.
MAX_CANDIDATES = 12
# Price of one equation that does not hold: dearer than any two plausible repairs
# (and than PIN_MARGIN, which the pin check relies on).
BREAK_COST = 2 * -math.log(MIN_RELATIVE) + 1.0
# Price (in nats) of letting an unsure cell take a value none of its readings
# support, on top of -log(1 - confidence). Dearer than breaking one equation, so
# a value from nowhere is only taken when it mends two or more equations at once
# (a misread cell breaks its row and its column; a misprint may break just one).
FREE_VALUE_COST = BREAK_COST
# Price of a value for a cell read as blank but not surely (specks where a digit
# may have been: a fax's worn 7 is a few dots): the blank reading says nothing of
# which digit it was, so any of ten, on top of -log(1 - confidence). Cheap enough
# for one equation to decide it (doc004: 6 + [specks] = 13 took the 6 and 13 for
# zeros); what it decides is `repaired`, pinned or flagged like any other choice.
TRACE_VALUE_COST = math.log(10)
# A blank reading this unsure is print the recogniser could not read, not a blank.
UNREAD_PRINT = 0.1
# A chosen value is pinned when every other value costs at least this much more.
PIN_MARGIN = math.log(20)
# A group of linked equations with more unknown cells than this, some of them
# unsure readings, is not solved: its cells stay flagged. Such a group (a
# text-aligned table, every cell unsure; a table half lost) took HiGHS 5-20 s to
# prove optimal, and with so many unknowns little is pinned; the largest solved on
# the devset and held-out set have ~120 and take < 0.3 s. (A group of cells not
# found at all, with no readings to choose among, is settled by propagation.)
# A count, not a clock, so that a result never depends on the machine's load.
MAX_UNSURE_CELLS = 120
# Solver time per document, a backstop only (the largest group measured takes ~1 s):
# what is not settled by then stays flagged.
TIME_BUDGET_S = 5.0


# --------------------------------------------------------------------------- #
# Equations


@dataclass(frozen=True)
class Equation:
    """sum(left) == sum(right), over canonical cell keys."""

    id: str
    name: str  # the constraint's name in the template, e.g. 行合计
    where: str  # the row or column it is applied to
    left: tuple[str, ...]
    right: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return self.left + self.right

    def describe(self) -> str:
        return f"{self.name} [{self.where}]" if self.where else self.name


def _key(section: str, row: str, col: str) -> str:
    return f"{section}|{row}|{col}"


def equations_for(section: str, version: str) -> list[Equation]:
    """Instantiate a section template's declared constraints over its rows/columns."""
    spec = templates().get(section, {}).get(version)
    if not spec or "constraints" not in spec or "rows" not in spec:
        return []
    rows, cols = spec["rows"], spec["columns"]
    out: list[Equation] = []
    for con in spec["constraints"]:
        name = con["name"]
        lines = rows if con["each"] == "row" else cols

        def cell(line: str, other: str, con=con) -> str:
            return _key(section, line, other) if con["each"] == "row" else _key(section, other, line)

        for line in lines:
            if "total" in con:
                left = (cell(line, con["total"]),)
                right = tuple(cell(line, p) for p in con["parts"])
            else:
                left = tuple(cell(line, p) for p in con["left"])
                right = tuple(cell(line, p) for p in con["right"])
            where = line.split("/")[-1] if line else ""
            out.append(Equation(f"{section}.{name}.{line or '-'}", name, where, left, right))
    return out


def document_equations(sections: dict[str, str]) -> list[Equation]:
    """Equations of every section found, for the template version detected for it."""
    out: list[Equation] = []
    for section, version in sections.items():
        out += equations_for(section, version)
    return out


# --------------------------------------------------------------------------- #
# Candidates


@dataclass(frozen=True)
class Candidate:
    value: int
    logp: float  # relative to the top reading (0 for it), in nats
    text: str


def candidates(cell: CanonicalCell) -> list[Candidate]:
    """Integer readings of an unsure cell, best first; the top reading first when it parses.

    Positions read with near certainty keep their character; the others offer
    their alternatives (``""``: the character was doubled or is a speck);
    ``cell.insertions`` offer a character the decoder may have dropped.
    """
    text = cell.raw_text or ""
    alts = cell.alternatives if len(cell.alternatives) == len(text) else [[(ch, 1.0)] for ch in text]
    options: list[list[tuple[str, float]]] = []
    inserts = defaultdict(list)
    for pos, ch, p in cell.insertions:
        if 0 < p < 1:
            inserts[pos].append((ch, p))
    for i in range(len(text) + 1):
        for ch, p in inserts.get(i, ()):
            options.append([("", 0.0), (ch, math.log(p) - math.log1p(-p))])
        if i == len(text):
            break
        top_ch = text[i]
        pos_alts = alts[i] or [(top_ch, 1.0)]
        p_top = max(next((p for c, p in pos_alts if c == top_ch), pos_alts[0][1]), 1e-9)
        opts = [(top_ch, 0.0)]
        for c, p in pos_alts:
            if c != top_ch and p > 0:
                delta = math.log(p) - math.log(p_top)
                if delta >= math.log(MIN_RELATIVE):
                    opts.append((c, delta))
        options.append(opts)
    out: dict[int, Candidate] = {}
    for s, logp in _best_strings(options, MAX_CANDIDATES * 3):
        parsed = parse_number(s)
        if parsed.value is None or not float(parsed.value).is_integer() or parsed.value < 0:
            continue
        v = int(parsed.value)
        if v not in out or out[v].logp < logp:
            out[v] = Candidate(v, logp, s)
    ranked = sorted(out.values(), key=lambda c: -c.logp)
    return ranked[:MAX_CANDIDATES]


def _best_strings(options: list[list[tuple[str, float]]], k: int) -> list[tuple[str, float]]:
    """The ``k`` most likely strings, one choice per position (scores add)."""
    beam: list[tuple[float, str]] = [(0.0, "")]
    for opts in options:
        grown = [(score + d, s + c) for score, s in beam for c, d in opts]
        beam = heapq.nlargest(k, grown, key=lambda t: t[0])
    return [(s, score) for score, s in beam]


# --------------------------------------------------------------------------- #
# Solving


@dataclass
class _Var:
    """An unsure cell: a choice among candidates, or (at a price) a free value."""

    key: str
    cands: list[Candidate]
    free_cost: float  # price of a value none of its readings support
    top: int | None  # the top reading's value, None when there is none


@dataclass
class Outcome:
    cells: list[CanonicalCell]
    failed_equations: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    solver_calls: int = 0


def _int_value(cell: CanonicalCell) -> int | None:
    v = cell.value
    if v is None or not float(v).is_integer():
        return None
    return int(v)


def _is_confident(cell: CanonicalCell) -> bool:
    return cell.status != "missing" and cell.confidence >= CONFIDENT and _int_value(cell) is not None


def _make_var(cell: CanonicalCell) -> _Var:
    if cell.status == "missing" or (cell.value is None and not cell.raw_text):
        return _Var(cell.key, [], 0.0, None)
    cands = candidates(cell)
    top = _int_value(cell)
    # A count is never negative: a "-1" (a dash and a scrap) is no candidate.
    if top is not None and top >= 0 and not any(c.value == top for c in cands):
        cands.insert(0, Candidate(top, 0.0, cell.raw_text))
    unsure = max(1.0 - float(cell.confidence), 1e-6)
    traces = not cell.raw_text and top == 0
    return _Var(cell.key, cands, -math.log(unsure) + (TRACE_VALUE_COST if traces else FREE_VALUE_COST), top)


class _Model:
    """The MILP over the unsure cells of the equations that involve any of them."""

    def __init__(self, eqs: list[Equation], consts: dict[str, int], vars_: dict[str, _Var]):
        self.vars = list(vars_.values())
        self.index = {v.key: i for i, v in enumerate(self.vars)}
        # Bounds, as tight as they can be (loose big-M relaxations made solves of
        # ~40-60 unsure cells take seconds): a value none of a cell's readings
        # supports is at most twice the largest side, as printed and read, of
        # the equations it is in (a lost total is at most the sum of its parts);
        # an equation's slack at most the sum of its cells' largest values.
        def read(k: str) -> int:
            return abs(consts[k]) if k in consts else max(vars_[k].top or 0, 0)

        side = [max(sum(read(k) for k in e.left), sum(read(k) for k in e.right)) for e in eqs]
        free_up = {v.key: 10.0 + 2 * max((n for e, n in zip(eqs, side, strict=True) if v.key in e.keys),
                                         default=0) for v in self.vars}
        most = {v.key: max([free_up[v.key]] + [c.value for c in v.cands]) for v in self.vars}
        self.big = max(most.values(), default=10.0)  # any value a cell can take
        cost: list[float] = []
        upper: list[float] = []

        def column(c: float, u: float) -> int:
            cost.append(c)
            upper.append(u)
            return len(cost) - 1

        # Columns, all integer: per cell a binary per candidate, then a binary "free
        # value" and that value; per equation a binary "broken" and two slacks.
        self.var_cols = [[column(-c.logp, 1) for c in v.cands] for v in self.vars]
        self.free_cols = [(column(v.free_cost, 1), column(0.0, free_up[v.key])) for v in self.vars]
        eq_big = [1.0 + sum(most[k] if k in most else abs(consts[k]) for k in e.keys) for e in eqs]
        self.eq_cols = [(column(BREAK_COST, 1), column(0.0, m), column(0.0, m)) for m in eq_big]
        self.n = len(cost)
        self.cost = np.array(cost)
        self.integrality = np.ones(self.n)
        self.upper = np.array(upper, dtype=float)
        rows, lo, hi = [], [], []

        def row(entries: dict[int, float], low: float, high: float) -> None:
            r = np.zeros(self.n)
            for col, v in entries.items():
                r[col] += v
            rows.append(r)
            lo.append(low)
            hi.append(high)

        for i in range(len(self.vars)):
            fb, fy = self.free_cols[i]
            row({c: 1 for c in self.var_cols[i]} | {fb: 1}, 1, 1)  # exactly one option
            row({fy: 1, fb: -free_up[self.vars[i].key]}, -np.inf, 0)  # 0 unless chosen
        for eq, (zb, sp, sm), m in zip(eqs, self.eq_cols, eq_big, strict=True):
            r = np.zeros(self.n)
            rhs = 0.0
            for sign, keys in ((1, eq.left), (-1, eq.right)):
                for key in keys:
                    if key in self.index:
                        r += sign * self.value_row(self.index[key])
                    else:
                        rhs -= sign * consts[key]
            r[sp], r[sm] = 1, -1
            rows.append(r)
            lo.append(rhs)
            hi.append(rhs)
            for slack in (sp, sm):  # slack only where the equation is let break
                row({slack: 1, zb: -m}, -np.inf, 0)
        self.rows, self.lo, self.hi = rows, lo, hi

    def value_row(self, i: int) -> np.ndarray:
        r = np.zeros(self.n)
        for col, c in zip(self.var_cols[i], self.vars[i].cands, strict=True):
            r[col] = c.value
        r[self.free_cols[i][1]] = 1
        return r

    def solve(self, seconds: float = 10.0) -> tuple[float, np.ndarray] | None:
        """The most probable assignment: (its cost, the solution vector), or None."""
        res = milp(
            c=self.cost,
            integrality=self.integrality,
            bounds=Bounds(np.zeros(self.n), self.upper),
            constraints=LinearConstraint(np.array(self.rows), self.lo, self.hi),
            options={"time_limit": max(0.05, seconds)},
        )
        if res.x is None or res.status != 0:  # not proven best (time limit): trust nothing
            return None
        return float(res.fun), res.x

    def values(self, x: np.ndarray) -> dict[str, tuple[int, str]]:
        """Chosen value per unsure cell and how: "cand:<k>" or "free"."""
        out = {}
        for i, v in enumerate(self.vars):
            for col, (k, c) in zip(self.var_cols[i], enumerate(v.cands), strict=True):
                if x[col] > 0.5:
                    out[v.key] = (c.value, f"cand:{k}")
            if x[self.free_cols[i][0]] > 0.5:
                out[v.key] = (int(round(x[self.free_cols[i][1]])), "free")
        return out

    def broken(self, x: np.ndarray) -> list[int]:
        return [e for e, (zb, _, _) in enumerate(self.eq_cols) if x[zb] > 0.5]

    def movable(self, checks: dict[str, int], budget: float, broken: Iterable[int] = (),
                deadline: float = math.inf) -> tuple[set[str], int]:
        """The cells of ``checks`` that can take another value at a cost within ``budget``.

        Each round asks for a solution within the budget that moves as many of the
        not-yet-moved cells as possible (a binary "differs" per cell); a round
        that moves none ends it. Returns the movable cells and the rounds run.
        """
        keys = list(checks)
        m = len(keys)
        n = self.n + 2 * m  # per cell: differs d, direction w
        base = [np.concatenate([r, np.zeros(2 * m)]) for r in self.rows]
        lo, hi = list(self.lo), list(self.hi)
        for j, key in enumerate(keys):
            v = checks[key]
            vr = np.concatenate([self.value_row(self.index[key]), np.zeros(2 * m)])
            big = self.big + abs(v) + 2
            d, w = self.n + 2 * j, self.n + 2 * j + 1
            up = vr.copy()
            up[w], up[d] = -big, -big  # d=1, w=1: value >= v + 1
            base.append(up)
            lo.append(v + 1 - 2 * big)
            hi.append(np.inf)
            down = vr.copy()
            down[w], down[d] = -big, big  # d=1, w=0: value <= v - 1
            base.append(down)
            lo.append(-np.inf)
            hi.append(v - 1 + big)
        cost_row = np.concatenate([self.cost, np.zeros(2 * m)])
        base.append(cost_row)
        lo.append(-np.inf)
        hi.append(budget)
        a = np.array(base)
        # Breaking an equation costs more than the budget's margin: the equations that
        # hold in the best solution hold in every one looked at (no big-M slack).
        upper = self.upper.copy()
        lower = np.zeros(self.n)
        broken = set(broken)
        for e, (zb, sp, sm) in enumerate(self.eq_cols):
            if e in broken:
                lower[zb] = 1
            else:
                upper[zb] = upper[sp] = upper[sm] = 0
        bounds = Bounds(np.concatenate([lower, np.zeros(2 * m)]),
                        np.concatenate([upper, np.ones(2 * m)]))
        integrality = np.concatenate([self.integrality, np.ones(2 * m)])
        remaining = set(range(m))
        moved: set[str] = set()
        rounds = 0
        while remaining:
            c = np.zeros(n)
            for j in remaining:
                c[self.n + 2 * j] = -1.0
            # Any solution that moves cells will do: stop at half the optimum, not at proof.
            res = milp(c=c, integrality=integrality, bounds=bounds,
                       constraints=LinearConstraint(a, lo, hi),
                       options={"time_limit": max(0.05, deadline - time.perf_counter()),
                                "mip_rel_gap": 0.5})
            rounds += 1
            if res.x is None or res.status not in (0, 1):
                if res.status == 1 or time.perf_counter() >= deadline:
                    moved |= {keys[j] for j in remaining}  # out of time: vouch for nothing
                break
            now = {j for j in remaining if res.x[self.n + 2 * j] > 0.5}
            if not now:
                break
            moved |= {keys[j] for j in now}
            remaining -= now
        return moved, rounds


def _equations_of(by_key: dict[str, CanonicalCell], sections: dict[str, str]
                  ) -> tuple[list[Equation], dict[str, list[Equation]]]:
    """The sections' equations whose every cell is present, and the equations of each cell."""
    eqs = [e for e in document_equations(sections) if all(k in by_key for k in e.keys)]
    in_eqs: dict[str, list[Equation]] = defaultdict(list)
    for e in eqs:
        for k in e.keys:
            in_eqs[k].append(e)
    return eqs, in_eqs


def repair_cells(cells: Iterable[CanonicalCell], sections: dict[str, str]) -> Outcome:
    """Choose values satisfying the document's equations; set status and reason per cell."""
    started = time.perf_counter()
    cells = [replace(c) for c in cells]
    by_key = {c.key: c for c in cells}
    eqs, in_eqs = _equations_of(by_key, sections)
    for c in cells:
        c.equations = [e.id for e in in_eqs.get(c.key, [])]

    consts = {k: _int_value(by_key[k]) for k in in_eqs if _is_confident(by_key[k])}
    vars_ = {k: _make_var(by_key[k]) for k in in_eqs if k not in consts}
    chosen: dict[str, tuple[int, str]] = {}
    pinned: dict[str, bool] = {}
    broken_ids: set[str] = set()
    calls = 0
    # Equations among constants alone need no solver.
    live = [e for e in eqs if any(k in vars_ for k in e.keys)]
    for e in eqs:
        if e not in live and _residual(e, consts) != 0:
            broken_ids.add(e.id)
    deadline = started + TIME_BUDGET_S
    for comp in _components(live, vars_):
        if time.perf_counter() >= deadline:
            break  # out of time: the rest keep their readings, unvouched (flagged)
        used = {k for e in comp for k in e.keys if k in vars_}
        if len(used) > MAX_UNSURE_CELLS and any(vars_[k].cands for k in used):
            continue  # too many unknowns to pin anything: all stay flagged, in no time
        # In a fixed order: the solver breaks ties by position, and a set of strings
        # is ordered differently in every process.
        model = _Model(comp, consts, {k: vars_[k] for k in sorted(used)})
        got = model.solve(deadline - time.perf_counter())
        calls += 1
        if got is None:
            continue
        best, x = got
        found = model.values(x)
        chosen.update(found)
        broken_here = model.broken(x)
        broken_ids |= {comp[e].id for e in broken_here}
        if all(not vars_[k].cands for k in used):
            # Only cells not found: each costs the same whatever its value. First what
            # propagation and linear algebra fix for sure, then the solver for the rest.
            holding = [e for i, e in enumerate(comp) if i not in broken_here]
            sure = _determined(holding, sorted(used), consts)
            pinned.update({k: True for k, v in sure.items() if v})
            found = {k: v for k, v in found.items() if not sure.get(k)}
        checks = {}
        for key, (value, how) in found.items():
            var = vars_[key]
            if how == "free" or value != var.top or by_key[key].confidence < CONFIDENT:
                checks[key] = value
            else:
                pinned[key] = True
        if checks:
            # Pinned: no solution within PIN_MARGIN of the best gives the cell another value.
            moved, rounds = model.movable(checks, best + PIN_MARGIN - 1e-6, broken_here, deadline)
            calls += rounds
            pinned.update({k: k not in moved for k in checks})
    out = _finish(cells, by_key, eqs, in_eqs, consts, vars_, chosen, pinned, broken_ids)
    out.seconds = time.perf_counter() - started
    out.solver_calls = calls
    return out


def _components(eqs: list[Equation], vars_: dict[str, _Var]) -> list[list[Equation]]:
    """Groups of equations linked by a shared unsure cell: each is solved on its own."""
    parent = list(range(len(eqs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, e in enumerate(eqs):
        for k in e.keys:
            if k in vars_:
                if k in owner:
                    parent[find(i)] = find(owner[k])
                else:
                    owner[k] = i
    groups: dict[int, list[Equation]] = defaultdict(list)
    for i, e in enumerate(eqs):
        groups[find(i)].append(e)
    return list(groups.values())


def _determined(eqs: list[Equation], keys: list[str], consts: dict[str, int]) -> dict[str, bool]:
    """Which unknowns the equations fix, counts being >= 0.

    First propagation: an equation with one unknown left fixes it, and one whose
    unknowns all sit on the same side of a zero balance fixes them all to 0 (the
    commonest case: 82% of these numbers are zeros). Then linear algebra for
    the rest: an unknown is fixed when its unit vector lies in the row space.
    """
    unknown = set(keys)
    fixed: dict[str, int] = {}
    changed = True
    while changed:
        changed = False
        for e in eqs:
            balance = 0  # sum(left) - sum(right) over the known cells
            terms = []
            for sign, side in ((1, e.left), (-1, e.right)):
                for k in side:
                    if k in unknown and k not in fixed:
                        terms.append((sign, k))
                    else:
                        balance += sign * (fixed[k] if k in fixed else consts[k])
            if not terms:
                continue
            if len(terms) == 1:
                sign, k = terms[0]
                fixed[k] = -sign * balance
                changed = True
            elif balance == 0 and len({sign for sign, _ in terms}) == 1:
                for _, k in terms:
                    fixed[k] = 0
                changed = True
    rest = [k for k in keys if k not in fixed]
    out = {k: True for k in fixed}
    if not rest:
        return out
    col = {k: j for j, k in enumerate(rest)}
    rows = []
    for e in eqs:
        row = np.zeros(len(rest))
        for sign, side in ((1, e.left), (-1, e.right)):
            for k in side:
                if k in col:
                    row[col[k]] += sign
        if row.any():
            rows.append(row)
    if not rows:
        out.update(dict.fromkeys(rest, False))
        return out
    a = np.array(rows)
    rank = np.linalg.matrix_rank(a)
    for k, j in col.items():
        unit = np.zeros((1, len(rest)))
        unit[0, j] = 1
        out[k] = bool(np.linalg.matrix_rank(np.vstack([a, unit])) == rank)
    return out


def _residual(e: Equation, values: dict[str, int | None]) -> int | None:
    vals = [values.get(k) for k in e.keys]
    if any(v is None for v in vals):
        return None
    return sum(values[k] for k in e.left) - sum(values[k] for k in e.right)


def _finish(cells, by_key, eqs, in_eqs, consts, vars_, chosen, pinned, broken_ids) -> Outcome:
    broken_keys = {k for e in eqs if e.id in broken_ids for k in e.keys}
    unseen = {k for k, c in by_key.items() if c.status == "missing"}
    final: dict[str, int | None] = dict(consts)
    hows: dict[str, str] = {}
    for key, var in vars_.items():
        value, how = chosen.get(key, (var.top, "top"))
        if key in broken_keys:
            value, how = var.top, "top"  # an equation the report breaks: keep what is printed
        if how == "free" and var.top is None and not pinned.get(key, False):
            value = None
        final[key] = value
        hows[key] = how
    for key, var in vars_.items():
        decided = _deciding(key, var.top, final, in_eqs[key])
        proven = any(all(k == key or k in consts for k in e.keys) for e in in_eqs[key])
        _set_status(by_key[key], var, final[key], hows[key], pinned.get(key, False),
                    decided or in_eqs[key], broken_keys, proven)
    for key in consts:
        c = by_key[key]
        # An equation with a cell the page did not show holds whatever this cell
        # says (the lost cell takes up the difference): it vouches for nothing,
        # and a row that lost its neighbour may have taken the neighbour's values.
        open_eqs = [e for e in in_eqs[key] if any(k in unseen for k in e.keys)]
        if key in broken_keys:
            c.status = "inconsistent"
        elif open_eqs:
            c.status = "low_confidence"
            c.reason = (f"{open_eqs[0].describe()} has a cell not found on the page, so it "
                        "cannot check this one: check its row")
        else:
            c.status = "ok"
            c.reason = ""
    failed = []
    for e in _failing(eqs, final):
        failed.append(_failure(e, final, in_eqs))
        for k in e.keys:
            c = by_key[k]
            if c.status != "missing":
                c.status = "inconsistent"
                note = f"{e.describe()} does not hold with the values as read"
                if note not in c.reason:
                    c.reason = (c.reason + "; " if c.reason else "") + note
    # An unsure reading is vouched for only by equations it shares with cells that
    # are themselves in no doubt: a sum that holds with a neighbour the page did not
    # show, or one that breaks its own column, may hold by two errors cancelling.
    for key in vars_:
        c = by_key[key]
        if c.status != "ok" or c.confidence >= CONFIDENT:
            continue
        doubted = next((e for e in in_eqs[key] if any(
            k != key and (k in unseen or by_key[k].status == "inconsistent") for k in e.keys)), None)
        if doubted is not None:
            c.status = "low_confidence"
            c.reason = (f"read with confidence {c.confidence:.2f}; {doubted.describe()} holds, "
                        "but with a cell that is itself in doubt")
    _doubt_echoes(by_key, vars_, in_eqs, final)
    # A table placed by text alignment, or a ruled one whose value columns the grid
    # does not map one to one: the sums check values, not which row or column they sit
    # in (two swapped rows, or every row shifted alike, add up the same), so none of
    # its cells is vouched for.
    for c in cells:
        if c.placement in _PLACEMENT_DOUBTS and c.status == "ok":
            c.status = "low_confidence"
            c.reason = _PLACEMENT_DOUBTS[c.placement] + (f"; {c.reason}" if c.reason else "")
    # Cells outside every equation: only their own confidence speaks for them, and
    # a blank, unless the report is seen to leave its zeros blank, may be a value
    # the scan lost.
    blank_unusual = not _leaves_zeros_blank(cells)
    for c in cells:
        if c.key in in_eqs:
            continue
        if c.status == "missing":
            c.reason = c.reason or "not found on the page"
        elif c.status == "ok" and blank_unusual and c.value == 0 and not c.raw_text.strip():
            c.status = "low_confidence"
            c.reason = ("blank, and this report is not seen to leave its zeros blank: a value "
                        "the scan lost? No equation checks this cell")
        elif c.status != "ok" or c.confidence < UNCHECKED_CONFIDENT:
            c.status = "low_confidence"
            c.reason = c.reason or (
                "no number could be read" if c.value is None
                else f"read with confidence {c.confidence:.3f}; no equation checks this cell, so it "
                     f"needs {UNCHECKED_CONFIDENT:.2f}")
    return Outcome(cells=cells, failed_equations=failed)


def _echo_partner(e: Equation, key: str, final: dict[str, int | None],
                  by_key: dict[str, CanonicalCell]) -> str | None:
    """The unsure cell ``e`` merely equates ``key`` with, when every other
    cell in it is zero (结果维持 = 总计 in a row of zeros), else None."""
    others = [k for k in e.keys if k != key and final.get(k) != 0]
    if len(others) != 1:
        return None
    other = others[0]
    if (key in e.left) == (other in e.left) or by_key[other].confidence >= CONFIDENT:
        return None
    return other


def _doubt_echoes(by_key: dict[str, CanonicalCell], vars_: dict[str, _Var],
                  in_eqs: dict[str, list[Equation]], final: dict[str, int | None]) -> None:
    """Flag unsure readings vouched for only by another unsure reading of the
    same number. Where an equation reduces to one cell equals another, it
    only says the two readings agree; two prints of the same digits, worn
    alike, are often misread alike (syn07035: 2 read as 7 in 结果维持 and in
    its 总计, the row's other cells 0, and both called ``ok``). Such a pair
    stands only if one of the two is vouched for by an equation that is
    more than an echo."""
    unsure = [k for k in vars_ if by_key[k].status == "ok" and by_key[k].confidence < CONFIDENT]
    partners = {k: [_echo_partner(e, k, final, by_key) for e in in_eqs[k]] for k in unsure}
    vouched = {k for k, ps in partners.items() if any(p is None for p in ps)}
    grown = True
    while grown:
        grown = False
        for k, ps in partners.items():
            if k not in vouched and any(p in vouched for p in ps):
                vouched.add(k)
                grown = True
    for k, ps in partners.items():
        if k in vouched:
            continue
        c = by_key[k]
        other = by_key[next(p for p in ps if p)]
        c.status = "low_confidence"
        c.reason = (f"read with confidence {c.confidence:.2f}; the sums only equate it with "
                    f"{_short(other.key)}, itself read unsure: the same digits may be misread alike")


# A report "leaves its zeros blank" when more than this share of its zero cells,
# over at least MIN_ZEROS_FOR_STYLE of them, are blank.
BLANK_ZERO_SHARE = 0.2
MIN_ZEROS_FOR_STYLE = 10


def _leaves_zeros_blank(cells: list[CanonicalCell]) -> bool:
    """Whether the report is seen to leave its zeros blank rather than write 0, — or 无.

    Reports keep one style. A blank cell in a report that prints its zeros (or
    one too little of which was read to tell) may be a cell whose ink the scan
    lost or the grid cut off, not a zero, unless a sum says so.
    """
    def seen(zeros: list[CanonicalCell]) -> bool:
        blank = sum(1 for c in zeros if not c.raw_text.strip())
        return len(zeros) >= MIN_ZEROS_FOR_STYLE and blank > BLANK_ZERO_SHARE * len(zeros)

    # Zeros as printed (a repaired cell's blank is a lost reading), over the
    # whole report and over the cells placed by a table's own rules: where the
    # grid was guessed, a blank may be a cell the values missed.
    zeros = [c for c in cells if c.value == 0 and c.status not in ("missing", "repaired")]
    return seen(zeros) and seen([c for c in zeros if c.placement == "ruled"])


_PLACEMENT_DOUBTS = {
    "aligned": "placed by text alignment (no printed rules found): check its row and column",
    "irregular": ("the table's grid does not match its value columns one to one "
                  "(a rule lost or a stray stroke): check its column"),
}


def _deciding(key: str, top: int | None, final: dict[str, int | None],
              eqs: list[Equation]) -> list[Equation]:
    """The equations that the first reading would break: those that decided a change."""
    if final.get(key) is None or top == final[key]:
        return []
    trial = dict(final)
    trial[key] = top
    return [e for e in eqs if _residual(e, final) == 0 and _residual(e, trial) not in (0,)]


def _set_status(cell: CanonicalCell, var: _Var, value: int | None, how: str, is_pinned: bool,
                eqs: list[Equation], broken_keys: set[str], proven: bool = False) -> None:
    """``proven``: an equation of the cell has every other cell read confidently."""
    names = ", ".join(e.describe() for e in eqs)
    if cell.key in broken_keys and var.top is not None:
        cell.status = "inconsistent"
        return
    if value is None:
        cell.status = "missing"
        cell.value = None
        cell.reason = "not found on the page, and the equations do not determine it"
        return
    if var.top is None:  # missing or unreadable: the equations inferred it
        cell.value = value
        cell.status = "repaired" if is_pinned else "low_confidence"
        what = f"read {cell.raw_text!r}, not a number" if cell.raw_text else "not found on the page"
        cell.reason = (f"{what}; inferred from {names}" if is_pinned
                       else f"{what}; the equations allow other values ({names})")
        return
    cell.value = value
    if is_pinned and not cell.raw_text and cell.confidence < UNREAD_PRINT:
        # The recogniser saw print it could not read (syn12008: a 1 under a
        # seal's star): its 0 is the sums' alone, and a misprinted total
        # would pass unseen. Inferred, not confirmed.
        cell.status = "repaired"
        cell.reason = f"print not legible (confidence {cell.confidence:.2f}); inferred from {names}"
        return
    if value != var.top:
        if is_pinned:
            cell.status = "repaired"
            cell.reason = f"read {cell.raw_text!r} = {var.top}; {names} require {value}"
        else:
            cell.status = "low_confidence"
            cell.reason = (f"read {cell.raw_text!r} = {var.top} (confidence {cell.confidence:.2f}); "
                           f"{value} fits {names} best, but other values fit too")
        return
    if is_pinned and not cell.raw_text and cell.confidence < CONFIDENT and not proven:
        # Ink the recogniser was unsure held nothing: a faded digit, perhaps
        # (held-out syn17025, a 1), and the sums hold as well with another
        # unsure cell of the equation wrong the same amount (syn13011).
        cell.status = "low_confidence"
        cell.reason = (f"read as blank with confidence {cell.confidence:.2f}; {names} hold with 0, "
                       "but a faded number there could hide behind another unsure cell")
        return
    if is_pinned:
        cell.status = "ok"
        cell.reason = (f"read with confidence {cell.confidence:.2f}; confirmed by {names}"
                       if cell.confidence < CONFIDENT else "")
    else:
        cell.status = "low_confidence"
        cell.reason = (f"read with confidence {cell.confidence:.2f}; {names} would hold with "
                       f"other values too")


def _failure(e: Equation, final: dict[str, int | None], in_eqs) -> dict:
    left = sum(final[k] for k in e.left)
    right = sum(final[k] for k in e.right)
    return {
        "id": e.id,
        "equation": f"{e.describe()}: {' + '.join(_short(k) for k in e.left)} = "
                    f"{' + '.join(_short(k) for k in e.right)} ({left} ≠ {right})",
        "left": left,
        "right": right,
        "cells": list(e.keys),
        "fix": _likely_fix(e, final, in_eqs),
    }


def _short(key: str) -> str:
    _, row, col = key.split("|")
    row = row.split("/")[-1]
    col = col.split("/")[-1]
    return f"{row}/{col}" if row else col


def _likely_fix(e: Equation, final: dict[str, int | None], in_eqs) -> dict | None:
    """The one cell whose change would make this equation hold without breaking another.

    When several cells would do (the printed error is not localised), the
    equation's total (its single left-hand cell) is named, as the sum a reader
    would recompute.
    """
    fits = []
    for k in e.keys:
        sign = 1 if k in e.left else -1
        r = _residual(e, final)
        if r is None:
            return None
        want = final[k] - sign * r
        if want < 0:
            continue
        trial = dict(final)
        trial[k] = want
        if all(_residual(o, trial) in (0, None) for o in in_eqs[k]):
            fits.append({"key": k, "value": want})
    if len(fits) == 1:
        return fits[0]
    if len(e.left) == 1:
        r = _residual(e, final)
        return {"key": e.left[0], "value": final[e.left[0]] - r}
    return fits[0] if fits else None


def check_equations(cells: Iterable[CanonicalCell],
                    sections: dict[str, str]) -> tuple[list[dict], dict[str, list[str]]]:
    """The equations that fail with the cells' current values (no solving).

    Returns the failures (as in ``Outcome.failed_equations``) and, per cell key,
    the ids of the failing equations it is in. Equations with a cell of unknown
    value are not judged.
    """
    by_key = {c.key: c for c in cells}
    eqs, in_eqs = _equations_of(by_key, sections)
    values = {k: _int_value(c) for k, c in by_key.items()}
    bad = _failing(eqs, values)
    failing = defaultdict(list)
    for e in bad:
        for k in e.keys:
            failing[k].append(e.id)
    return [_failure(e, values, in_eqs) for e in bad], dict(failing)


def _failing(eqs: list[Equation], values: dict[str, int | None]) -> list[Equation]:
    """The equations that do not hold with ``values`` (those with an unknown are not judged)."""
    return [e for e in eqs if _residual(e, values) not in (None, 0)]
