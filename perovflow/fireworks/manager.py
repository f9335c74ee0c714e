"""Submitting campaigns, running local rlaunch workers and waiting for them."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perovflow.analysis.summary import failed_jobs
from perovflow.campaign.initial import first_jobs
from perovflow.fireworks.builder import campaign_workflow
from perovflow.fireworks.fixes import holder_gone
from perovflow.fireworks.tasks import CampaignStepTask
from perovflow.processes import engine_popen_options, signal_main_thread
from perovflow.settings import CampaignSettings, with_added_settings
from perovflow.store.connection import DatabaseTarget, launchpad, write_fworker_yaml, write_launchpad_yaml
from perovflow.store.store import Store


class SubmitError(RuntimeError):
    pass


class SettingsChanged(SubmitError):
    """The campaign was run with other settings; its stored results belong to those."""


def campaign_workflows(lp, name: str) -> list[dict]:
    return list(lp.workflows.find({"metadata.campaign": name}, {"state": 1, "nodes": 1}))


def ensure_initialised(lp) -> None:
    """Give a brand-new database FireWorks' id counters and indexes (never resets data)."""
    if lp.fw_id_assigner.count_documents({}) == 0 and lp.fireworks.count_documents({}) == 0:
        lp._restart_ids(1, 1)
        lp.tuneup(bkground=False)


def remove_campaign(lp, name: str) -> dict[str, int]:
    """Delete a campaign's workflows and every document and file it stored."""
    removed = {"workflows": 0}
    for doc in campaign_workflows(lp, name):
        lp.delete_wf(doc["nodes"][0], delete_launch_dirs=False)
        removed["workflows"] += 1
    return {**removed, **Store(lp.db, name).delete_campaign()}


def settings_changes(stored: dict[str, Any], given: dict[str, Any], prefix: str = "") -> list[str]:
    """``section.key: old -> new`` for every setting that differs."""
    changes = []
    for key in sorted(set(stored) | set(given)):
        old, new = stored.get(key), given.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(settings_changes(old, new, f"{prefix}{key}."))
        elif old != new:
            changes.append(f"{prefix}{key}: {old!r} -> {new!r}")
    return changes


def submit(campaign: CampaignSettings, target: DatabaseTarget, again: bool = False,
           replace: bool = False) -> list[int]:
    """Add the campaign's workflow to the LaunchPad; returns the new fw_ids.

    ``again``: add it although it exists (stored labels are reused); ``replace``: delete
    the campaign's workflows and data first.
    """
    lp = launchpad(target)
    ensure_initialised(lp)
    store = Store(lp.db, campaign.name)
    existing = campaign_workflows(lp, campaign.name)
    if replace:  # also when a --replace crashed after removing the workflows: start from what is left
        remove_campaign(lp, campaign.name)
        existing = []
    stored = store.stored_settings()
    changes = settings_changes(with_added_settings(stored), campaign.as_dict()) if stored is not None else []
    if changes:
        raise SettingsChanged(
            f"campaign {campaign.name!r} in {target.database} was run with other settings: {'; '.join(changes)}. "
            "Its stored results belong to those; pass --replace to start over with the new ones (or use a new "
            "campaign name)")
    if existing and not again:
        raise SubmitError(
            f"campaign {campaign.name!r} is already submitted to {target.database} "
            f"({len(existing)} workflow(s), state {existing[0].get('state')}); see `perovflow status`, "
            "pass --again to add it once more (stored labels are reused) or --replace to start over"
        )
    workflow = campaign_workflow(campaign, target, first_jobs(campaign), CampaignStepTask)
    store.ensure_indexes()
    store.save_settings(campaign.as_dict())
    mapping = lp.add_wf(workflow)
    return sorted(mapping.values())


def rerun_stranded(target: DatabaseTarget, campaign: str) -> list[int]:
    """Put the campaign's RUNNING/RESERVED Fireworks back to READY: after every worker and
    the database were stopped, nobody runs them any more. Their tasks reuse what is stored."""
    lp = launchpad(target)
    stranded = [doc["fw_id"] for doc in lp.fireworks.find(
        {"spec.campaign.name": campaign, "state": {"$in": ["RUNNING", "RESERVED"]}}, {"fw_id": 1})]
    for fw_id in stranded:
        lp.rerun_fw(fw_id)
    # a worker killed while FireWorks wrote a job's and then its children's states leaves a
    # child WAITING for parents that are done; a refresh of its workflow makes it READY
    for doc in lp.fireworks.find({"spec.campaign.name": campaign, "state": "WAITING"}, {"fw_id": 1}):
        if lp.workflows.find_one({"nodes": doc["fw_id"]}, {"_id": 1}) is None:
            continue  # left by a worker killed inside add_wf; its parent's rerun replaces it
        lp._refresh_wf(doc["fw_id"])
    return stranded


def release_locks(lp, campaign: str | None, stale: Callable[[dict | None], bool]) -> list[int]:
    """Unlock the workflows of ``campaign`` (of every perovflow campaign when None) whose lock
    holder (``locked_by``, None from a FireWorks without perovflow's fixes) is ``stale``.
    Returns the first fw_id of each workflow released."""
    query = {"metadata.campaign": campaign} if campaign else {"metadata.perovflow": True}
    released = []
    for doc in lp.workflows.find({**query, "locked": True}, {"nodes": 1, "locked_by": 1}):
        holder = doc.get("locked_by")
        if stale(holder):
            done = lp.workflows.update_one({"_id": doc["_id"], "locked": True, "locked_by": holder},
                                           {"$unset": {"locked": True, "locked_by": True}})
            if done.modified_count:
                released.append(doc["nodes"][0])
    return released


def release_stale_locks(target: DatabaseTarget, campaign: str) -> list[int]:
    """On a resume: unlock the campaign's workflows whose lock holder no longer runs (or
    names no holder: no worker of the campaign runs yet)."""
    return release_locks(launchpad(target), campaign, lambda holder: holder is None or holder_gone(holder))


def rerun_failed(target: DatabaseTarget, campaign: str) -> list[int]:
    """Put the campaign's FIZZLED Fireworks back to READY; their labelling steps try failed
    labels again (up to ``labelling.max_attempts``)."""
    lp = launchpad(target)
    failed = [doc["fw_id"] for doc in lp.fireworks.find({"spec.campaign.name": campaign, "state": "FIZZLED"},
                                                          {"fw_id": 1})]
    for fw_id in failed:
        lp.rerun_fw(fw_id)
    return failed


def rlaunch_command(launchpad_file: Path, sleep: int = 1, fworker_file: Path | None = None) -> list[str]:
    exe = Path(sys.executable).parent / "rlaunch"
    command = [str(exe), "-l", str(launchpad_file)]
    if fworker_file:
        command += ["-w", str(fworker_file)]
    # "infinite": a worker must not quit while another one runs a job that will add more
    # (selection, fits); perovflow stops its own workers when the campaign is finished
    return command + ["-s", "rapidfire", "--nlaunches", "infinite", "--sleep", str(sleep)]


def start_workers(n: int, target: DatabaseTarget, run_dir: Path, sleep: int = 1,
                  categories: list[str] | None = None) -> list[subprocess.Popen]:
    """Start ``n`` rlaunch rapidfire workers, each in its own folder with its own log. Each
    gets a process group of its own (a Ctrl-C reaches only the caller, which stops them in
    order) and dies with the process that started it, so no worker outlives its runner.
    ``categories``: worker i takes only the jobs of ``categories[i]`` (every job without)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    launchpad_file = write_launchpad_yaml(run_dir / "my_launchpad.yaml", target)
    workers = []
    for index in range(n):
        folder = run_dir / f"worker_{index}"
        folder.mkdir(exist_ok=True)
        fworker = None
        if categories:
            fworker = write_fworker_yaml(folder / "my_fworker.yaml", f"worker_{index}_{categories[index]}",
                                         category=categories[index]).resolve()
        log = open(folder / "rlaunch.log", "ab")
        workers.append(subprocess.Popen(
            rlaunch_command(launchpad_file.resolve(), sleep=sleep, fworker_file=fworker), cwd=folder,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PEROVFLOW_PROCESS": os.environ.get("PEROVFLOW_PROCESS", "1"),
                 "PEROVFLOW_TORCH_THREADS": os.environ.get("PEROVFLOW_TORCH_THREADS", "1")},
            **engine_popen_options(),
        ))
        log.close()
    return workers


ACTIVE_STATES = ("WAITING", "READY", "RESERVED", "RUNNING", "PAUSED")


def campaign_finished(db, campaign: str) -> bool:
    query = {"spec.campaign.name": campaign}
    return db.fireworks.count_documents(query, limit=1) > 0 and db.fireworks.count_documents(
        {**query, "state": {"$in": list(ACTIVE_STATES)}}, limit=1) == 0


def stop_workers(workers: list[subprocess.Popen], timeout: float = 30.0) -> None:
    for worker in workers:
        if worker.poll() is None:  # at the main thread, where rlaunch's handler runs (see signal_main_thread)
            signal_main_thread(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_for(workers: list[subprocess.Popen], db, campaign: str, progress=None,
             poll: float = 2.0, watchdog: Callable[[], Any] | None = None) -> list[int | None]:
    """Wait until the campaign has no active job (seen twice in a row, so that jobs added
    by a finishing Firework are not missed) or a job it cannot finish without failed for
    good, then stop the workers. ``watchdog`` is called every poll (it reruns the jobs of
    workers that died). Returns exit codes of workers that ended by themselves (None for
    those stopped here)."""
    finished_polls = 0
    while any(w.poll() is None for w in workers):
        if progress is not None:
            progress()
        if watchdog is not None:
            watchdog()
        if any(row["blocking"] for row in failed_jobs(db, campaign)):
            break
        finished_polls = finished_polls + 1 if campaign_finished(db, campaign) else 0
        if finished_polls >= 2:
            break
        time.sleep(poll)
    codes = [w.poll() for w in workers]
    stop_workers(workers)
    if progress is not None:
        progress()
    return codes
