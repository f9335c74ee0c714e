"""How often the embedded database ignores its SIGTERM, with the signal sent to the whole
process (``kill``, what ``perovflow db stop`` did before 2026-11-30) and to its main thread
(``tgkill``, what it does now), under CPU load, alternating the two in one run.

Each cycle starts a real secantusd-py (no authentication, empty storage), talks to it as
``perovflow db status`` and a second ``db start`` do, sends SIGTERM and waits up to
``--patience`` seconds. A server still alive then is counted as wedged, its Python stacks
are taken (SIGABRT with PYTHONFAULTHANDLER) and it is killed. ``perovflow db stop`` itself
waits 30 s before its SIGKILL, which is where the 30-s tests of tests/store/test_server.py
came from.

Run: ``python benchmarks/bench_db_stop.py [--cycles 40] [--load 3]`` (``--load``: busy
processes beside it). Prints a table and saves JSON to ``benchmarks/results/db_stop.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perovflow.processes import process_alive, signal_main_thread  # noqa: E402
from perovflow.store import server  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "db_stop.json"
SENDERS = {"process (kill)": lambda pid: os.kill(pid, signal.SIGTERM),
           "main thread (tgkill)": lambda pid: signal_main_thread(pid, signal.SIGTERM)}


def one_cycle(folder: Path, send, patience: float) -> dict:
    storage = Path(tempfile.mkdtemp(dir=folder)) / "db"
    state, _ = server.start(port=server.free_port(), storage=storage, auth=False)
    server.status(storage)  # what the tests do before they stop it
    server.start(port=state.port, storage=storage)
    began = time.monotonic()
    send(state.pid)
    while process_alive(state.pid) and time.monotonic() - began < patience:
        time.sleep(0.02)
    seconds = time.monotonic() - began
    wedged = process_alive(state.pid)
    stack = ""
    if wedged:
        os.kill(state.pid, signal.SIGABRT)  # faulthandler writes every thread's stack to the log
        time.sleep(1.0)
        logs = sorted(storage.parent.glob("*.log"))
        stack = logs[0].read_text()[-3000:] if logs else ""
    server.stop(storage, timeout=5.0)
    return {"seconds": round(seconds, 2), "wedged": wedged, "stack": stack}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=40, help="cycles per way of signalling")
    parser.add_argument("--load", type=int, default=3, help="busy processes beside the benchmark")
    parser.add_argument("--patience", type=float, default=8.0, help="seconds before a server counts as wedged")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ["PYTHONFAULTHANDLER"] = "1"  # inherited by the servers
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    runs: dict[str, list[dict]] = {name: [] for name in SENDERS}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for cycle in range(args.cycles):
                for name, send in SENDERS.items():
                    runs[name].append(one_cycle(Path(folder), send, args.patience))
                print(f"cycle {cycle + 1}/{args.cycles}: " + ", ".join(
                    f"{name} {sum(r['wedged'] for r in rows)} wedged" for name, rows in runs.items()), flush=True)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    summary = []
    for name, rows in runs.items():
        stopped = sorted(r["seconds"] for r in rows if not r["wedged"])
        summary.append({"signal to": name, "cycles": len(rows), "wedged": sum(r["wedged"] for r in rows),
                        "median stop s": stopped[len(stopped) // 2] if stopped else None,
                        "first wedged stack": next((r["stack"] for r in rows if r["wedged"]), "")})
    print(f"\n{'signal to':22s} {'cycles':>6s} {'wedged':>6s} {'median stop s':>13s}")
    for row in summary:
        print(f"{row['signal to']:22s} {row['cycles']:6d} {row['wedged']:6d} {row['median stop s']!s:>13s}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"load_processes": args.load, "patience_s": args.patience, "cpus": os.cpu_count(),
                                    "results": summary}, indent=1) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
