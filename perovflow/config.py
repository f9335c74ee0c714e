"""Campaign files (YAML): parsed and validated completely before anything is written.

Every error names the field (``section.key``) and what is allowed. Defaults are the
seed's numbers where the seed gives one (seed 000, Table S1 and section IV).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable



class CampaignError(ValueError):
    """A campaign file that cannot be run; the message names the field."""


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _non_negative_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class Field:
    check: Callable[[Any], bool]
    allowed: str
    default: Any = None
    required: bool = False



def _choice(default: str, *others: str) -> Field:
    options = (default, *others)
    return Field(lambda v: v in options, "one of " + ", ".join(options), default=default)


SCHEMA: dict[str, dict[str, Field]] = {
    "system": {
        "a": Field(lambda v: isinstance(v, str), "an element symbol for the A site, e.g. Cs", required=True),
        "b": Field(lambda v: isinstance(v, str), "an element symbol for the B site, e.g. Pb", required=True),
        "x": Field(lambda v: isinstance(v, list) and 1 <= len(v) <= 3 and all(isinstance(s, str) for s in v),
                   "a list of 1-3 halide symbols, e.g. [Cl, Br]", required=True),
        "lattice_constants": Field(lambda v: isinstance(v, dict) and all(_positive_number(c) for c in v.values()),
                                   "a mapping halide -> pseudo-cubic lattice constant in Å (> 0)", default=None),
    },
    "pool": {
        "per_composition": Field(_positive_int, "a positive integer (seed: 100)", default=100),
        "test_per_composition": Field(_positive_int, "a positive integer (seed: 2)", default=2),
        "seed": Field(_non_negative_int, "a non-negative integer", default=0),
        "chunk_size": Field(_positive_int, "a positive integer (structures per featurization job)", default=2000),
    },
    "descriptor": {
        "sigma": Field(_positive_number, "a positive number in 1/Å (seed: 4.279e-2)", default=4.279e-2),
        "r_cut": Field(_positive_number, "a positive number in Å (seed: 7.04)", default=7.04),
        "n_grid": Field(_positive_int, "a positive integer (seed: 50)", default=50),
        "x_min": Field(lambda v: isinstance(v, (int, float)), "a number in 1/Å (seed: -0.1)", default=-0.1),
        "x_max": Field(lambda v: isinstance(v, (int, float)), "a number in 1/Å (seed: 0.6)", default=0.6),
        "w_cut": Field(lambda v: _positive_number(v) and v < 1, "a number in (0, 1) (seed: 1e-3)", default=1e-3),
    },
    "selection": {
        "method": _choice("constrained", "kmeans", "k-means-constrained", "random", "birch", "hdbscan"),
        "clusters": Field(_positive_int, "a positive integer (seed: 2000 for a ternary)", default=2000),
        "min_size": Field(_non_negative_int, "a non-negative integer: smallest cluster (seed: 20; 0: no bound)",
                          default=20),
        "max_size": Field(lambda v: v is None or _positive_int(v), "a positive integer or null (no bound)",
                          default=None),
        "batches": Field(_positive_int, "a positive integer: batches of one structure per cluster", default=8),
        "seed": Field(_non_negative_int, "a non-negative integer", default=0),
        "plateau_mev": Field(_non_negative_number,
                             "a non-negative number: stop adding batches when the test MAE improves "
                             "by less than this many meV/atom (0: never stop early)", default=0.0),
    },
    "labelling": {
        "engine": _choice("chgnet", "tblite", "cp2k", "fhi-aims"),
        "options": Field(lambda v: isinstance(v, dict), "a mapping of the engine's settings, e.g. "
                         "{command: 'srun aims.x', species_dir: /path/to/species_defaults}", default={}),
        "group_size": Field(_positive_int, "a positive integer: structures per labelling job", default=1),
    },
    "model": {
        "kind": _choice("krr"),
        "alpha": Field(_positive_number, "a positive number (seed: 1e-5)", default=1e-5),
        "gamma": Field(_positive_number, "a positive number (seed: 4.279e-2)", default=4.279e-2),
        "tune": Field(lambda v: isinstance(v, bool), "true or false: tune gamma and alpha by BOSS with k-fold "
                      "cross-validation at every initial fit (active-learning refits keep the last values)",
                      default=False),
        "tune_folds": Field(lambda v: _positive_int(v) and v >= 2, "an integer >= 2", default=5),
        "tune_max_points": Field(_positive_int, "a positive integer: cross-validate on at most this many "
                                 "structures", default=4000),
        "tune_iterations": Field(_positive_int, "a positive integer: BOSS acquisitions after 5 initial points "
                                 "(seed setup: 25)", default=25),
    },
    # two-stage active learning and the relaxation test (seed 000, IV.B)
    "active": {
        "enabled": Field(lambda v: isinstance(v, bool), "true or false (false: initial dataset only)", default=True),
        "starts_per_phase": Field(_positive_int, "a positive integer: ML relaxations per phase and iteration (seed: 25)",
                                  default=25),
        "per_phase": Field(_positive_int, "a positive integer: DFT relaxations per phase and iteration (seed: 2)",
                           default=2),
        "threshold_mev": Field(_positive_number, "a positive number: GPR sigma threshold in meV/atom (seed: 0.5)",
                               default=0.5),
        "threshold_drop": Field(lambda v: _positive_number(v) and v < 1,
                                "a number in (0, 1): relative drop of a phase's threshold when fewer than "
                                "per_phase of its relaxations cross it (seed: 0.2)", default=0.2),
        "ml_fmax": Field(_positive_number, "a positive number in eV/Å (seed: 0.005)", default=0.005),
        "ml_max_steps": Field(_positive_int, "a positive integer (seed: 200)", default=200),
        "dft_fmax": Field(_positive_number, "a positive number in eV/Å: stage-1 DFT relaxations (seed: 0.1)",
                          default=0.1),
        "dft_max_steps": Field(_positive_int, "a positive integer: step limit of stage-1 DFT relaxations", default=100),
        "stage2_dft_steps": Field(_positive_int, "a positive integer: DFT steps per stage-2 relaxation (seed: 5)",
                                  default=5),
        "stage1_iterations": Field(_positive_int, "a positive integer: most stage-1 iterations", default=20),
        "stage2_iterations": Field(_positive_int, "a positive integer: most stage-2 iterations", default=10),
        "plateau_mev": Field(_non_negative_number, "a non-negative number: a stage ends when the relaxation-test "
                             "MAE improves by less than this (meV/atom) over plateau_window iterations", default=0.1),
        "plateau_window": Field(_positive_int, "a positive integer (iterations)", default=2),
        "min_convergence": Field(lambda v: isinstance(v, (int, float)) and 0 <= v <= 1,
                                 "a number in [0, 1]: share of converged test relaxations before stage 1 may end",
                                 default=0.95),
        "label_budget": Field(_non_negative_int, "a non-negative integer: most labels for active learning "
                              "(0: no limit)", default=0),
        "test_per_phase": Field(_positive_int, "a positive integer: relaxation-test structures per phase (seed: 25)",
                                default=25),
        "test_fmax": Field(_positive_number, "a positive number in eV/Å: the engine's relaxation-test fmax",
                           default=0.01),
        "test_max_steps": Field(_positive_int, "a positive integer: the engine's relaxation-test step limit",
                                default=200),
        "seed": Field(_non_negative_int, "a non-negative integer", default=0),
    },
    "prune": {
        "enabled": Field(lambda v: isinstance(v, bool), "true or false", default=True),
        "keep_fraction": Field(lambda v: _positive_number(v) and v <= 1,
                               "a number in (0, 1]: share of relaxation snapshots kept (one per k-means cluster)",
                               default=0.5),
        "seed": Field(_non_negative_int, "a non-negative integer", default=0),
    },
}

TOP_LEVEL = {"campaign", "phases", *SCHEMA}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class Campaign:
    name: str
    phases: list[str]
    system: dict[str, Any] = field(default_factory=dict)
    pool: dict[str, Any] = field(default_factory=dict)
    descriptor: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)
    labelling: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    active: dict[str, Any] = field(default_factory=lambda: _check_section("active", {}))
    prune: dict[str, Any] = field(default_factory=lambda: _check_section("prune", {}))

    @property
    def species(self) -> tuple[str, ...]:
        return (self.system["a"], self.system["b"], *self.system["x"])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Campaign":
        return cls(**data)


def _check_section(name: str, given: Any) -> dict[str, Any]:
    schema = SCHEMA[name]
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise CampaignError(f"{name}: must be a mapping with keys {', '.join(schema)}")
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise CampaignError(f"{name}.{unknown[0]}: unknown key; allowed: {', '.join(schema)}")
    result = {}
    for key, spec in schema.items():
        if key not in given:
            if spec.required:
                raise CampaignError(f"{name}.{key}: missing; expected {spec.allowed}")
            result[key] = spec.default
            continue
        value = given[key]
        if not spec.check(value):
            raise CampaignError(f"{name}.{key}: got {value!r}; expected {spec.allowed}")
        result[key] = value
    return result


def _check_system(system: dict[str, Any], phases_given: Any) -> list[str]:
    from perovflow.structures import PHASES, PerovskiteSystem, normalise_phase

    try:
        PerovskiteSystem(a=system["a"], b=system["b"], x=tuple(system["x"]),
                         lattice_constants=system["lattice_constants"])
    except ValueError as exc:
        raise CampaignError(f"system: {exc}") from None
    if phases_given in (None, "all"):
        return list(PHASES)
    if not isinstance(phases_given, list) or not phases_given:
        raise CampaignError(f"phases: got {phases_given!r}; expected 'all' or a list of {', '.join(PHASES)}")
    try:
        return [normalise_phase(p) for p in phases_given]
    except ValueError as exc:
        raise CampaignError(f"phases: {exc}") from None


def _check_engine(labelling: dict[str, Any]) -> None:
    from perovflow.engines import make_engine

    try:
        make_engine(labelling["engine"], **labelling["options"])
    except ValueError as exc:
        message = str(exc)
        raise CampaignError(message if message.startswith("labelling.") else f"labelling.options: {message}") from None


def _check_selection(sections: dict[str, Any], phases: list[str]) -> None:
    """Cluster count and size bounds must fit the pool the campaign will generate."""
    from perovflow.structures import PerovskiteSystem, enumerate_compositions

    system = sections["system"]
    selection = sections["selection"]
    n_pool = len(enumerate_compositions(PerovskiteSystem(a=system["a"], b=system["b"], x=tuple(system["x"])))) \
        * len(phases) * sections["pool"]["per_composition"]
    clusters, low, high = selection["clusters"], selection["min_size"], selection["max_size"]
    if clusters > n_pool:
        raise CampaignError(f"selection.clusters: {clusters} clusters for a pool of {n_pool} structures; "
                            f"allowed: at most {n_pool}")
    bounded = selection["method"] in ("constrained", "k-means-constrained", "random")
    if bounded and clusters * low > n_pool:
        raise CampaignError(f"selection.min_size: {clusters} clusters x min_size {low} = {clusters * low} exceeds "
                            f"the pool of {n_pool} structures; allowed: min_size <= {n_pool // clusters}")
    if bounded and high is not None and (high < low or clusters * high < n_pool):
        raise CampaignError(f"selection.max_size: {high} with {clusters} clusters cannot hold {n_pool} structures "
                            f"(or is below min_size {low}); allowed: max_size >= {max(low, -(-n_pool // clusters))}")


def parse_campaign(data: Any, source: str = "campaign") -> Campaign:
    if not isinstance(data, dict):
        raise CampaignError(f"{source}: must be a YAML mapping with keys {', '.join(sorted(TOP_LEVEL))}")
    unknown = sorted(set(data) - TOP_LEVEL)
    if unknown:
        raise CampaignError(f"{unknown[0]}: unknown key; allowed: {', '.join(sorted(TOP_LEVEL))}")
    name = data.get("campaign")
    if name is None:
        raise CampaignError("campaign: missing; expected a name of letters, digits, '_', '-', '.'")
    if not isinstance(name, str) or not _NAME.match(name):
        raise CampaignError(f"campaign: got {name!r}; expected a name of letters, digits, '_', '-', '.'")
    if "system" not in data:
        raise CampaignError("system: missing; expected a mapping with a, b, x")
    sections = {section: _check_section(section, data.get(section)) for section in SCHEMA}
    phases = _check_system(sections["system"], data.get("phases"))
    _check_engine(sections["labelling"])
    _check_selection(sections, phases)
    if sections["descriptor"]["x_min"] >= sections["descriptor"]["x_max"]:
        raise CampaignError("descriptor.x_min: must be smaller than descriptor.x_max")
    return Campaign(name=name, phases=phases, **sections)


def load_campaign(path: str | Path) -> Campaign:
    from perovflow.yaml_files import read_yaml

    data = read_yaml(path, CampaignError)
    try:
        return parse_campaign(data, str(path))
    except CampaignError as exc:
        raise CampaignError(f"{path}: {exc}") from None
