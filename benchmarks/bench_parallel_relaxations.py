"""Wall time of the ML relaxations of a campaign (every relaxation test and every
exploration, run as batch Fireworks) with 1 rlaunch worker and with 2, side by side in one
run: the same small CsPb(Cl/Br)3 campaign (CHGNet labels) run twice from scratch, each on
its own embedded database. For each relaxation test and each exploration the span from the
first of its batches starting to the last one ending is taken from FireWorks' launch times;
the speed-up is the sum of spans with 1 worker over that with 2. Also checks that both runs
stored the same relaxation tests and explorations.

Run: ``python benchmarks/bench_parallel_relaxations.py [--per-phase 6] [--workers 1 2]``.
Prints a table and saves JSON to ``benchmarks/results/parallel_relaxations.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perovflow.store import server  # noqa: E402
from perovflow.store.connection import embedded_target, launchpad, write_launchpad_yaml  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "parallel_relaxations.json"
GATHERS = ("baseline_record", "decide", "acquire", "finish")


def campaign(per_phase: int, batch_size: int) -> dict:
    """Two phases, ``per_phase`` test starts and exploration starts per phase; one stage-1 and
    one stage-2 iteration and pruning: 4 relaxation tests and 2 explorations."""
    return {
        "campaign": "parallel",
        "system": {"a": "Cs", "b": "Pb", "x": ["Cl", "Br"]},
        "phases": ["Pm-3m", "Pnma"],
        "pool": {"per_composition": 2, "test_per_composition": 1, "seed": 3, "chunk_size": 40},
        "selection": {"clusters": 10, "batches": 2, "seed": 3, "min_size": 5},
        "labelling": {"engine": "chgnet", "group_size": 6},
        "active": {"enabled": True, "starts_per_phase": per_phase, "per_phase": 1, "test_per_phase": per_phase,
                   "stage1_iterations": 1, "stage2_iterations": 1, "stage2_dft_steps": 3, "dft_max_steps": 12,
                   "test_max_steps": 30, "ml_max_steps": 100, "ml_batch_size": batch_size, "seed": 5},
        "relax": {"cell": "symmetric"},
    }


def as_time(value) -> datetime.datetime:
    """FireWorks stores launch times as ISO strings (datetimes in older versions)."""
    return value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(value)


def batch_spans(db) -> tuple[list[dict], float]:
    """Per relaxation test / exploration: its batches, their relaxations' seconds and the wall
    span of its batches; and the summed seconds of the gathering Fireworks."""
    groups: dict[tuple, dict] = defaultdict(lambda: {"batches": 0, "start": None, "end": None})
    gather_seconds = 0.0
    for fw in db.fireworks.find({}, {"fw_id": 1, "spec._tasks": 1}):
        task = fw["spec"]["_tasks"][0]
        launch = db.launches.find_one({"fw_id": fw["fw_id"], "state": "COMPLETED"})
        if launch is None:
            continue
        start, end = as_time(launch["time_start"]), as_time(launch["time_end"])
        if task.get("step") in GATHERS:
            gather_seconds += (end - start).total_seconds()
        if task.get("step") != "ml_relax_batch":
            continue
        args = task["args"]
        group = groups[(args["purpose"], args.get("iteration"), args["model_tag"])]
        group["batches"] += 1
        group["start"] = start if group["start"] is None else min(group["start"], start)
        group["end"] = end if group["end"] is None else max(group["end"], end)
    rows = []
    for (purpose, iteration, tag), group in sorted(groups.items(), key=lambda kv: kv[1]["start"]):
        relaxations = list(db.ml_relaxations.find({"purpose": purpose, "model_tag": tag, "iteration": iteration},
                                                  {"seconds": 1}))
        rows.append({"purpose": purpose, "iteration": iteration, "model_tag": tag, "batches": group["batches"],
                     "relaxations": len(relaxations),
                     "relaxation_seconds": round(sum(d["seconds"] for d in relaxations), 2),
                     "span_seconds": round((group["end"] - group["start"]).total_seconds(), 2)})
    return rows, gather_seconds


def stored_results(db) -> list:
    """What the campaign stored of its relaxation tests and explorations (no timings)."""
    out = []
    for record in db.al_iterations.find({}).sort("iteration", 1):
        test = {k: v for k, v in (record.get("relaxation_test") or {}).items() if k != "seconds"}
        out.append([record["iteration"], test, record.get("ml_relaxations"), record.get("acquisitions")])
    return out


def run(folder: Path, data: dict, workers: int) -> dict:
    storage = folder / f"workers_{workers}" / "db"
    state, _ = server.start(port=server.free_port(), storage=storage)
    try:
        target = embedded_target("bench", state=state)
        launchpad_file = write_launchpad_yaml(storage.parent / "my_launchpad.yaml", target)
        campaign_file = storage.parent / "campaign.yaml"
        campaign_file.write_text(yaml.safe_dump(data))
        began = time.perf_counter()
        out = subprocess.run([str(Path(sys.executable).parent / "perovflow"), "run", str(campaign_file), "-l",
                              str(launchpad_file), "--workers", str(workers), "--quiet", "--run-dir",
                              str(storage.parent / "run")], capture_output=True, text=True)
        seconds = time.perf_counter() - began
        if out.returncode != 0:
            raise RuntimeError(f"{workers} worker(s): perovflow run exited {out.returncode}:\n{out.stdout[-2000:]}\n"
                               f"{out.stderr[-2000:]}")
        db = launchpad(target).db
        rows, gather_seconds = batch_spans(db)
        results = stored_results(db)
    finally:
        server.stop(storage)
    return {"workers": workers, "campaign_seconds": round(seconds, 1), "groups": rows,
            "span_seconds": round(sum(r["span_seconds"] for r in rows), 1),
            "relaxation_seconds": round(sum(r["relaxation_seconds"] for r in rows), 1),
            "gather_seconds": round(gather_seconds, 2), "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-phase", type=int, default=6, help="test and exploration starts per phase")
    parser.add_argument("--batch-size", type=int, default=0, help="active.ml_batch_size (0: 4 batches)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    data = campaign(args.per_phase, args.batch_size)
    runs = []
    with tempfile.TemporaryDirectory(prefix="perovflow-parallel-") as tmp:
        for workers in args.workers:
            runs.append(run(Path(tmp), data, workers))
            r = runs[-1]
            print(f"{workers} worker(s): ML relaxation spans {r['span_seconds']:.1f} s "
                  f"({r['relaxation_seconds']:.1f} s of relaxations in {sum(g['batches'] for g in r['groups'])} "
                  f"batches), gathering {r['gather_seconds']:.1f} s, whole campaign {r['campaign_seconds']:.0f} s",
                  flush=True)
    same = all(r["results"] == runs[0]["results"] for r in runs)
    print(f"{'purpose':>8} {'iter':>4} {'model':>22} {'relax':>5} " +
          " ".join(f"{str(r['workers']) + ' worker(s) s':>16}" for r in runs))
    for k, group in enumerate(runs[0]["groups"]):
        spans = " ".join(f"{r['groups'][k]['span_seconds']:>16.1f}" if k < len(r["groups"]) else f"{'-':>16}"
                         for r in runs)
        print(f"{group['purpose']:>8} {str(group['iteration']):>4} {group['model_tag']:>22} "
              f"{group['relaxations']:>5} {spans}")
    speedup = runs[0]["span_seconds"] / runs[-1]["span_seconds"] if len(runs) > 1 else None
    if speedup is not None:
        print(f"speed-up of the ML relaxations, {runs[0]['workers']} -> {runs[-1]['workers']} workers: {speedup:.2f}x; "
              f"whole campaign {runs[0]['campaign_seconds'] / runs[-1]['campaign_seconds']:.2f}x")
    print(f"same relaxation tests and explorations in every run: {same}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "campaign": data, "speedup": round(speedup, 2) if speedup else None, "same_results": same,
        "runs": [{k: v for k, v in r.items() if k != "results"} for r in runs]}, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
