"""The ``perovflow`` command."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import perovflow  # noqa: F401  (start-up settings before numpy and FireWorks load)
from perovflow import hook
from perovflow.db import server


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uri", help="MongoDB URI of your own server (nothing is started)")
    parser.add_argument("-l", "--launchpad", help="FireWorks my_launchpad.yaml to use")
    parser.add_argument("--database", help="database name (default perovflow)")


def _target(args):
    from perovflow.db.connection import resolve

    return resolve(uri=args.uri, launchpad_file=args.launchpad, database=args.database)


def _uses_embedded(args) -> bool:
    import os

    return not (args.uri or args.launchpad or os.environ.get("PEROVFLOW_URI") or Path("my_launchpad.yaml").exists())


def cmd_db(args) -> int:
    storage = Path(args.storage).expanduser() if args.storage else None
    if args.action == "start":
        hook.install()
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


def cmd_hook(args) -> int:
    if args.action == "install":
        print(f"start-up hook written: {hook.install()}")
        return 0
    print(f"installed: {hook.pth_path()}" if hook.is_installed() else "not installed")
    return 0 if hook.is_installed() else 3


def cmd_init(args) -> int:
    from perovflow.db.connection import write_fworker_yaml, write_launchpad_yaml

    hook.install()
    target = _target(args)
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"wrote {write_launchpad_yaml(folder / 'my_launchpad.yaml', target)}")
    print(f"wrote {write_fworker_yaml(folder / 'my_fworker.yaml')}")
    if _uses_embedded(args):
        print("database: the embedded SecantusDB; start it with `perovflow db start`")
    return 0


def _load(path: str):
    from perovflow.config import CampaignError, load_campaign

    try:
        return load_campaign(path)
    except CampaignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _ensure_database(args) -> None:
    if _uses_embedded(args):
        state, started = server.start(port=server.DEFAULT_PORT)
        if started:
            print(f"started the embedded database at {state.uri} (storage {state.storage})")


def cmd_submit(args) -> int:
    from perovflow.runner import SubmitError, submit

    campaign = _load(args.file)
    if campaign is None:
        return 2
    _ensure_database(args)
    try:
        ids = submit(campaign, _target(args), again=args.again, replace=args.replace)
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"submitted campaign {campaign.name}: {len(ids)} Fireworks (fw_id {ids[0]}..{ids[-1]}); "
          "more are added as the campaign runs. Start workers with `rlaunch rapidfire` or `perovflow run`.")
    return 0


def cmd_run(args) -> int:
    from tqdm import tqdm

    from perovflow.analysis.summary import format_summary, job_states, summary
    from perovflow.db.connection import launchpad
    from perovflow.runner import SubmitError, rerun_stranded, start_workers, submit, wait_for

    campaign = _load(args.file)
    if campaign is None:
        return 2
    _ensure_database(args)
    target = _target(args)
    started = time.perf_counter()
    try:
        submit(campaign, target, again=args.again, replace=args.replace)
    except SubmitError as exc:
        if not args.resume:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        stranded = rerun_stranded(target, campaign.name)
        print(f"resuming campaign {campaign.name}" + (f": {len(stranded)} interrupted job(s) set to run again "
                                                      f"(fw_id {', '.join(map(str, stranded))})" if stranded else ""))
    run_dir = Path(args.run_dir or f"runs/{campaign.name}")
    workers = start_workers(args.workers, target, run_dir)
    print(f"{args.workers} rlaunch workers running in {run_dir}/worker_*/ (logs: rlaunch.log)")
    db = launchpad(target).db
    bar = tqdm(total=0, unit="job", desc=campaign.name, disable=args.quiet)

    def progress():
        states = job_states(db, campaign.name)
        bar.total = sum(states.values())
        bar.n = states.get("COMPLETED", 0) + states.get("FIZZLED", 0)
        bar.set_postfix_str(" ".join(f"{k[:4]}={v}" for k, v in states.items()))
        bar.refresh()

    codes = wait_for(workers, db, campaign.name, progress)
    bar.close()
    info = summary(db, campaign.name)
    print(format_summary(info))
    print(f"wall time {time.perf_counter() - started:.1f} s; data in {target.database} at {target.uri} "
          f"(collections structures, calculations, models; query with pymongo, see docs/schema.md)")
    if args.json:
        Path(args.json).write_text(json.dumps({**info, "wall_seconds": time.perf_counter() - started}, default=str, indent=1))
    figures = _figures(db, campaign.name, info, run_dir)
    if figures:
        print("figures: " + ", ".join(str(f) for f in figures))
    crashed = [code for code in codes if code not in (None, 0)]
    if crashed:
        print(f"warning: workers ended with exit codes {crashed}; see their rlaunch.log", file=sys.stderr)
    incomplete = {k: v for k, v in info["jobs"].items() if k not in ("COMPLETED", "FIZZLED")}
    if incomplete:
        print(f"campaign not finished: {incomplete}; run `perovflow run {args.file} --resume` "
              "or start rlaunch workers", file=sys.stderr)
    return 1 if incomplete or crashed else 0


def _figures(db, campaign: str, info: dict, folder: Path) -> list[Path]:
    from perovflow.analysis.plots import campaign_figures
    from perovflow.analysis.selection import selection_overview

    final = db.al_iterations.find_one({"campaign": campaign, "stage": "final"}, {"relaxation_test": 1})
    mixing = ((final or {}).get("relaxation_test") or {}).get("mixing_enthalpies", [])
    return campaign_figures(info, mixing, folder, selection=selection_overview(db, campaign))


def cmd_status(args) -> int:
    from perovflow.analysis.summary import format_summary, summary
    from perovflow.db.connection import launchpad

    db = launchpad(_target(args)).db
    names = [args.campaign] if args.campaign else sorted(
        {doc["metadata"]["campaign"] for doc in db.workflows.find({"metadata.perovflow": True}, {"metadata": 1})}
    )
    if not names:
        print("no campaigns in this database")
    for name in names:
        print(format_summary(summary(db, name)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perovflow", description=__doc__)
    parser.add_argument("--version", action="version", version=f"perovflow {perovflow.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="the embedded SecantusDB server (over the wire only)")
    db.add_argument("action", choices=["start", "stop", "status"])
    db.add_argument("--port", type=int, default=server.DEFAULT_PORT)
    db.add_argument("--storage", help=f"data folder (default {server.default_storage()})")
    db.set_defaults(func=cmd_db)

    hook_parser = commands.add_parser("hook", help="the start-up hook that fixes FireWorks in every process")
    hook_parser.add_argument("action", choices=["install", "status"])
    hook_parser.set_defaults(func=cmd_hook)

    init = commands.add_parser("init", help="write my_launchpad.yaml and my_fworker.yaml")
    _add_target_options(init)
    init.add_argument("-d", "--dir", default=".", help="folder to write them in")
    init.set_defaults(func=cmd_init)

    submit = commands.add_parser("submit", help="validate a campaign file and add its workflow")
    submit.add_argument("file")
    submit.add_argument("--again", action="store_true", help="submit although the campaign exists")
    submit.add_argument("--replace", action="store_true", help="delete the campaign's jobs and data first")
    _add_target_options(submit)
    submit.set_defaults(func=cmd_submit)

    run = commands.add_parser("run", help="submit, run N local rlaunch workers, wait, summarise")
    run.add_argument("file")
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--run-dir", help="where workers run (default runs/<campaign>)")
    run.add_argument("--again", action="store_true", help="submit although the campaign exists")
    run.add_argument("--replace", action="store_true", help="delete the campaign's jobs and data first")
    run.add_argument("--resume", action="store_true",
                     help="campaign exists: run workers on it; jobs left RUNNING by stopped workers run again "
                          "(only use it when no other worker runs this campaign)")
    run.add_argument("--json", help="also write the summary as JSON here")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_target_options(run)
    run.set_defaults(func=cmd_run)

    status = commands.add_parser("status", help="jobs, data and learning curve of campaigns")
    status.add_argument("campaign", nargs="?")
    _add_target_options(status)
    status.set_defaults(func=cmd_status)

    try:
        from perovflow.structures.cli import add_pool_parser
    except ImportError:
        pass
    else:
        add_pool_parser(commands)
    try:
        from perovflow.selection.cli import add_select_parser
    except ImportError:
        pass
    else:
        add_select_parser(commands)
    try:
        from perovflow.ccd.cli import add_ccd_parser
    except ImportError:
        pass
    else:
        add_ccd_parser(commands)
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
