"""Featurize the paper's 130,000-structure CsSn(Cl/Br/I)3 pool with MBTR in parallel chunks.

Run: ``python benchmarks/bench_featurize.py [--workers 2] [--per-composition 100]``.

The pool (4 phases x 325 compositions x 100) is cut into chunks of one phase and a few
compositions. Each worker process (one BLAS thread, ``OPENBLAS_CORETYPE=Haswell``) builds
its own chunks with :func:`perovflow.structures.generate_pool` (every block is identical to
the same block of the full pool) and featurizes them with
:class:`perovflow.descriptors.mbtr.MBTRDescriptor` at the paper's settings. The parent writes
the rows, in pool order, into one ``.npy`` per descriptor setting under
``benchmarks/results/cache/``; a second request for the same setting reuses that file.

Time, throughput and peak memory (parent, largest worker, and the sampled sum over the
parent and all its children) are printed and saved to ``benchmarks/results/featurize.json``.
"""
from __future__ import annotations

import os

# before numpy loads, here and (inherited) in the workers
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings  # noqa: E402
from perovflow.structures import PHASES, PerovskiteSystem, enumerate_compositions, generate_pool  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "featurize.json"
CACHE = HERE / "results" / "cache"
SYSTEM = PerovskiteSystem(a="Cs", b="Sn", x=("Cl", "Br", "I"))
SPECIES = ("Cs", "Sn", "Cl", "Br", "I")


# -- memory -----------------------------------------------------------------------------
def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        kids = parents.get(todo.pop(), [])
        out.extend(kids)
        todo.extend(kids)
    return out


class MemorySampler:
    """Samples the summed RSS of this process and all its descendants from /proc."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            total = _rss_kib(me) + sum(_rss_kib(p) for p in _descendants(me))
            self.peak_kib = max(self.peak_kib, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak_kib / 1024, 1)


# -- chunks -----------------------------------------------------------------------------
def pool_chunks(per_composition: int, compositions_per_chunk: int) -> list[tuple[int, str, list]]:
    """(first row, phase, compositions) per chunk, in the order of the full pool."""
    comps = enumerate_compositions(SYSTEM)
    chunks, row = [], 0
    for phase in PHASES:
        for start in range(0, len(comps), compositions_per_chunk):
            part = comps[start:start + compositions_per_chunk]
            chunks.append((row, phase, part))
            row += len(part) * per_composition
    return chunks


_DESCRIPTOR: MBTRDescriptor | None = None


def _init_worker() -> None:
    global _DESCRIPTOR
    _DESCRIPTOR = MBTRDescriptor(MBTRSettings(species=SPECIES))


def _featurize_chunk(task: tuple[int, str, list, int, int]) -> tuple[int, np.ndarray]:
    row, phase, comps, per_composition, seed = task
    atoms = generate_pool(SYSTEM, [phase], per_composition=per_composition, seed=seed, compositions=comps)
    return row, _DESCRIPTOR.create(atoms)


def cache_path(per_composition: int, seed: int, cache_dir: Path = CACHE) -> Path:
    settings = MBTRSettings(species=SPECIES)
    return cache_dir / f"mbtr_{settings.hash}_CsSnClBrI_pool{per_composition}_seed{seed}.npy"


def featurize_pool(per_composition: int = 100, seed: int = 0, workers: int = 2,
                   compositions_per_chunk: int = 25, output: Path | None = None,
                   progress: bool = True) -> Path:
    """Featurize the pool into ``output`` (a .npy written in place, rows in pool order)."""
    output = output or cache_path(per_composition, seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    chunks = pool_chunks(per_composition, compositions_per_chunk)
    n_rows = len(enumerate_compositions(SYSTEM)) * len(PHASES) * per_composition
    n_features = MBTRDescriptor(MBTRSettings(species=SPECIES)).n_features
    partial = output.with_suffix(".partial.npy")
    matrix = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float64, shape=(n_rows, n_features))
    tasks = [(row, phase, comps, per_composition, seed) for row, phase, comps in chunks]
    done = 0
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        for row, block in pool.imap_unordered(_featurize_chunk, tasks):
            matrix[row:row + len(block)] = block
            done += len(block)
            if progress:
                print(f"\r  featurized {done}/{n_rows}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    matrix.flush()
    del matrix
    partial.replace(output)
    return output


def load_features(per_composition: int = 100, seed: int = 0, workers: int = 2) -> tuple[np.ndarray, bool]:
    """The cached matrix for this pool and descriptor setting, featurized first if missing.

    Returns (features, reused)."""
    path = cache_path(per_composition, seed)
    reused = path.exists()
    if not reused:
        featurize_pool(per_composition, seed, workers)
    return np.load(path, mmap_mode="r"), reused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-composition", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compositions-per-chunk", type=int, default=25)
    parser.add_argument("--check-rows", type=int, default=200,
                        help="rows re-featurized in this process to check the parallel result")
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    path = cache_path(args.per_composition, args.seed)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    with MemorySampler() as sampler:
        featurize_pool(args.per_composition, args.seed, args.workers, args.compositions_per_chunk, output=path)
    seconds = time.perf_counter() - t0
    children_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    # reuse: the second request for the same setting only loads the stored matrix
    t0 = time.perf_counter()
    features, reused = load_features(args.per_composition, args.seed, args.workers)
    checksum = float(np.asarray(features[:: max(1, len(features) // 1000)]).sum())
    reuse_seconds = time.perf_counter() - t0

    # spot check against a serial featurization of the first and last rows
    first = generate_pool(SYSTEM, [PHASES[0]], args.per_composition, args.seed,
                          compositions=[enumerate_compositions(SYSTEM)[0]])
    last = generate_pool(SYSTEM, [PHASES[-1]], args.per_composition, args.seed,
                         compositions=[enumerate_compositions(SYSTEM)[-1]])
    descriptor = MBTRDescriptor(MBTRSettings(species=SPECIES))
    k = min(args.check_rows // 2, len(first))
    same = (np.allclose(descriptor.create(first[:k]), features[:k], rtol=0, atol=1e-12)
            and np.allclose(descriptor.create(last[-k:]), features[-k:], rtol=0, atol=1e-12))

    record = {
        "benchmark": "MBTR featurization of the structure pool (chunks in parallel workers)",
        "system": SYSTEM.label,
        "n_structures": int(features.shape[0]),
        "n_features": int(features.shape[1]),
        "descriptor_settings": MBTRSettings(species=SPECIES).as_dict(),
        "descriptor_hash": MBTRSettings(species=SPECIES).hash,
        "workers": args.workers,
        "chunks": len(pool_chunks(args.per_composition, args.compositions_per_chunk)),
        "structures_per_chunk": args.compositions_per_chunk * args.per_composition,
        "seconds": round(seconds, 2),
        "structures_per_second": round(features.shape[0] / seconds, 1),
        "peak_rss_total_mb": sampler.peak_mb,
        "peak_rss_parent_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_largest_worker_mb": round(children_peak_mb, 1),
        "cache_file": str(path.relative_to(HERE.parent)),
        "cache_mb": round(path.stat().st_size / 2**20, 1),
        "reused_on_second_request": bool(reused),
        "reuse_load_seconds": round(reuse_seconds, 3),
        "checksum_sampled_rows": checksum,
        "matches_serial_featurization": bool(same),
        "load_average_1min_before_and_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "blas_threads_per_worker": os.environ.get("OPENBLAS_NUM_THREADS"),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    }
    text = json.dumps(record, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
