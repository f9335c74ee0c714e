"""``perovflow watch``: rerun the jobs of rlaunch workers that stopped pinging.

Run it next to the database (a login node, a small always-on machine) while a campaign's
workers run on a cluster: a node that dies or a batch job killed at its wall time leaves
its Fireworks RUNNING; the watchdog sets them to run again within about 90 s.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from perovflow.cli.database import add_target_options, target_of


def cmd_watch(args: argparse.Namespace) -> int:
    from perovflow.fireworks.watchdog import check_once  # FireWorks loads on use
    from perovflow.store.connection import launchpad

    if not args.lost_after > 0 or not args.every > 0:
        print("error: --lost-after and --every must be > 0 seconds", file=sys.stderr)
        return 2
    lp = launchpad(target_of(args))
    scope = f"campaign {args.campaign}" if args.campaign else "every perovflow campaign"
    if not args.once:
        print(f"watching {scope}: jobs whose worker has not pinged for {args.lost_after:g} s run again "
              f"(checked every {args.every:g} s; Ctrl-C stops)", flush=True)
    try:
        while True:
            found = check_once(lp, args.campaign, args.lost_after)
            if found or args.once:
                print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {found.describe() or 'nothing lost'}", flush=True)
            if args.once:
                return 0
            time.sleep(args.every)
    except KeyboardInterrupt:
        return 0


def add_watch_parser(commands: Any) -> None:
    from perovflow.fireworks.watchdog import CHECK_EVERY_SECONDS, LOST_AFTER_SECONDS

    watch = commands.add_parser("watch", help="rerun the jobs of workers that stopped pinging (dead nodes)")
    watch.add_argument("campaign", nargs="?", help="only this campaign (default: every perovflow campaign)")
    watch.add_argument("--lost-after", type=float, default=LOST_AFTER_SECONDS,
                       help=f"seconds without a ping before a job runs again (default {LOST_AFTER_SECONDS:g}; "
                            "workers ping every PEROVFLOW_PING_SECS, default 20)")
    watch.add_argument("--every", type=float, default=CHECK_EVERY_SECONDS,
                       help=f"seconds between checks (default {CHECK_EVERY_SECONDS:g})")
    watch.add_argument("--once", action="store_true", help="check once and exit")
    add_target_options(watch)
    watch.set_defaults(func=cmd_watch)
