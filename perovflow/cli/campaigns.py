"""``perovflow submit``, ``perovflow run`` and ``perovflow status``: campaigns on FireWorks.

The FireWorks and science stacks load when a command runs (a second or two), not when the
parser is built, so ``perovflow db ...`` and ``--help`` stay fast.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perovflow.cli.database import add_target_options, check_named_database, ensure_database, target_of

if TYPE_CHECKING:
    from perovflow.settings import CampaignSettings

log = logging.getLogger(__name__)


def _load(path: str) -> CampaignSettings | None:
    """The campaign file, valid and with an engine set up on this machine, or None (said why)."""
    from perovflow.engines import setup_problems
    from perovflow.extras import check_engine
    from perovflow.settings import CampaignError, load_campaign  # loads the science stack (a second)

    try:
        campaign = load_campaign(path)
    except CampaignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    labelling = campaign.labelling
    check_engine(labelling.engine)  # MissingExtra: exit code 6, naming the extra
    problems = setup_problems(labelling.engine, labelling.options, campaign.system.species)
    if problems:
        print(f"error: {path}: {labelling.engine} is not set up as the campaign asks (nothing was submitted): "
              + "; ".join(problems), file=sys.stderr)
        return None
    return campaign


def cmd_submit(args: argparse.Namespace) -> int:
    if args.output and not args.dry_run:
        print("error: -o/--output writes the workflow of --dry-run; pass --dry-run too", file=sys.stderr)
        return 2
    if args.dry_run:
        return _dry_run(args)
    check_named_database(args)
    campaign = _load(args.file)
    if campaign is None:
        return 2
    ensure_database(args)
    target = target_of(args)
    from perovflow.fireworks.manager import SubmitError, submit  # loaded on use (see module docstring)

    log.info("campaign %s valid; submitting to database %s at %s", campaign.name, target.database,
             target.redacted_uri())
    try:
        ids = submit(campaign, target, again=args.again, replace=args.replace)
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"submitted campaign {campaign.name}: {len(ids)} Fireworks (fw_id {ids[0]}..{ids[-1]}); "
          "more are added as the campaign runs. Start workers with `rlaunch rapidfire` or `perovflow run`.")
    return 0


def _dry_run(args: argparse.Namespace) -> int:
    """The workflow ``submit`` would add, without a database: printed, or written as a
    FireWorks file that ``lpad add`` takes (the jobs name only the database, never its address)."""
    campaign = _load(args.file)
    if campaign is None:
        return 2
    from perovflow.campaign.initial import first_jobs  # loaded on use (see module docstring)
    from perovflow.fireworks.builder import campaign_workflow
    from perovflow.fireworks.tasks import CampaignStepTask

    workflow = campaign_workflow(campaign, target_of(args, check=False), first_jobs(campaign), CampaignStepTask)
    names = [fw.name for fw in workflow.fws]
    if args.output:
        workflow.to_file(args.output)
        print(f"wrote {args.output}: campaign {campaign.name}, {len(names)} Fireworks for database "
              f"{workflow.fws[0].spec['_perovflow_db']['database']!r}; add it with `lpad -l my_launchpad.yaml add "
              f"{args.output}` (a database FireWorks has not used yet: `lpad reset` first), then start workers "
              "(`rlaunch rapidfire`)")
    else:
        print(f"campaign {campaign.name} is valid; submitting it adds {len(names)} Fireworks: " + ", ".join(names))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    check_named_database(args)
    # loaded on use (see module docstring)
    from perovflow.fireworks.manager import (
        SettingsChanged,
        SubmitError,
        release_stale_locks,
        rerun_failed,
        rerun_stranded,
        start_workers,
        stop_workers,
        submit,
    )

    campaign = _load(args.file)
    if campaign is None:
        return 2
    ensure_database(args)
    target = target_of(args)
    started = time.perf_counter()
    try:
        submit(campaign, target, again=args.again, replace=args.replace)
    except SubmitError as exc:
        if not args.resume or isinstance(exc, SettingsChanged):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        released = release_stale_locks(target, campaign.name)
        if released:
            print(f"released the lock of {len(released)} workflow(s) whose holder no longer runs")
        stranded = rerun_stranded(target, campaign.name)
        print(f"resuming campaign {campaign.name}" + (f": {len(stranded)} interrupted job(s) set to run again "
                                                      f"(fw_id {', '.join(map(str, stranded))})" if stranded else ""))
        if args.retry_failed:
            failed = rerun_failed(target, campaign.name)
            print(f"{len(failed)} failed job(s) set to run again" + (f" (fw_id {', '.join(map(str, failed))})"
                                                                     if failed else ""))
    run_dir = Path(args.run_dir or f"runs/{campaign.name}")
    workers = start_workers(args.workers, target, run_dir)
    print(f"{args.workers} rlaunch workers running in {run_dir}/worker_*/ (logs: rlaunch.log)")
    try:
        with _stopping_on_sigterm():
            return _follow(args, campaign, target, workers, run_dir, started)
    except KeyboardInterrupt:
        print(f"interrupted: stopped the workers; `perovflow run {args.file} --resume` goes on", file=sys.stderr)
        return 130
    finally:
        stop_workers(workers, timeout=10)


@contextmanager
def _stopping_on_sigterm() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C (its ``finally`` stops the workers)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _follow(args: argparse.Namespace, campaign: CampaignSettings, target: Any, workers: list, run_dir: Path,
            started: float) -> int:
    """Wait for the campaign with a progress bar, then summarise; the exit code."""
    from tqdm import tqdm  # loaded on use (see module docstring)

    from perovflow.analysis.summary import format_blocking, format_summary, job_states, summary
    from perovflow.fireworks.manager import wait_for
    from perovflow.fireworks.watchdog import Watchdog
    from perovflow.store.connection import launchpad

    lp = launchpad(target)
    db = lp.db
    bar = tqdm(total=0, unit="job", desc=campaign.name, disable=args.quiet)

    def progress() -> None:
        states = job_states(db, campaign.name)
        bar.total = sum(states.values())
        bar.n = states.get("COMPLETED", 0) + states.get("FIZZLED", 0)
        bar.set_postfix_str(" ".join(f"{k[:4]}={v}" for k, v in states.items()))
        bar.refresh()

    watchdog = Watchdog(lp, campaign.name, report=lambda found: tqdm.write(f"watchdog: {found.describe()}"))
    codes = wait_for(workers, db, campaign.name, progress, watchdog=watchdog)
    bar.close()
    info = summary(db, campaign.name)
    print(format_summary(info))
    print(f"wall time {time.perf_counter() - started:.1f} s; data in {target.database} at {target.redacted_uri()} "
          f"(collections structures, calculations, models; query with pymongo, see docs/schema.md)")
    if args.json:
        Path(args.json).write_text(json.dumps({**info, "wall_seconds": time.perf_counter() - started},
                                              default=str, indent=1))
    figures = _figures(db, campaign.name, info, run_dir)
    if figures:
        print("figures: " + ", ".join(str(f) for f in figures))
    crashed = [code for code in codes if code not in (None, 0)]
    if crashed:
        print(f"warning: workers ended with exit codes {crashed}; see their rlaunch.log", file=sys.stderr)
    blocking = format_blocking(info["fizzled"])
    if blocking:
        print("campaign failed: a job it cannot finish without failed for good\n  " + "\n  ".join(blocking)
              + f"\nfix the cause, then `perovflow run {args.file} --resume --retry-failed`", file=sys.stderr)
        return 1
    incomplete = {k: v for k, v in info["jobs"].items() if k not in ("COMPLETED", "FIZZLED")}
    if incomplete:
        print(f"campaign not finished: {incomplete}; run `perovflow run {args.file} --resume` "
              "or start rlaunch workers", file=sys.stderr)
    return 1 if incomplete or crashed else 0


def _figures(db: Any, campaign: str, info: dict, folder: Path) -> list[Path]:
    from perovflow.analysis.plots import campaign_figures  # matplotlib: loaded on use
    from perovflow.analysis.selection import selection_overview

    final = db.al_iterations.find_one({"campaign": campaign, "stage": "final"}, {"relaxation_test": 1})
    mixing = ((final or {}).get("relaxation_test") or {}).get("mixing_enthalpies", [])
    return campaign_figures(info, mixing, folder, selection=selection_overview(db, campaign))


def cmd_retry(args: argparse.Namespace) -> int:
    target = target_of(args)
    from perovflow.fireworks.manager import rerun_failed  # loaded on use

    failed = rerun_failed(target, args.campaign)
    if not failed:
        print(f"campaign {args.campaign}: no failed job")
        return 0
    print(f"campaign {args.campaign}: {len(failed)} failed job(s) set to run again (fw_id "
          f"{', '.join(map(str, failed))}); failed labels are tried again up to labelling.max_attempts. "
          "Start workers (`rlaunch rapidfire` or `perovflow run FILE --resume`).")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    target = target_of(args)  # before the science stack loads: an unreachable database is said at once
    from perovflow.analysis.summary import format_summary, summary  # loaded on use
    from perovflow.store.connection import launchpad

    db = launchpad(target).db
    names = [args.campaign] if args.campaign else sorted(
        {doc["metadata"]["campaign"] for doc in db.workflows.find({"metadata.perovflow": True}, {"metadata": 1})}
    )
    if args.json:
        print(json.dumps({"database": target.database, "campaigns": {name: summary(db, name) for name in names}},
                         default=str, indent=1))
        return 0
    if not names:
        print("no campaigns in this database")
    for name in names:
        print(format_summary(summary(db, name)))
    return 0


def add_parsers(commands: Any) -> None:
    submit = commands.add_parser("submit", help="validate a campaign file and add its workflow")
    submit.add_argument("file")
    submit.add_argument("--again", action="store_true", help="submit although the campaign exists")
    submit.add_argument("--replace", action="store_true", help="delete the campaign's jobs and data first")
    submit.add_argument("--dry-run", action="store_true",
                        help="validate and build the workflow without touching the database")
    submit.add_argument("-o", "--output", help="with --dry-run: write the workflow here (.yaml or .json) for `lpad add`")
    add_target_options(submit)
    submit.set_defaults(func=cmd_submit)

    run = commands.add_parser("run", help="submit, run N local rlaunch workers, wait, summarise")
    run.add_argument("file")
    run.add_argument("--workers", type=int, default=2, help="number of local rlaunch worker processes (default 2)")
    run.add_argument("--run-dir", help="where workers run (default runs/<campaign>)")
    run.add_argument("--again", action="store_true", help="submit although the campaign exists")
    run.add_argument("--replace", action="store_true", help="delete the campaign's jobs and data first")
    run.add_argument("--resume", action="store_true",
                     help="campaign exists: run workers on it; jobs left RUNNING by stopped workers run again "
                          "(only use it when no other worker runs this campaign)")
    run.add_argument("--retry-failed", action="store_true",
                     help="with --resume: run failed jobs again (failed labels up to labelling.max_attempts)")
    run.add_argument("--json", help="also write the summary as JSON here")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    add_target_options(run)
    run.set_defaults(func=cmd_run)

    retry = commands.add_parser("retry", help="set a campaign's failed jobs to run again")
    retry.add_argument("campaign")
    add_target_options(retry)
    retry.set_defaults(func=cmd_retry)

    status = commands.add_parser("status", help="jobs, data and learning curve of campaigns")
    status.add_argument("campaign", nargs="?")
    status.add_argument("--json", action="store_true",
                        help="print the summaries as one JSON object (energies in meV/atom, times in s)")
    add_target_options(status)
    status.set_defaults(func=cmd_status)
