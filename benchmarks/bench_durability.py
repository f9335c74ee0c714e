"""The demo campaign's wall time on the embedded database without authentication, with
authentication (perovflow's default), and with authentication and ``--sync-on-commit``
(an fsync of the log at every commit), run one after the other in one process so that
the figures share the machine's state. Also checks that the three runs give the same
numbers (the learning curve and relaxation-test errors).

Run: ``python benchmarks/bench_durability.py [--campaign workflows/demo.yaml] [--workers 2]``.
Prints a table and saves JSON to ``benchmarks/results/durability.json``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perovflow.store import server  # noqa: E402
from perovflow.store.connection import embedded_target, write_launchpad_yaml  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "durability.json"
MODES = {"no authentication": {"auth": False, "sync_on_commit": False},
         "authentication": {"auth": True, "sync_on_commit": False},
         "authentication + sync on commit": {"auth": True, "sync_on_commit": True}}  # the last: perovflow's default


def numbers(summary: dict) -> list:
    """The figures of a run that must not depend on how the database is run."""
    curve = [(row["n_train"], row["mae"]) for row in summary["learning_curve"]]
    relaxations = [(row["iteration"], row["acquisitions"], row["mae_mev"]) for row in summary["active_learning"]]
    return [curve, relaxations, summary["labels"]]


def run_mode(folder: Path, name: str, options: dict, campaign: Path, workers: int) -> dict:
    storage = folder / name.replace(" ", "_").replace("+", "and") / "db"
    state, _ = server.start(port=server.free_port(), storage=storage, **options)
    try:
        launchpad_file = write_launchpad_yaml(storage.parent / "my_launchpad.yaml", embedded_target("demo", state=state))
        summary = storage.parent / "summary.json"
        began = time.perf_counter()
        out = subprocess.run([str(Path(sys.executable).parent / "perovflow"), "run", str(campaign), "-l",
                              str(launchpad_file), "--workers", str(workers), "--quiet", "--run-dir",
                              str(storage.parent / "run"), "--json", str(summary)],
                             capture_output=True, text=True)
        seconds = time.perf_counter() - began
    finally:
        server.stop(storage)
    if out.returncode != 0:
        raise RuntimeError(f"{name}: perovflow run exited {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return {"mode": name, **options, "seconds": round(seconds, 1), "numbers": numbers(json.loads(summary.read_text()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", type=Path, default=ROOT / "workflows" / "demo.yaml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="perovflow-durability-") as tmp:
        for name, options in MODES.items():
            rows.append(run_mode(Path(tmp), name, options, args.campaign.resolve(), args.workers))
            print(f"{name:>32}: {rows[-1]['seconds']:.0f} s", flush=True)
    base = rows[0]["seconds"]
    same = all(row["numbers"] == rows[0]["numbers"] for row in rows)
    for row in rows:
        row["relative"] = round(row["seconds"] / base, 3)
    print("relative to no authentication: " + ", ".join(f"{r['mode']} {r['relative']:.2f}x" for r in rows))
    print(f"same numbers in every mode: {same}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"campaign": str(args.campaign.relative_to(ROOT)) if args.campaign.is_relative_to(ROOT)
                                       else str(args.campaign), "workers": args.workers, "runs": rows,
                                       "same_numbers": same}, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
