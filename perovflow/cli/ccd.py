"""``perovflow ccd run FILE -o DIR``: the CsPbBr3 CCD-NN campaign in-process (no FireWorks).

Example::

    perovflow ccd run workflows/cspbbr3_ccd.yaml -o runs/ccd
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_ccd_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``ccd`` command to an argparse ``subparsers`` object."""
    p = subparsers.add_parser("ccd", description=__doc__.splitlines()[0],
                              help="CCD neural-network potential for CsPbBr3 (Thomas et al. 2019), in-process")
    actions = p.add_subparsers(dest="ccd_action", required=True)
    run = actions.add_parser("run", help="sampler -> oracle labels -> k-fold model choice -> test -> plots")
    run.add_argument("file", help="campaign file, e.g. workflows/cspbbr3_ccd.yaml")
    run.add_argument("-o", "--output", default=None, help="output folder (default runs/<name>)")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.set_defaults(func=run_ccd)
    check = actions.add_parser("check", help="validate a campaign file and print the candidates")
    check.add_argument("file")
    check.set_defaults(func=check_ccd)
    return p


def _campaign_or_none(path: str):
    """The campaign file read and checked, or None after printing why it was refused."""
    # config and pipeline import torch (through ccd.networks): loaded when a command runs,
    # so that building the parser (``perovflow --help``) stays fast
    from perovflow.ccd.config import CCDConfigError, load_campaign

    try:
        return load_campaign(path)
    except CCDConfigError as exc:
        print(f"perovflow ccd: error: {exc}", file=sys.stderr)
        return None


def check_ccd(args: argparse.Namespace) -> int:
    campaign = _campaign_or_none(args.file)
    if campaign is None:
        return 2
    print(f"campaign {campaign.name}: oracle {campaign.engine}, {len(campaign.candidates)} candidates, "
          f"{campaign.folds}-fold CV, committee of {campaign.members}")
    for c in campaign.candidates:
        print(f"  {c.label}")
    return 0


def run_ccd(args: argparse.Namespace) -> int:
    from perovflow.ccd.pipeline import run_campaign  # torch: see _campaign_or_none

    campaign = _campaign_or_none(args.file)
    if campaign is None:
        return 2
    out = Path(args.output or f"runs/{campaign.name}")
    progress = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    try:
        run_campaign(campaign, out, progress)
    except ValueError as exc:
        print(f"perovflow ccd: error: {exc}", file=sys.stderr)
        return 2
    return 0

