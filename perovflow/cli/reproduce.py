"""``perovflow reproduce NAME``: one figure of Homm, Laakso, Rinke 2025 on a stand-in oracle.

Example::

    perovflow reproduce fig2 --quick -o out/fig2

Writes NAME.png, NAME.json (every number) and NAME.md (quantity | paper | ours | verdict)
into the output folder; oracle labels are cached (default: OUT/cache) so a rerun labels
nothing again. Labels come from a stand-in oracle (CHGNet or GFN1-xTB), not DFT.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from perovflow.reproduce import FIGURES


def add_reproduce_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("reproduce", help="reproduce a figure of Homm, Laakso, Rinke 2025 on a stand-in oracle",
                              description=__doc__.splitlines()[0])
    p.add_argument("name", metavar="NAME", help=f"the figure: {', '.join(FIGURES)}")
    p.add_argument("--quick", action="store_true", help="small pool and 1-2 repetitions (minutes)")
    p.add_argument("--oracle", default="chgnet", help="stand-in oracle: chgnet (default) or tblite")
    p.add_argument("--seeds", type=int, default=None, help="repetitions (default: the protocol's)")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder")
    p.add_argument("--cache", type=Path, default=None, help="label cache folder (default OUTPUT/cache)")
    p.set_defaults(func=run_reproduce)
    return p


def run_reproduce(args: argparse.Namespace) -> int:
    from perovflow.reproduce import reproduce

    try:
        record = reproduce(args.name, args.output, quick=args.quick, oracle=args.oracle, seeds=args.seeds,
                           cache=args.cache)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"labels from {record['oracle']} (a stand-in oracle, not DFT)")
    for r in record["table"]:
        print(f"  {r['quantity']}: paper {r['paper']}; ours {r['ours']} -> {r['verdict']} ({r['reason']})")
    print(f"wrote {args.output}/{args.name}.md, .json, .png in {record['wall_seconds']:.0f} s")
    return 0
