"""``perovflow report CAMPAIGN -o report.html``: one self-contained HTML page of a campaign
(learning curves, parity plots, relaxation tests, mixing enthalpies, the initial selection,
failed calculations, provenance)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from perovflow.cli.database import add_target_options, target_of


def cmd_report(args: argparse.Namespace) -> int:
    # loaded on use: matplotlib, DScribe and the database driver
    from perovflow.analysis.report_page import build_report
    from perovflow.store.report_data import UnknownCampaign, read_report_data

    began = time.perf_counter()
    if args.max_force_structures < 0:
        print(f"error: --max-force-structures must be 0 or more, got {args.max_force_structures}", file=sys.stderr)
        return 2
    output = Path(args.output)
    if output.exists() and output.is_dir():
        print(f"error: -o/--output {output} is a folder; give the HTML file to write", file=sys.stderr)
        return 2

    def say(message: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - began:6.1f} s] {message}", file=sys.stderr, flush=True)

    target = target_of(args)
    client = target.client(tz_aware=True)
    try:
        data = read_report_data(client[target.database], args.campaign, progress=say,
                                max_force_structures=args.max_force_structures)
    except UnknownCampaign as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
    page = build_report(data, progress=say)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    print(f"wrote {output} ({len(page.encode()) / 1e6:.1f} MB) for campaign {args.campaign} "
          f"in {time.perf_counter() - began:.1f} s")
    return 0


def add_report_parser(commands: Any) -> None:
    report = commands.add_parser("report", help="write a campaign's report as one self-contained HTML page")
    report.add_argument("campaign")
    report.add_argument("-o", "--output", default="report.html", help="HTML file to write (default report.html)")
    report.add_argument("--max-force-structures", type=int, default=400,
                        help="test structures whose forces the parity plot predicts (default 400)")
    report.add_argument("--quiet", action="store_true", help="no progress lines")
    add_target_options(report)
    report.set_defaults(func=cmd_report)
