"""Job completions per second of rlaunch workers for two shapes of a campaign's graph:
every stage joined into one growing workflow (FireWorks ``additions``; perovflow before
stages had workflows of their own) and one workflow per stage (perovflow now).

FireWorks takes a workflow's lock and refreshes all of its nodes for every check-out and
every completion, so in one growing workflow each job waits for the others and the cost of
a completion grows with the campaign. The graph here has the shape of a campaign (a stage:
``--jobs`` short jobs in parallel and one job that waits for them and adds the next stage),
built by perovflow's own builder; the jobs sleep ``--work`` seconds instead of computing.
Both shapes run side by side with 2 and 4 workers on one database server.

Run: ``python benchmarks/bench_workflow_shape.py [--stages 4] [--jobs 30] [--work 0.05]``.
Prints a table and saves JSON to ``benchmarks/results/workflow_shape.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fireworks import FiretaskBase, Workflow  # noqa: E402

from perovflow.campaign.next import Job, Next, fan_in  # noqa: E402
from perovflow.fireworks.builder import fireworks_for, fwaction, stage_metadata  # noqa: E402
from perovflow.fireworks.manager import campaign_finished, ensure_initialised, start_workers, stop_workers  # noqa: E402
from perovflow.store import server  # noqa: E402
from perovflow.store.connection import DatabaseTarget, embedded_target, launchpad  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "workflow_shape.json"


def stage_jobs(stage: int, stages: int, jobs: int, work: float) -> Next:
    if stage >= stages:
        return Next()
    parallel = [Job(f"work-{i}", "work", {"seconds": work}, name=f"work {stage}.{i}") for i in range(jobs)]
    then = Job("stage", "stage", {"stage": stage + 1, "stages": stages, "jobs": jobs, "work": work},
               name=f"stage {stage + 1}")
    return fan_in(parallel, then)


class ShapeTask(FiretaskBase):
    """A stand-in for a campaign step: ``work`` sleeps, ``stage`` adds the next stage."""

    _fw_name = "{{benchmarks.bench_workflow_shape.ShapeTask}}"
    required_params = ["step"]
    optional_params = ["args"]

    def run_task(self, fw_spec):
        args = self.get("args") or {}
        if self["step"] == "work":
            time.sleep(args["seconds"])
            return fwaction(Next(), fw_spec, self)
        nxt = stage_jobs(args["stage"], args["stages"], args["jobs"], args["work"])
        return fwaction(nxt, fw_spec, self, join=fw_spec["campaign"]["join"])


def run_shape(target: DatabaseTarget, folder: Path, join: bool, workers: int, stages: int, jobs: int,
              work: float) -> dict:
    name = f"shape-{'join' if join else 'stage'}-{workers}"
    lp = launchpad(target)
    ensure_initialised(lp)
    first = Next(jobs=(Job("stage", "stage", {"stage": 0, "stages": stages, "jobs": jobs, "work": work},
                           name="stage 0"),))
    campaign = {"name": name, "join": join}
    running = start_workers(workers, target, folder / name)
    time.sleep(8)  # let the workers import FireWorks and start polling before the clock starts
    began = time.perf_counter()
    lp.add_wf(Workflow(fireworks_for(first, campaign, target.as_spec(), ShapeTask), name=name,
                       metadata=stage_metadata(name)))
    client = target.client()
    db = client[target.database]
    while not campaign_finished(db, name):
        if all(w.poll() is not None for w in running):
            raise RuntimeError(f"every worker of {name} ended; see {folder / name}")
        time.sleep(0.1)
    seconds = time.perf_counter() - began
    stop_workers(running)
    fireworks = db.fireworks.count_documents({"spec.campaign.name": name, "state": "COMPLETED"})
    largest = max(len(doc["nodes"]) for doc in db.workflows.find({"metadata.campaign": name}, {"nodes": 1}))
    n_workflows = db.workflows.count_documents({"metadata.campaign": name})
    client.close()
    return {"shape": "one workflow" if join else "workflow per stage", "workers": workers, "fireworks": fireworks,
            "workflows": n_workflows, "largest_workflow": largest, "seconds": round(seconds, 2),
            "completions_per_second": round(fireworks / seconds, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=30, help="parallel jobs per stage")
    parser.add_argument("--work", type=float, default=0.05, help="seconds each job sleeps")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    # the workers import this module to find ShapeTask
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

    rows = []
    with tempfile.TemporaryDirectory(prefix="perovflow-shape-") as tmp:
        folder = Path(tmp)
        for workers in args.workers:
            for join in (True, False):
                name = f"shape_{'join' if join else 'stage'}_{workers}"
                storage = folder / f"db_{name}"  # a fresh server each: a database that grew slows every query
                state, _ = server.start(port=server.free_port(), storage=storage)
                try:
                    rows.append(run_shape(embedded_target(name, state=state), folder, join, workers, args.stages,
                                          args.jobs, args.work))
                finally:
                    server.stop(storage)
                row = rows[-1]
                print(f"{row['shape']:>20} {workers} workers: {row['fireworks']} jobs in {row['seconds']:.1f} s "
                      f"= {row['completions_per_second']:.2f}/s (largest workflow {row['largest_workflow']} "
                      f"Fireworks, {row['workflows']} workflows)", flush=True)
    speedups = {}
    for workers in args.workers:
        pair = {row["shape"]: row["completions_per_second"] for row in rows if row["workers"] == workers}
        speedups[str(workers)] = round(pair["workflow per stage"] / pair["one workflow"], 2)
        print(f"{workers} workers: workflow per stage / one workflow = {speedups[str(workers)]:.2f}x")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"stages": args.stages, "jobs_per_stage": args.jobs, "work_seconds": args.work,
                                       "cpu_count": os.cpu_count(), "runs": rows, "speedup": speedups}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
