"""``perovflow db``, ``perovflow hook`` and ``perovflow init``: where the database is, its
backups, and what every process of the environment needs."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from perovflow.examples import example_files, examples, write_example
from perovflow.fireworks import hook
from perovflow.store import credentials, server
from perovflow.store.connection import (
    DatabaseTarget,
    DatabaseUnreachable,
    check_reachable,
    resolve,
    write_fworker_yaml,
    write_launchpad_yaml,
)

log = logging.getLogger(__name__)


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uri", help="MongoDB URI of your own server (nothing is started)")
    parser.add_argument("-l", "--launchpad", help="FireWorks my_launchpad.yaml to use")
    parser.add_argument("--database", help="database name (default perovflow)")


def target_of(args: argparse.Namespace, check: bool = True) -> DatabaseTarget:
    """The database the flags name; with ``check``, one that answered within
    ``PEROVFLOW_CONNECT_TIMEOUT`` seconds (default 2), else :class:`DatabaseUnreachable`."""
    target = resolve(uri=args.uri, launchpad_file=args.launchpad, database=args.database)
    if check:
        log.debug("connecting to %s (database %s)", target.redacted_uri(), target.database)
        try:
            check_reachable(target)
        except DatabaseUnreachable as exc:
            hint = "; start it with `perovflow db start`" if uses_embedded(args) else ""
            raise DatabaseUnreachable(f"{exc}{hint}") from None
    return target


def uses_embedded(args: argparse.Namespace) -> bool:
    return not (args.uri or args.launchpad or os.environ.get("PEROVFLOW_URI") or Path("my_launchpad.yaml").exists())


def check_named_database(args: argparse.Namespace) -> None:
    """A database the user named must answer before a campaign file loads the science stack
    (seconds): a wrong address is then said within the connect timeout. The embedded one is
    started later, after the file was found valid."""
    if not uses_embedded(args):
        target_of(args)


def ensure_database(args: argparse.Namespace) -> None:
    """Start the embedded server when no other database was named."""
    if uses_embedded(args):
        state, started = server.start(port=server.DEFAULT_PORT)
        if started:
            print(f"started the embedded database at {state.uri} (storage {state.storage})")


def _tls(args: argparse.Namespace) -> server.TlsFiles | None:
    if not (args.tls_cert or args.tls_key or args.tls_ca):
        return None
    if not (args.tls_cert and args.tls_key):
        raise SystemExit("error: --tls-cert and --tls-key go together (PEM files); --tls-ca is optional")
    for flag, value in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key), ("--tls-ca", args.tls_ca)):
        if value and not Path(value).is_file():
            raise SystemExit(f"error: {flag}: no such file {value}")
    return server.TlsFiles(cert=str(Path(args.tls_cert).resolve()), key=str(Path(args.tls_key).resolve()),
                           ca=str(Path(args.tls_ca).resolve()) if args.tls_ca else None)


def _describe(state: server.ServerState) -> str:
    security = "password required" if state.auth else "NO authentication"
    if state.tls_ca:
        security += ", TLS"
    return f"SecantusDB pid {state.pid} at {state.uri} (storage {state.storage}; {security})"


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
        if args.host not in ("127.0.0.1", "localhost", "::1") and (args.no_auth or not args.tls_cert):
            print(f"error: --host {args.host} lets other machines connect; that needs the password (no --no-auth) "
                  "and TLS (--tls-cert/--tls-key), see docs/security.md", file=sys.stderr)
            return 2
        state, started = server.start(port=args.port, storage=storage, host=args.host, auth=not args.no_auth,
                                      sync_on_commit=not args.no_sync_on_commit, tls=_tls(args))
        print(f"{'started' if started else 'already running'}: {_describe(state)}")
        if state.auth:
            print(f"credentials: {credentials.credentials_path(Path(state.storage))} (yours only; "
                  "`perovflow init` copies them into my_launchpad.yaml for lpad and rlaunch)")
    elif args.action == "stop":
        state = server.stop(storage)
        print(f"stopped pid {state.pid}" if state else "no server was running")
    else:
        state = server.status(storage)
        if state is None:
            print("not running")
            return 3
        print(f"running: {_describe(state)}")
    return 0


def _progress(name: str, total: int):
    from tqdm import tqdm

    # only for collections worth watching, and only on a terminal (disable=None)
    return tqdm(desc=name, total=total, unit="doc", leave=False, disable=None if total >= 10_000 else True)


def _database(args: argparse.Namespace):
    ensure_database(args)
    target = target_of(args)
    return target, target.client()[target.database]


def cmd_backup(args: argparse.Namespace) -> int:
    from pymongo.errors import PyMongoError

    from perovflow.store.backup import BackupError, backup

    started = time.perf_counter()
    target, db = _database(args)
    try:
        manifest = backup(db, Path(args.dir), force=args.force, progress=_progress)
    except (BackupError, PyMongoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.client.close()
    collections = manifest["collections"]
    print(f"backed up database {target.database!r}: {len(collections)} collections, "
          f"{sum(c['documents'] for c in collections):,} documents, {sum(c['bytes'] for c in collections) / 1e6:.1f} MB "
          f"in {time.perf_counter() - started:.1f} s -> {args.dir}")
    if manifest["busy_fireworks"]:
        print(f"note: taken with --force while these Fireworks were in flight: fw_id "
              f"{', '.join(map(str, manifest['busy_fireworks']))}; after a restore, `perovflow run FILE --resume` "
              "runs them again")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from pymongo.errors import PyMongoError

    from perovflow.store.restore import RestoreError, read_manifest, restore

    started = time.perf_counter()
    try:
        manifest = read_manifest(Path(args.dir))
    except RestoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    target, db = _database(args)
    try:
        counts = restore(db, Path(args.dir), replace=args.replace, progress=_progress)
    except (RestoreError, PyMongoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.client.close()
    print(f"restored the backup of {manifest['database']!r} taken {manifest['created']:%Y-%m-%d %H:%M:%S %Z} into "
          f"{target.database!r}: {len(counts)} collections, {sum(counts.values()):,} documents in "
          f"{time.perf_counter() - started:.1f} s")
    width = max(map(len, counts), default=0)
    for name, count in counts.items():
        print(f"  {name:<{width}}  {count:>9,}")
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
    target = target_of(args, check=False)
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "my_launchpad.yaml", folder / "my_fworker.yaml"]
    if args.example and args.example not in examples():
        print(f"error: --example: got {args.example!r}; allowed: {', '.join(examples())}", file=sys.stderr)
        return 2
    present = [str(path) for path in files + example_files(args.example, folder) if path.exists()]
    if present and not args.force:
        print(f"error: {', '.join(present)} exist; pass --force to overwrite", file=sys.stderr)
        return 2
    if args.example:
        for written in write_example(args.example, folder, force=args.force):
            print(f"wrote {written}")
    print(f"wrote {write_launchpad_yaml(files[0], target)} (mode 600: it holds how to log in)")
    print(f"wrote {write_fworker_yaml(files[1], category=args.category)}"
          + (f" (takes only jobs of category {args.category!r})" if args.category else ""))
    if uses_embedded(args):
        print("database: the embedded SecantusDB; start it with `perovflow db start`")
    return 0


def add_parsers(commands: Any) -> None:
    db = commands.add_parser("db", help="the embedded SecantusDB server; backups of any database")
    actions = db.add_subparsers(dest="action", required=True)
    for action, text in (("start", "start the embedded server (over the wire only)"),
                         ("stop", "stop it by its pid"), ("status", "is it running")):
        server_action = actions.add_parser(action, help=text)
        server_action.add_argument("--port", type=int, default=server.DEFAULT_PORT)
        server_action.add_argument("--storage", help=f"data folder (default {server.default_storage()})")
        server_action.set_defaults(func=cmd_db)
        if action == "start":
            server_action.add_argument(
                "--no-auth", action="store_true",
                help="start without authentication: anyone who reaches the port can run code as your workers "
                     "(see docs/security.md)")
            server_action.add_argument(
                "--no-sync-on-commit", action="store_true",
                help="do not fsync at every commit (by default no acknowledged write is lost to a power cut; "
                     "on the demo the fsync cost nothing measurable)")
            server_action.add_argument(
                "--host", default=server.DEFAULT_HOST,
                help=f"interface (IP address) to listen on (default {server.DEFAULT_HOST}: this machine only); "
                     "another one lets compute nodes connect and needs TLS")
            server_action.add_argument("--tls-cert", help="server certificate (PEM) for TLS")
            server_action.add_argument("--tls-key", help="its private key (PEM)")
            server_action.add_argument("--tls-ca",
                                       help="CA certificate clients trust (default: --tls-cert, if self-signed)")

    backup = actions.add_parser("backup", help="copy every collection of the database (FireWorks' and GridFS "
                                               "included) as BSON into DIR, with a manifest of checksums")
    backup.add_argument("dir", help="a new or empty folder (made mode 700, files 600)")
    backup.add_argument("--force", action="store_true",
                        help="copy although Fireworks are RUNNING/RESERVED; `perovflow run FILE --resume` "
                             "finishes from such a copy (those jobs run again)")
    add_target_options(backup)
    backup.set_defaults(func=cmd_backup)

    restore = actions.add_parser("restore", help="put a backup into an empty database (checksums checked first)")
    restore.add_argument("dir", help="a folder written by `perovflow db backup`")
    restore.add_argument("--replace", action="store_true",
                         help="drop every collection of the target database first")
    add_target_options(restore)
    restore.set_defaults(func=cmd_restore)

    hook_parser = commands.add_parser("hook", help="the start-up hook: FireWorks fixes in every process, "
                                      "thread and BLAS settings in perovflow's own")
    hook_parser.add_argument("action", choices=["install", "uninstall", "status"])
    hook_parser.set_defaults(func=cmd_hook)

    init = commands.add_parser("init", help="write my_launchpad.yaml and my_fworker.yaml")
    add_target_options(init)
    init.add_argument("-d", "--dir", default=".", help="folder to write them in")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.add_argument("--example", metavar="NAME",
                      help="also write the example campaign NAME.yaml (demo, cssn_clbri3, cspb_clbr3, cspbbr3_ccd) "
                           "and the SLURM/PBS templates (launchers/) shipped with perovflow")
    init.add_argument("--category", default="",
                      help="the worker takes only jobs of this FireWorks category: a campaign's queues.dft "
                           "(default dft: labels, engine relaxations) or queues.ml (default ml); default: every job")
    init.set_defaults(func=cmd_init)
