"""``perovflow pool``: write a structure pool, test set or relaxation starts as extxyz.

Example::

    perovflow pool --system "Cs Sn Cl,Br,I" --phases all --per-composition 100 --seed 0 -o pool.extxyz

Each structure's ``info`` holds its phase, composition, x_counts, pool_index, seed, role
and the generator settings (JSON in ``generator``).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from perovflow.structures.generator import (
    generate_pool,
    generate_relaxation_starts,
    generate_test_set,
)
from perovflow.structures.phases import PHASES, normalise_phases
from perovflow.structures.settings import PerturbationSettings
from perovflow.structures.system import PerovskiteSystem

KINDS = ("pool", "test", "relax")
_SPREADS = ("displacement_std_a", "displacement_std_b", "displacement_std_x", "tilt_std",
            "volume_std", "ca_ratio_std", "gamma_std")
_UNITS = {"displacement_std_a": "Angstrom", "displacement_std_b": "Angstrom", "displacement_std_x": "Angstrom",
          "tilt_std": "degrees", "volume_std": "relative", "ca_ratio_std": "relative", "gamma_std": "degrees"}


def add_pool_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``pool`` command to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "pool", help="generate perovskite alloy supercells (pool, test set, relaxation starts)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--system", required=True,
                   help='A, B and comma-separated halides, e.g. "Cs Sn Cl,Br,I"')
    p.add_argument("--phases", default="all",
                   help=f"'all' or a comma-separated list of {', '.join(PHASES)} (aliases: cubic, ...)")
    p.add_argument("--kind", choices=KINDS, default="pool",
                   help="pool (default), test (test set: another random stream) or relax "
                        "(relaxation starts without random deviations)")
    p.add_argument("--per-composition", type=int, default=None,
                   help="structures per composition and phase (default 100 for pool, 2 for test)")
    p.add_argument("--per-phase", type=int, default=25, help="relaxation starts per phase (default 25)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--lattice", action="append", default=[], metavar="X=ANGSTROM",
                   help="override an end-member lattice constant, e.g. --lattice I=6.25 (repeatable)")
    p.add_argument("--tilt", action="append", default=[], metavar="PHASE=DEG[,DEG]",
                   help="base tilt angles of a phase, e.g. --tilt Pnma=9,7 (repeatable)")
    for name in _SPREADS:
        p.add_argument("--" + name.replace("_", "-"), type=float, default=None, dest=name,
                       help=f"standard deviation '{name}' in {_UNITS[name]} (default {getattr(PerturbationSettings(), name)})")
    p.add_argument("-o", "--output", required=True, help="output file (extxyz)")
    p.set_defaults(func=run_pool)
    return p


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{option}: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _build(args: argparse.Namespace) -> list:
    lattice = {k: float(v) for k, v in _pairs(args.lattice, "--lattice").items()}
    system = PerovskiteSystem.parse(args.system, lattice_constants=lattice or None)
    tilts = {k: tuple(float(t) for t in v.split(",")) for k, v in _pairs(args.tilt, "--tilt").items()}
    spreads = {n: getattr(args, n) for n in _SPREADS if getattr(args, n) is not None}
    settings = PerturbationSettings(tilt_angles=tilts, **spreads)
    phases = normalise_phases(args.phases)
    if args.kind == "relax":
        return generate_relaxation_starts(system, phases, per_phase=args.per_phase, seed=args.seed,
                                          settings=settings)
    if args.kind == "test":
        n = 2 if args.per_composition is None else args.per_composition
        return generate_test_set(system, phases, per_composition=n, seed=args.seed, settings=settings)
    n = 100 if args.per_composition is None else args.per_composition
    return generate_pool(system, phases, per_composition=n, seed=args.seed, settings=settings)


def run_pool(args: argparse.Namespace) -> int:
    """Generate and write the structures; 0 on success, 2 on a bad setting."""
    from ase.io import write

    try:
        structures = _build(args)
    except ValueError as exc:
        print(f"perovflow pool: error: {exc}", file=sys.stderr)
        return 2
    write(args.output, structures, format="extxyz")
    print(f"wrote {len(structures)} structures to {args.output}")
    return 0

