"""``perovflow db``, ``perovflow hook`` and ``perovflow init``: where the database is and
what every process of the environment needs."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from perovflow.fireworks import hook
from perovflow.store import server
from perovflow.store.connection import DatabaseTarget, resolve, write_fworker_yaml, write_launchpad_yaml


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uri", help="MongoDB URI of your own server (nothing is started)")
    parser.add_argument("-l", "--launchpad", help="FireWorks my_launchpad.yaml to use")
    parser.add_argument("--database", help="database name (default perovflow)")


def target_of(args: argparse.Namespace) -> DatabaseTarget:
    return resolve(uri=args.uri, launchpad_file=args.launchpad, database=args.database)


def uses_embedded(args: argparse.Namespace) -> bool:
    return not (args.uri or args.launchpad or os.environ.get("PEROVFLOW_URI") or Path("my_launchpad.yaml").exists())


def ensure_database(args: argparse.Namespace) -> None:
    """Start the embedded server when no other database was named."""
    if uses_embedded(args):
        state, started = server.start(port=server.DEFAULT_PORT)
        if started:
            print(f"started the embedded database at {state.uri} (storage {state.storage})")


def install_hook_or_warn() -> None:
    """``db start`` and ``init`` install the start-up hook on the way; where site-packages is
    read-only they go on without it."""
    try:
        hook.install()
    except OSError as exc:
        print(f"warning: start-up hook not installed ({hook.pth_path()}: {exc.strerror or exc}): {hook.NOT_INSTALLED}",
              file=sys.stderr)


def cmd_db(args: argparse.Namespace) -> int:
    storage = Path(args.storage).expanduser() if args.storage else None
    if args.action == "start":
        install_hook_or_warn()
        state, started = server.start(port=args.port, storage=storage)
        print(f"{'started' if started else 'already running'}: SecantusDB pid {state.pid} at "
              f"{state.uri} (storage {state.storage})")
    elif args.action == "stop":
        state = server.stop(storage)
        print(f"stopped pid {state.pid}" if state else "no server was running")
    else:
        state = server.status(storage)
        if state is None:
            print("not running")
            return 3
        print(f"running: pid {state.pid} at {state.uri} (storage {state.storage})")
    return 0


def cmd_hook(args: argparse.Namespace) -> int:
    path = hook.pth_path()
    try:
        if args.action == "install":
            print(f"start-up hook written: {hook.install()}")
            return 0
        if args.action == "uninstall":
            print(f"start-up hook removed: {path}" if hook.uninstall() else f"not installed: {path} does not exist")
            return 0
    except OSError as exc:
        print(f"error: cannot {args.action} the start-up hook {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"installed: {path}" if hook.is_installed() else "not installed")
    return 0 if hook.is_installed() else 3


def cmd_init(args: argparse.Namespace) -> int:
    install_hook_or_warn()
    target = target_of(args)
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"wrote {write_launchpad_yaml(folder / 'my_launchpad.yaml', target)}")
    print(f"wrote {write_fworker_yaml(folder / 'my_fworker.yaml')}")
    if uses_embedded(args):
        print("database: the embedded SecantusDB; start it with `perovflow db start`")
    return 0


def add_parsers(commands: Any) -> None:
    db = commands.add_parser("db", help="the embedded SecantusDB server (over the wire only)")
    db.add_argument("action", choices=["start", "stop", "status"])
    db.add_argument("--port", type=int, default=server.DEFAULT_PORT)
    db.add_argument("--storage", help=f"data folder (default {server.default_storage()})")
    db.set_defaults(func=cmd_db)

    hook_parser = commands.add_parser("hook", help="the start-up hook: FireWorks fixes in every process, "
                                      "thread and BLAS settings in perovflow's own")
    hook_parser.add_argument("action", choices=["install", "uninstall", "status"])
    hook_parser.set_defaults(func=cmd_hook)

    init = commands.add_parser("init", help="write my_launchpad.yaml and my_fworker.yaml")
    add_target_options(init)
    init.add_argument("-d", "--dir", default=".", help="folder to write them in")
    init.set_defaults(func=cmd_init)
