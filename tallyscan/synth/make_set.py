"""Write a held-out evaluation set: ``python -m tallyscan.synth.make_set OUT --n 40``.

The devset is small (20 reports) and every constant is checked against it; a
set drawn here from other seeds, in the devset's file format (``NAME.pdf`` +
``NAME.truth.json``), tells whether the figures hold on reports nobody tuned
on. Each report draws its format, scan quality, resolution, orientation, zero
style, font size and whether it prints a sum-breaking number from its seed, so
the set is the same every time for the same ``--seed``.

    python -m tallyscan.synth.make_set /tmp/heldout --n 40 --seed 5000
    python -m tallyscan.bench /tmp/heldout
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from . import make_report

LEVELS = ("clean", "mild", "heavy")
ZERO_STYLES = ("0", "0", "0", "—", "-", "")


def draw(seed: int) -> dict[str, Any]:
    """The make_report options of report number ``seed``."""
    r = random.Random(f"make_set:{seed}")
    kind = "digital" if r.random() < 0.15 else "scan"
    opts: dict[str, Any] = {
        "version": r.choice(["2019", "2021"]),
        "kind": kind,
        "zero_style": r.choice(ZERO_STYLES),
        "font_size": r.choice([9, 9, 10, 10.5]),
        "inconsistent": r.random() < 0.15,
        "zero_share": r.uniform(0.6, 0.9),
    }
    if opts["version"] == "2021" and r.random() < 0.15:
        opts["mixed_six_row"] = True
    if kind == "scan":
        opts.update({
            "level": r.choice(LEVELS),
            "dpi": r.choice([150, 200, 200, 300]),
            "rotate": r.choice([0, 0, 0, 0, 0, 180, 90]),
            "color": r.random() < 0.6,
        })
    return opts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tallyscan.synth.make_set", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder to write into (created)")
    ap.add_argument("--n", type=int, default=40, help="how many reports (default 40)")
    ap.add_argument("--seed", type=int, default=5000, help="first seed (default 5000)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.n):
        seed = args.seed + i
        opts = draw(seed)
        pdf, truth = make_report(seed, **opts)
        name = f"syn{seed:05d}"
        (args.out / f"{name}.pdf").write_bytes(pdf)
        (args.out / f"{name}.truth.json").write_text(
            json.dumps(truth, ensure_ascii=False, indent=1) + "\n", "utf-8")
        level = opts.get("level") or "digital"
        print(f"{name}: {opts['version']} {level} {opts.get('dpi', '')} "
              f"rotate={opts.get('rotate', 0)} misprint={truth['meta']['source_inconsistent'] is not None}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
