"""The campaign file of a CCD-NN run (``workflows/cspbbr3_ccd.yaml``), checked early:
every error names the field and what is allowed."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perovflow.ccd.descriptor import METRICS, ClusterSet
from perovflow.ccd.networks.model_selection import Candidate
from perovflow.ccd.networks.network import ARCHITECTURES, check_hidden
from perovflow.ccd.networks.training import TrainingSchedule
from perovflow.ccd.sampler import SamplerSettings
from perovflow.engines import ENGINES
from perovflow.yaml_files import read_yaml

SECTIONS = ("name", "oracle", "sampler", "descriptor", "selection", "training", "committee", "paths")


class CCDConfigError(ValueError):
    pass


def _section(data: dict, key: str, allowed: tuple[str, ...]) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise CCDConfigError(f"{key}: expected a mapping with keys {list(allowed)}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise CCDConfigError(f"{key}: unknown field(s) {unknown}; allowed: {list(allowed)}")
    return value


@dataclass(frozen=True)
class CCDCampaign:
    name: str
    engine: str
    engine_options: dict[str, Any]
    sampler: SamplerSettings
    metric: str
    optimised: bool
    optimised_sigma: float
    candidates: tuple[Candidate, ...]
    folds: int
    test_fraction: float
    seed: int
    schedule: TrainingSchedule
    members: int
    path_points: int
    source: dict = field(default_factory=dict, compare=False)


def parse_campaign(data: dict) -> CCDCampaign:
    if not isinstance(data, dict):
        raise CCDConfigError(f"campaign file: expected a mapping with sections {list(SECTIONS)}")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise CCDConfigError(f"campaign file: unknown section(s) {unknown}; allowed: {list(SECTIONS)}")
    name = str(data.get("name", "ccd"))
    oracle = _section(data, "oracle", ("engine", "options"))
    engine = str(oracle.get("engine", "chgnet"))
    if engine not in ENGINES:
        raise CCDConfigError(f"oracle.engine: unknown engine {engine!r}; allowed: {list(ENGINES)}")
    sampler_fields = tuple(SamplerSettings.__dataclass_fields__)
    sampler_data = _section(data, "sampler", sampler_fields)
    try:
        sampler = SamplerSettings(**sampler_data)
    except (TypeError, ValueError) as exc:
        raise CCDConfigError(str(exc)) from None
    desc = _section(data, "descriptor", ("metric", "optimised", "optimised_sigma", "pair_cutoff", "triplet_cutoff"))
    metric = desc.get("metric", "linear")
    if metric not in METRICS:
        raise CCDConfigError(f"descriptor.metric: unknown {metric!r}; allowed: {list(METRICS)}")
    optimised = desc.get("optimised", False)
    if not isinstance(optimised, bool):
        raise CCDConfigError(f"descriptor.optimised: expected true or false, got {optimised!r}")
    sigma = float(desc.get("optimised_sigma", 0.15))
    if not 0 < sigma < 1:
        raise CCDConfigError(f"descriptor.optimised_sigma: expected a fraction in (0, 1), got {sigma}")
    sel = _section(data, "selection", ("folds", "test_fraction", "seed", "cluster_sets", "orders",
                                       "architectures", "hidden"))
    sets_data = sel.get("cluster_sets", [{"n_pairs": 7, "n_triplets": 1, "octahedron": True}])
    if not isinstance(sets_data, list) or not sets_data:
        raise CCDConfigError("selection.cluster_sets: expected a non-empty list of "
                             "{n_pairs, n_triplets, octahedron, tetrahedron, name}")
    cluster_sets = []
    for i, item in enumerate(sets_data):
        allowed = ("n_pairs", "n_triplets", "octahedron", "tetrahedron", "name")
        if not isinstance(item, dict) or set(item) - set(allowed):
            raise CCDConfigError(f"selection.cluster_sets[{i}]: expected a mapping with keys {list(allowed)}")
        try:
            cluster_sets.append(ClusterSet(pair_cutoff=float(desc.get("pair_cutoff", 1.5)),
                                           triplet_cutoff=float(desc.get("triplet_cutoff", 0.75)), **item))
        except ValueError as exc:
            raise CCDConfigError(f"selection.cluster_sets[{i}]: {exc}") from None
    orders = sel.get("orders", [2])
    if not isinstance(orders, list) or not orders or any(o not in (1, 2, 3, 4) for o in orders):
        raise CCDConfigError(f"selection.orders: expected a list of polynomial orders from 1..4 (the paper: 2, 4), got {orders!r}")
    archs = sel.get("architectures", ["cluster"])
    if not isinstance(archs, list) or not archs or any(a not in ARCHITECTURES for a in archs):
        raise CCDConfigError(f"selection.architectures: expected a list from {list(ARCHITECTURES)}, got {archs!r}")
    hidden = sel.get("hidden", [[8]])
    try:
        hidden = [check_hidden(h if isinstance(h, list) else [h]) for h in hidden]
    except (TypeError, ValueError) as exc:
        raise CCDConfigError(f"selection.hidden: expected a list of layer-width lists such as [[8], [16, 16]]; {exc}") from None
    candidates = tuple(Candidate(c, o, a, h) for a in archs for c in cluster_sets for o in orders for h in hidden)
    folds = sel.get("folds", 10)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise CCDConfigError(f"selection.folds: expected an integer >= 2 (the paper: 10), got {folds!r}")
    test_fraction = float(sel.get("test_fraction", 0.2))
    if not 0 < test_fraction < 1:
        raise CCDConfigError(f"selection.test_fraction: expected a fraction in (0, 1) (the paper: 0.2), got {test_fraction}")
    seed = sel.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CCDConfigError(f"selection.seed: expected an integer >= 0, got {seed!r}")
    tr = _section(data, "training", ("batch_sizes", "epochs", "learning_rate", "learning_rates", "weight_decay"))
    try:
        schedule = TrainingSchedule(**tr)
    except (TypeError, ValueError) as exc:
        raise CCDConfigError(str(exc)) from None
    com = _section(data, "committee", ("members",))
    members = com.get("members", 5)
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise CCDConfigError(f"committee.members: expected a positive integer, got {members!r}")
    paths = _section(data, "paths", ("points",))
    points = paths.get("points", 12)
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise CCDConfigError(f"paths.points: expected an integer >= 2, got {points!r}")
    return CCDCampaign(name=name, engine=engine, engine_options=dict(oracle.get("options") or {}),
                       sampler=sampler, metric=metric, optimised=optimised, optimised_sigma=sigma,
                       candidates=candidates, folds=folds, test_fraction=test_fraction, seed=seed,
                       schedule=schedule, members=members, path_points=points, source=data)


def load_campaign(path: str | Path) -> CCDCampaign:
    return parse_campaign(read_yaml(path, CCDConfigError))
