"""The ``perovflow`` command: one module per command group."""
from __future__ import annotations

import argparse
import sys

import perovflow  # start-up settings before numpy and FireWorks load
from perovflow.cli import campaigns, database, exchange
from perovflow.cli.ccd import add_ccd_parser
from perovflow.cli.pool import add_pool_parser
from perovflow.cli.report import add_report_parser
from perovflow.cli.reproduce import add_reproduce_parser
from perovflow.cli.select import add_select_parser
from perovflow.cli.watch import add_watch_parser
from perovflow.store import server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perovflow", description=__doc__)
    parser.add_argument("--version", action="version", version=f"perovflow {perovflow.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    database.add_parsers(commands)
    campaigns.add_parsers(commands)
    add_pool_parser(commands)
    add_select_parser(commands)
    add_ccd_parser(commands)
    add_watch_parser(commands)
    exchange.add_parsers(commands)
    add_reproduce_parser(commands)
    add_report_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except server.DatabaseServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
