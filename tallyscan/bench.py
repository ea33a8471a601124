"""Measure extraction accuracy and speed on a folder of reports with known answers.

    python -m tallyscan.bench ../shared/devset [--markdown BENCH.md]

Every ``*.pdf`` with a sibling ``*.truth.json`` (the devset format) is
extracted on one core, in-process, and compared cell by cell with its truth.
Accuracy is reported per group (born-digital, clean, mild, heavy scans) and
speed per page with a per-stage breakdown, so the figures in BENCHMARKS.md can
be re-run by anyone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path


def _group(meta: dict) -> str:
    if meta.get("kind") == "digital":
        return "born-digital"
    return f"scan-{meta.get('level') or 'unknown'}"


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) < 1e-6


def run(folder: Path, limit: int | None = None, groups_wanted: set[str] | None = None,
        names: set[str] | None = None) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from tallyscan.ingest import expand_inputs
    from tallyscan.pipeline import extract_document
    from tallyscan.settings import Settings

    settings = Settings.from_env()
    pdfs = sorted(p for p in folder.glob("*.pdf") if p.with_suffix(".truth.json").exists())
    if names:
        pdfs = [p for p in pdfs if p.stem in names or p.name in names]
    if groups_wanted:
        pdfs = [p for p in pdfs if _group(json.loads(p.with_suffix(".truth.json").read_text("utf-8"))
                                          ["meta"]) in groups_wanted]
    if limit:
        pdfs = pdfs[:limit]
    groups: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    per_doc = []
    for pdf in pdfs:
        truth = json.loads(pdf.with_suffix(".truth.json").read_text("utf-8"))
        source = expand_inputs([pdf], settings)[0]
        t0 = time.perf_counter()
        result = extract_document(source, settings)
        wall = time.perf_counter() - t0
        got = {c.key: c for c in result.cells}
        right = sum(1 for k, v in truth["cells"].items() if k in got and _same(got[k].value, v))
        wrong_ok = sum(1 for k, v in truth["cells"].items() if k in got and got[k].status == "ok" and not _same(got[k].value, v))
        flagged = sum(1 for c in result.cells if c.status != "ok")
        g = groups[_group(truth["meta"])]
        g["documents"] += 1
        g["pages"] += result.pages
        g["cells"] += len(truth["cells"])
        g["right"] += right
        g["wrong_ok"] += wrong_ok
        g["flagged"] += flagged
        g["seconds"] += wall
        for stage, sec in result.timings.items():
            g[f"t_{stage}"] += sec
        per_doc.append({
            "document": pdf.name, "group": _group(truth["meta"]), "status": result.status,
            "error": result.error_message, "pages": result.pages, "cells": len(truth["cells"]),
            "right": right, "wrong_ok": wrong_ok, "flagged": flagged, "seconds": round(wall, 3),
        })
        print(f"{pdf.name:14s} {_group(truth['meta']):13s} {result.status:6s} "
              f"{right:4d}/{len(truth['cells'])} right, {flagged:3d} flagged, "
              f"{wrong_ok:3d} wrong-but-ok, {wall:6.2f}s", file=sys.stderr, flush=True)
    return {"groups": {k: dict(v) for k, v in groups.items()}, "documents": per_doc}


def render_markdown(report: dict, folder: Path) -> str:
    lines = [
        f"Devset: `{folder}` — {len(report['documents'])} documents; one core (`--jobs 1`), "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}.",
        "",
        "| group | docs | pages | cell accuracy | wrong but `ok` | flagged | s/page | rasterise | layout | OCR | snap |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = ["born-digital", "scan-clean", "scan-mild", "scan-heavy"]
    for name in sorted(report["groups"], key=lambda n: order.index(n) if n in order else 99):
        g = report["groups"][name]
        pages = max(g["pages"], 1)
        acc = 100 * g["right"] / max(g["cells"], 1)

        def per_page(stage: str, g=g, pages=pages) -> str:
            return f"{g.get('t_' + stage, 0.0) / pages:.3f}"

        lines.append(
            f"| {name} | {int(g['documents'])} | {int(g['pages'])} | {acc:.2f}% "
            f"({int(g['right'])}/{int(g['cells'])}) | {int(g['wrong_ok'])} | "
            f"{100 * g['flagged'] / max(g['cells'], 1):.1f}% | {g['seconds'] / pages:.3f} | "
            f"{per_page('rasterise')} | {per_page('layout')} | {per_page('ocr')} | {per_page('snap')} |"
        )
    lines += ["", "| document | group | status | right | flagged | wrong but ok | seconds |", "|---|---|---|---|---|---|---|"]
    for d in report["documents"]:
        lines.append(f"| {d['document']} | {d['group']} | {d['status']} | {d['right']}/{d['cells']} | "
                     f"{d['flagged']} | {d['wrong_ok']} | {d['seconds']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tallyscan.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="folder of *.pdf with *.truth.json answers")
    ap.add_argument("--limit", type=int, help="only the first N documents")
    ap.add_argument("--group", action="append", metavar="NAME",
                    help="only this group (born-digital, scan-clean, scan-mild, scan-heavy); repeatable")
    ap.add_argument("--doc", action="append", metavar="NAME", help="only this document (doc004); repeatable")
    ap.add_argument("--json", type=Path, help="also write the raw figures as JSON")
    ap.add_argument("--markdown", type=Path, help="write the tables as Markdown to this file")
    args = ap.parse_args(argv)
    report = run(args.folder, args.limit, set(args.group or ()) or None, set(args.doc or ()) or None)
    md = render_markdown(report, args.folder)
    print(md)
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), "utf-8")
    if args.markdown:
        args.markdown.write_text(md, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
