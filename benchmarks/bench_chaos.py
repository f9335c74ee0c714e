"""Fault injection: a small campaign with every stage (CHGNet labels) while its rlaunch
workers are SIGKILLed every few seconds and the database server is SIGKILLed and restarted
several times, each time resumed as `perovflow run --resume` does (stale locks released,
interrupted jobs set to run again). The same campaign runs once without faults.

Checked from the database afterwards: every Firework COMPLETED, no (structure, engine,
settings) labelled twice, every selected structure labelled or failed with a reason, the
same model tags as the fault-free run with the same test errors.

Run: ``python benchmarks/bench_chaos.py [--kills 50] [--restarts 3] [--interval 4]``.
Prints a table and saves JSON to ``benchmarks/results/chaos.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from perovflow.fireworks.manager import (  # noqa: E402
    campaign_finished,
    release_stale_locks,
    rerun_failed,
    rerun_stranded,
    start_workers,
    stop_workers,
    submit,
    wait_for,
)
from perovflow.settings import parse_campaign  # noqa: E402
from perovflow.store import server  # noqa: E402
from perovflow.store.connection import DatabaseTarget, embedded_target  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "chaos.json"
CAMPAIGN = {
    "campaign": "chaos",
    "system": {"a": "Cs", "b": "Pb", "x": ["Cl", "Br"]},
    "phases": ["Pm-3m", "Pnma"],
    "pool": {"per_composition": 2, "test_per_composition": 1, "seed": 3, "chunk_size": 40},
    "selection": {"clusters": 10, "batches": 2, "seed": 3, "min_size": 5},
    "labelling": {"engine": "chgnet", "group_size": 4},
    "active": {"enabled": True, "starts_per_phase": 2, "per_phase": 1, "test_per_phase": 1,
               "stage1_iterations": 2, "stage2_iterations": 1, "stage2_dft_steps": 3, "dft_max_steps": 12,
               "ml_max_steps": 50, "test_max_steps": 30, "seed": 5},
}


def outcome(db, campaign: str) -> dict:
    """What the campaign left in the database, for comparing runs."""
    states = Counter(fw["state"] for fw in db.fireworks.find({"spec.campaign.name": campaign}, {"state": 1}))
    slots = Counter((c["structure_id"], c["engine"], c["settings_hash"])
                    for c in db.calculations.find({}, {"structure_id": 1, "engine": 1, "settings_hash": 1}))
    selection = db.selections.find_one({"campaign": campaign, "name": "initial"}) or {"batches": []}
    selected = {sid for batch in selection["batches"] for sid in batch}
    done = {c["structure_id"] for c in db.calculations.find({"structure_id": {"$in": list(selected)}},
                                                            {"structure_id": 1, "status": 1, "reason": 1})
            if c["status"] == "completed" or c.get("reason")}
    models = [(m["tag"], m["metrics"]["test_energy_mae_mev_per_atom"])
              for m in db.models.find({"campaign": campaign}).sort("version", 1)]
    return {"states": dict(states), "duplicates": sum(n - 1 for n in slots.values() if n > 1),
            "lost_labels": len(selected - done), "labels": sum(slots.values()), "models": models}


def calm_run(target: DatabaseTarget, folder: Path) -> tuple[dict, float]:
    began = time.perf_counter()
    submit(parse_campaign(CAMPAIGN), target)
    client = target.client()
    wait_for(start_workers(2, target, folder), client[target.database], "chaos", poll=1.0)
    result = outcome(client[target.database], "chaos")
    client.close()
    return result, time.perf_counter() - began


def chaos_run(target: DatabaseTarget, storage: Path, folder: Path, kills: int, restarts: int,
              interval: float, rng: random.Random) -> tuple[dict, dict, float]:
    began = time.perf_counter()
    submit(parse_campaign(CAMPAIGN), target)
    counts = {"worker_kills": 0, "db_restarts": 0, "resumes": 0}
    restart_every = max(1, kills // (restarts + 1))
    round_ = 0
    while True:
        if round_ > 400:
            raise RuntimeError(f"the campaign did not finish after {round_} resumes")
        workers = start_workers(2, target, folder / f"round_{round_}")
        client = target.client()
        db = client[target.database]
        faults_left = counts["worker_kills"] < kills or counts["db_restarts"] < restarts
        deadline = time.monotonic() + interval * (1 + rng.random())
        while faults_left and time.monotonic() < deadline and not campaign_finished(db, "chaos"):
            time.sleep(0.2)
        if not faults_left or campaign_finished(db, "chaos"):  # no more faults: let it finish
            wait_for(workers, db, "chaos", poll=1.0)
            finished = campaign_finished(db, "chaos")
            client.close()
            if finished:
                break
            release_stale_locks(target, "chaos")
            rerun_stranded(target, "chaos")
            rerun_failed(target, "chaos")
            counts["resumes"] += 1
            round_ += 1
            continue
        restart_due = counts["db_restarts"] < restarts and counts["worker_kills"] >= restart_every * (
            counts["db_restarts"] + 1)
        client.close()
        if restart_due:  # the database dies under running workers
            state = server.status(storage)
            if state is not None:
                os.kill(state.pid, signal.SIGKILL)
            time.sleep(1 + rng.random())
        if counts["worker_kills"] < kills or restart_due:
            for worker in workers:
                if worker.poll() is None:
                    os.kill(worker.pid, signal.SIGKILL)
                    counts["worker_kills"] += 1
        stop_workers(workers, timeout=10)
        if restart_due:
            server.start(port=int(target.uri.rsplit(":", 1)[1]), storage=storage)
            counts["db_restarts"] += 1
        release_stale_locks(target, "chaos")
        rerun_stranded(target, "chaos")
        rerun_failed(target, "chaos")  # a job whose database went away under it
        counts["resumes"] += 1
        round_ += 1
    client = target.client()
    result = outcome(client[target.database], "chaos")
    client.close()
    return result, counts, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50, help="rlaunch workers to SIGKILL (two per round)")
    parser.add_argument("--restarts", type=int, default=3, help="database SIGKILLs and restarts")
    parser.add_argument("--interval", type=float, default=4.0, help="seconds between kills (randomised up to 2x)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the kill times")
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="perovflow-chaos-") as tmp:
        folder = Path(tmp)
        storage = folder / "db"
        state, _ = server.start(port=server.free_port(), storage=storage)
        try:
            calm, calm_seconds = calm_run(embedded_target("calm", state=state), folder / "calm")
            chaos, counts, chaos_seconds = chaos_run(embedded_target("chaos", state=state), storage, folder / "chaos",
                                                     args.kills, args.restarts, args.interval,
                                                     random.Random(args.seed))
        finally:
            server.stop(storage)

    calm_models, chaos_models = dict(calm["models"]), dict(chaos["models"])
    mismatches = sorted(tag for tag in set(calm_models) | set(chaos_models)
                        if tag not in calm_models or tag not in chaos_models
                        or abs(calm_models[tag] - chaos_models[tag]) > 1e-9)
    record = {
        "campaign": CAMPAIGN, **counts, "duplicates": chaos["duplicates"], "lost_labels": chaos["lost_labels"],
        "fireworks": chaos["states"], "labels": {"calm": calm["labels"], "chaos": chaos["labels"]},
        "models": {"calm": calm["models"], "chaos": chaos["models"]}, "model_mismatches": mismatches,
        "seconds": {"calm": round(calm_seconds, 1), "chaos": round(chaos_seconds, 1),
                    "extra": round(chaos_seconds - calm_seconds, 1)},
        "all_completed": set(chaos["states"]) == {"COMPLETED"},
    }
    print(f"worker kills {counts['worker_kills']}, database restarts {counts['db_restarts']}, "
          f"resumes {counts['resumes']}")
    print(f"Fireworks: {chaos['states']}; duplicates {chaos['duplicates']}; lost labels {chaos['lost_labels']}; "
          f"labels {chaos['labels']} (fault-free {calm['labels']})")
    print(f"models: {len(chaos['models'])} (fault-free {len(calm['models'])}); mismatches {mismatches or 'none'}")
    print(f"wall time: fault-free {calm_seconds:.0f} s, with faults {chaos_seconds:.0f} s "
          f"(+{chaos_seconds - calm_seconds:.0f} s)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=1, default=str))
    ok = record["all_completed"] and not chaos["duplicates"] and not chaos["lost_labels"] and not mismatches
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
