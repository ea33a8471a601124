"""`tallyscan review export|apply`: the command-line face of :mod:`tallyscan.review`."""

from __future__ import annotations

import argparse
from pathlib import Path

from tallyscan.exceptions import ExitCode

REVIEW_DESCRIPTION = """\
Put the flagged cells in front of a person, and take their corrections back.

  tallyscan review export out --out review.csv      # from an 'extract' output folder
  tallyscan review export store --out review.csv    # from the store ($TALLYSCAN_DATABASE_URL)
  (open review.csv in Excel, look at the crops, fill in corrected_value, save as CSV)
  tallyscan review apply review.csv --who li.wei

A flagged cell is any cell whose status is not 'ok':
  repaired        the sums decided a value other than the OCR's first reading
  low_confidence  unsure, and no sum pins it (e.g. section 二 has no sums)
  inconsistent    in a sum the report itself breaks; the printed value is kept
                  (the 'reason' column names the sum and the value that would make it hold)
  missing         not found on the page
Each row has PNG crops of the cell and of its row (in <review>_crops/ beside the CSV).
"""

APPLY_DESCRIPTION = """\
Apply the corrected_value column of a review CSV to the results it came from
(the extract folder's JSON, cells.csv and documents.csv, or the store). Each
correction is recorded with who, when, old and new value; corrected cells get the
status 'corrected'. The sums are checked again and what still fails is printed.
Applying the same file twice changes nothing. A row that is not a number stops
the whole file before anything is changed.
"""


def add_review_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="export flagged cells for review; apply corrections",
                       description=REVIEW_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="review_action", metavar="ACTION", required=True)
    ex = actions.add_parser("export", help="write review.csv with crops of every flagged cell",
                            description=REVIEW_DESCRIPTION,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("source", metavar="DIR|store",
                    help="output folder of 'tallyscan extract', or the word 'store'")
    ex.add_argument("--out", "-o", required=True, type=Path, metavar="CSV",
                    help="review file to write (UTF-8 with BOM, opens in Excel)")
    ex.add_argument("--batch", default=None, help="only this batch (store only)")
    ex.add_argument("--store", default=None, metavar="URL",
                    help="database URL (default: $TALLYSCAN_DATABASE_URL or the local SQLite file)")
    ex.add_argument("--no-crops", action="store_true", help="do not cut PNG crops")
    ex.set_defaults(func=cmd_review_export)
    ap = actions.add_parser("apply", help="apply the corrected_value column of a review CSV",
                            description=APPLY_DESCRIPTION,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", type=Path, metavar="CSV", help="review file with corrected_value filled in")
    ap.add_argument("--who", default=None, help="reviewer's name for the audit trail (default: login name)")
    ap.add_argument("--store", default=None, metavar="URL",
                    help="database URL for rows whose origin is the store")
    ap.set_defaults(func=cmd_review_apply)


def cmd_review_export(args: argparse.Namespace) -> int:
    from tallyscan.review import export_review, open_origin

    origin = open_origin(args.source, args.store)  # errors: mapped to exit codes by cli.main
    rows = export_review(origin, args.out, batch=args.batch, crops=not args.no_crops)
    print(f"{rows} flagged cells written to {args.out}"
          + ("" if args.no_crops or not rows else f" (crops in {args.out.stem}_crops/)"))
    return ExitCode.ok


def cmd_review_apply(args: argparse.Namespace) -> int:
    from tallyscan.review import apply_review

    report = apply_review(args.csv, who=args.who, store_url=args.store)
    print(report.summary())
    return ExitCode.ok
