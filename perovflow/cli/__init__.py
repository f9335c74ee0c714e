"""The ``perovflow`` command: one module per command group."""
from __future__ import annotations

import argparse
import sys

import perovflow  # start-up settings before numpy and FireWorks load
from perovflow.cli import campaigns, database, exchange, exit_codes, logs
from perovflow.cli.ccd import add_ccd_parser
from perovflow.cli.report import add_report_parser
from perovflow.cli.reproduce import add_reproduce_parser
from perovflow.cli.watch import add_watch_parser
from perovflow.extras import EXTRAS, MissingExtra
from perovflow.store import server
from perovflow.store.connection import DatabaseLoginRefused, DatabaseUnreachable

# commands whose parsers import the science stack (numpy, ASE, scipy: a second or two); the
# others are built without them, so that a command that cannot reach its database says so fast
SCIENCE_COMMANDS = ("pool", "select")


def build_parser(science: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perovflow", description=__doc__,
                                     epilog="exit codes: 0 ok, 1 campaign failed or unfinished, 2 bad input, "
                                            "3 not running, 4 database unreachable, 5 login refused, "
                                            "6 optional extra missing, 130 interrupted (docs/cli.md)")
    parser.add_argument("--version", action="version", version=f"perovflow {perovflow.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, dest="log_verbose",
                        help="more log output on stderr (-v INFO, -vv DEBUG); before the command")
    parser.add_argument("-q", "--quiet", action="count", default=0, dest="log_quiet",
                        help="errors only on stderr; before the command")
    commands = parser.add_subparsers(dest="command", required=True)
    database.add_parsers(commands)
    campaigns.add_parsers(commands)
    if science:
        from perovflow.cli.pool import add_pool_parser
        from perovflow.cli.select import add_select_parser

        add_pool_parser(commands)
        add_select_parser(commands)
    add_ccd_parser(commands)
    add_watch_parser(commands)
    exchange.add_parsers(commands)
    add_reproduce_parser(commands)
    add_report_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    words = [word for word in argv if not word.startswith("-")]
    args = build_parser(science=not words or words[0] in SCIENCE_COMMANDS).parse_args(argv)
    logs.configure(args.log_verbose, args.log_quiet)
    # errors whose message is the whole story, and the exit code each gives
    known = ((server.DatabaseServerError, exit_codes.BAD_INPUT),
             (DatabaseUnreachable, exit_codes.DATABASE_UNREACHABLE),
             (DatabaseLoginRefused, exit_codes.DATABASE_LOGIN_REFUSED),
             (MissingExtra, exit_codes.MISSING_EXTRA))
    try:
        return args.func(args)
    except tuple(kind for kind, _ in known) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return next(code for kind, code in known if isinstance(exc, kind))
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root not in EXTRAS:
            raise
        print(f"error: {MissingExtra(root)}", file=sys.stderr)
        return exit_codes.MISSING_EXTRA
    except Exception as exc:
        if not _lost_connection(exc):
            raise
        print(f"error: lost the database connection ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
              file=sys.stderr)
        return exit_codes.DATABASE_UNREACHABLE


def _lost_connection(exc: Exception) -> bool:
    """A server that went away after the command's first check (pymongo is loaded by then)."""
    errors = sys.modules.get("pymongo.errors")
    return errors is not None and isinstance(exc, (errors.ConnectionFailure, errors.ServerSelectionTimeoutError))


if __name__ == "__main__":
    sys.exit(main())
