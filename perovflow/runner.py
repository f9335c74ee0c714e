"""Submitting campaigns and running local rlaunch workers."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from perovflow.config import Campaign
from perovflow.db.connection import DatabaseTarget, launchpad, write_launchpad_yaml


class SubmitError(RuntimeError):
    pass


def campaign_workflows(lp, name: str) -> list[dict]:
    return list(lp.workflows.find({"metadata.campaign": name}, {"state": 1, "nodes": 1}))


def ensure_initialised(lp) -> None:
    """Give a brand-new database FireWorks' id counters and indexes (never resets data)."""
    if lp.fw_id_assigner.count_documents({}) == 0 and lp.fireworks.count_documents({}) == 0:
        lp._restart_ids(1, 1)
        lp.tuneup(bkground=False)


def remove_campaign(lp, name: str) -> dict[str, int]:
    """Delete a campaign's workflows and every document and file it stored."""
    from perovflow.db.store import Store

    removed = {"workflows": 0}
    for doc in campaign_workflows(lp, name):
        lp.delete_wf(doc["nodes"][0], delete_launch_dirs=False)
        removed["workflows"] += 1
    store = Store(lp.db, name)
    for doc in lp.db.features.find({"campaign": name}, {"file_id": 1}):
        store.feature_files.delete(doc["file_id"])
    for doc in lp.db.models.find({"campaign": name}, {"file_id": 1}):
        store.model_files.delete(doc["file_id"])
    for collection in ("structures", "calculations", "features", "models", "selections", "al_iterations"):
        removed[collection] = lp.db[collection].delete_many({"campaign": name}).deleted_count
    return removed


def submit(campaign: Campaign, target: DatabaseTarget, again: bool = False,
           replace: bool = False) -> list[int]:
    """Add the campaign's workflow to the LaunchPad; returns the new fw_ids.

    ``again``: add it although it exists (stored labels are reused); ``replace``: delete
    the campaign's workflows and data first.
    """
    from perovflow.db.store import Store
    from perovflow.fw.workflows import initial_workflow

    lp = launchpad(target)
    ensure_initialised(lp)
    existing = campaign_workflows(lp, campaign.name)
    if existing and replace:
        remove_campaign(lp, campaign.name)
    elif existing and not again:
        raise SubmitError(
            f"campaign {campaign.name!r} is already submitted to {target.database} "
            f"({len(existing)} workflow(s), state {existing[0].get('state')}); see `perovflow status`, "
            "pass --again to add it once more (stored labels are reused) or --replace to start over"
        )
    workflow = initial_workflow(campaign, target)
    Store(lp.db, campaign.name).ensure_indexes()
    mapping = lp.add_wf(workflow)
    return sorted(mapping.values())


def rlaunch_command(launchpad_file: Path, sleep: int = 1, fworker_file: Path | None = None) -> list[str]:
    exe = Path(sys.executable).parent / "rlaunch"
    command = [str(exe), "-l", str(launchpad_file)]
    if fworker_file:
        command += ["-w", str(fworker_file)]
    return command + ["-s", "rapidfire", "--nlaunches", "0", "--sleep", str(sleep)]


def start_workers(n: int, target: DatabaseTarget, run_dir: Path, sleep: int = 1) -> list[subprocess.Popen]:
    """Start ``n`` rlaunch rapidfire workers, each in its own folder with its own log."""
    run_dir.mkdir(parents=True, exist_ok=True)
    launchpad_file = write_launchpad_yaml(run_dir / "my_launchpad.yaml", target)
    workers = []
    for index in range(n):
        folder = run_dir / f"worker_{index}"
        folder.mkdir(exist_ok=True)
        log = open(folder / "rlaunch.log", "ab")
        workers.append(subprocess.Popen(
            rlaunch_command(launchpad_file.resolve(), sleep=sleep), cwd=folder,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PEROVFLOW_TORCH_THREADS": os.environ.get("PEROVFLOW_TORCH_THREADS", "1")},
        ))
        log.close()
    return workers


def wait_for(workers: list[subprocess.Popen], progress=None, poll: float = 2.0) -> list[int]:
    while any(w.poll() is None for w in workers):
        if progress is not None:
            progress()
        time.sleep(poll)
    if progress is not None:
        progress()
    return [w.returncode for w in workers]
