"""Campaign settings: one frozen dataclass per section of a campaign file, validated once.

Every field carries its default (the paper's number where Homm et al. 2025 give one: Table
S1 and section IV), what is allowed, and a check. Table S1 has one column per system; the
campaign file's top-level ``hyperparameters`` picks the column (:data:`TABLE_S1`) that fills
the ``descriptor`` and ``model`` keys the file leaves out. :func:`parse_campaign` refuses unknown
keys and bad values with a message that names the field (``section.key``) and what is
allowed, before anything is written; the result is typed all the way down, so code reads
``settings.active.threshold_mev`` instead of dictionary keys.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from perovflow.engines import LABEL_SOURCES, make_engine
from perovflow.selection import SIZE_BOUNDED, check_sizes
from perovflow.selection.methods import METHODS
from perovflow.structures import CELL_MODES, PHASES, PerovskiteSystem, enumerate_compositions, normalise_phase
from perovflow.yaml_files import read_yaml


class CampaignError(ValueError):
    """A campaign that cannot be run; the message names the field."""


# checks -------------------------------------------------------------------------------
def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_number(value: Any) -> bool:
    return _number(value) and value > 0


def _non_negative_number(value: Any) -> bool:
    return _number(value) and value >= 0


def _fraction_open(value: Any) -> bool:
    return _positive_number(value) and value < 1


def _boolean(value: Any) -> bool:
    return isinstance(value, bool)


def _setting(default: Any, allowed: str, check: Callable[[Any], bool], paper: Any = None,
             required: bool = False) -> Any:
    """A dataclass field with what a campaign file may give for it; ``paper``: the value of
    Homm et al. 2025, named in the message."""
    text = f"{allowed} (the paper: {paper})" if paper is not None else allowed
    metadata = {"allowed": text, "check": check, "required": required}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _choice(default: str, options: tuple[str, ...]) -> Any:
    ordered = (default, *[o for o in options if o != default])
    return _setting(default, "one of " + ", ".join(ordered), lambda v: v in ordered)


_SEED = ("a non-negative integer (random seed)", _non_negative_int)


# Table S1 --------------------------------------------------------------------------------
# The hyperparameters of Homm, Laakso, Rinke 2025, Table S1 (Supplementary Sec. S3), one preset
# per column. A campaign file picks one with the top-level key ``hyperparameters`` (default:
# cssn_clbri3, the column every campaign used before the CsPb column was added); every value
# can still be overridden in its own section (``descriptor.sigma``, ``model.gamma``, ...).
NORMALIZATIONS = ("none", "l2", "n_atoms", "valle_oganov")  # what DScribe's MBTR accepts

TABLE_S1: dict[str, dict[str, dict[str, Any]]] = {
    "cssn_clbri3": {  # Table S1 of Homm et al. 2025, CsSn(Cl/Br/I)3 column (the ternary model)
        "descriptor": {
            "x_min": -0.1,  # Table S1, CsSn(Cl/Br/I)3 column: x_min = -0.1 1/Å
            "x_max": 0.6,  # Table S1, CsSn(Cl/Br/I)3 column: x_max = 0.6 1/Å
            "n_grid": 50,  # Table S1, CsSn(Cl/Br/I)3 column: N = 50
            "sigma": 4.279e-2,  # Table S1, CsSn(Cl/Br/I)3 column: sigma = 4.279e-2 1/Å
            "r_cut": 7.04,  # Table S1, CsSn(Cl/Br/I)3 column: r_cut = 7.04 Å
            "w_cut": 1.0e-3,  # Table S1, CsSn(Cl/Br/I)3 column: w_cut = 1.0e-3
            # the paragraph after Table S1: "in the ternary model, MBTR vectors were normalized
            # with the number of atoms in the atomic structures"
            "normalization": "n_atoms",
        },
        "model": {
            "alpha": 1.0e-5,  # Table S1, CsSn(Cl/Br/I)3 column: alpha = 1.0e-5
            # Table S1, CsSn(Cl/Br/I)3 column: gamma = 4.279e-2. It equals this column's sigma to
            # four digits, which may be a typo in the paper; the printed value is kept.
            "gamma": 4.279e-2,
        },
    },
    "cspb_clbr3": {  # Table S1 of Homm et al. 2025, CsPb(Cl/Br)3 column (the binary model)
        "descriptor": {
            "x_min": -0.1,  # Table S1, CsPb(Cl/Br)3 column: x_min = -0.1 1/Å
            "x_max": 0.6,  # Table S1, CsPb(Cl/Br)3 column: x_max = 0.6 1/Å
            "n_grid": 50,  # Table S1, CsPb(Cl/Br)3 column: N = 50
            "sigma": 1.752e-2,  # Table S1, CsPb(Cl/Br)3 column: sigma = 1.752e-2 1/Å
            "r_cut": 6.27,  # Table S1, CsPb(Cl/Br)3 column: r_cut = 6.27 Å
            "w_cut": 1.0e-3,  # Table S1, CsPb(Cl/Br)3 column: w_cut = 1.0e-3
            # the paragraph after Table S1: only the ternary model normalised its MBTR vectors,
            # so the binary CsPb(Cl/Br)3 model's are not normalised
            "normalization": "none",
        },
        "model": {
            "alpha": 1.0e-5,  # Table S1, CsPb(Cl/Br)3 column: alpha = 1.0e-5
            "gamma": 1.280e-4,  # Table S1, CsPb(Cl/Br)3 column: gamma = 1.280e-4
        },
    },
}
DEFAULT_PRESET = "cssn_clbri3"
_DEFAULT = TABLE_S1[DEFAULT_PRESET]


def _paper(section: str, key: str) -> str:
    """The Table S1 value of every column, for error messages."""
    return ", ".join(f"{TABLE_S1[name][section][key]!r} in {name}" for name in TABLE_S1)


# sections -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SystemSettings:
    a: str = _setting(None, "an element symbol for the A site, e.g. Cs", lambda v: isinstance(v, str), required=True)
    b: str = _setting(None, "an element symbol for the B site, e.g. Pb", lambda v: isinstance(v, str), required=True)
    x: tuple[str, ...] = _setting(
        None, "a list of 1-3 halide symbols, e.g. [Cl, Br]",
        lambda v: isinstance(v, (list, tuple)) and 1 <= len(v) <= 3 and all(isinstance(s, str) for s in v),
        required=True)
    lattice_constants: dict[str, float] | None = _setting(
        None, "a mapping halide -> pseudo-cubic lattice constant in Å (> 0)",
        lambda v: v is None or (isinstance(v, dict) and all(_positive_number(c) for c in v.values())))

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", tuple(self.x))

    @property
    def species(self) -> tuple[str, ...]:
        return (self.a, self.b, *self.x)

    def perovskite(self) -> PerovskiteSystem:
        return PerovskiteSystem(a=self.a, b=self.b, x=self.x, lattice_constants=self.lattice_constants)


@dataclass(frozen=True)
class PoolSettings:
    per_composition: int = _setting(100, "a positive integer", _positive_int, paper=100)
    test_per_composition: int = _setting(2, "a positive integer", _positive_int, paper=2)
    # held-out structures whose errors set the GP amplitude of sigma; the paper has none
    calibration_structures: int = _setting(
        0, "a non-negative integer (0: sigma calibrated by leave-one-out residuals of the training set)",
        _non_negative_int)
    seed: int = _setting(0, *_SEED)
    chunk_size: int = _setting(2000, "a positive integer (structures per featurization job)", _positive_int)


@dataclass(frozen=True)
class DescriptorSettings:
    """MBTR k=2; defaults: the CsSn(Cl/Br/I)3 column of Table S1 (see :data:`TABLE_S1`)."""

    sigma: float = _setting(_DEFAULT["descriptor"]["sigma"], "a positive number in 1/Å", _positive_number,
                            paper=_paper("descriptor", "sigma"))
    r_cut: float = _setting(_DEFAULT["descriptor"]["r_cut"], "a positive number in Å", _positive_number,
                            paper=_paper("descriptor", "r_cut"))
    n_grid: int = _setting(_DEFAULT["descriptor"]["n_grid"], "an integer >= 2 (grid points)",
                           lambda v: _positive_int(v) and v >= 2, paper=_paper("descriptor", "n_grid"))
    x_min: float = _setting(_DEFAULT["descriptor"]["x_min"], "a number in 1/Å", _number,
                            paper=_paper("descriptor", "x_min"))
    x_max: float = _setting(_DEFAULT["descriptor"]["x_max"], "a number in 1/Å", _number,
                            paper=_paper("descriptor", "x_max"))
    w_cut: float = _setting(_DEFAULT["descriptor"]["w_cut"], "a number in (0, 1)", _fraction_open,
                            paper=_paper("descriptor", "w_cut"))
    normalization: str = _setting(
        _DEFAULT["descriptor"]["normalization"],
        "one of " + ", ".join(NORMALIZATIONS) + " (DScribe's MBTR normalisation; n_atoms: divided by the number "
        "of atoms)", lambda v: v in NORMALIZATIONS, paper=_paper("descriptor", "normalization"))


@dataclass(frozen=True)
class SelectionSettings:
    method: str = _choice("constrained", METHODS)
    clusters: int = _setting(2000, "a positive integer", _positive_int, paper="2000 for a ternary")
    min_size: int = _setting(20, "a non-negative integer: smallest cluster (0: no bound)", _non_negative_int,
                             paper=20)
    max_size: int | None = _setting(None, "a positive integer or null (no bound)",
                                    lambda v: v is None or _positive_int(v))
    batches: int = _setting(8, "a positive integer: batches of one structure per cluster", _positive_int)
    seed: int = _setting(0, *_SEED)
    plateau_mev: float = _setting(0.0, "a non-negative number: stop adding batches when the test MAE improves "
                                       "by less than this many meV/atom (0: never stop early)", _non_negative_number)

    @property
    def size_bounded(self) -> bool:
        return self.method in SIZE_BOUNDED


@dataclass(frozen=True)
class LabellingSettings:
    engine: str = _choice("chgnet", LABEL_SOURCES)
    options: dict[str, Any] = _setting({}, "a mapping of the engine's settings, e.g. {command: 'srun aims.x', "
                                           "species_dir: /path/to/species_defaults}", lambda v: isinstance(v, dict))
    group_size: int = _setting(1, "a positive integer: structures per labelling job", _positive_int)
    max_attempts: int = _setting(3, "a positive integer: tries of a failing label before it is failed for good",
                                 _positive_int)


@dataclass(frozen=True)
class ModelSettings:
    kind: str = _choice("krr", ("krr", "krr-forces"))  # krr-forces: energies and force projections
    alpha: float = _setting(_DEFAULT["model"]["alpha"], "a positive number (KRR regulariser)", _positive_number,
                            paper=_paper("model", "alpha"))
    gamma: float = _setting(_DEFAULT["model"]["gamma"], "a positive number (Gaussian kernel exp(-gamma |x - x'|^2))",
                            _positive_number, paper=_paper("model", "gamma"))
    tune: bool = _setting(False, "true or false: tune gamma and alpha by BOSS with k-fold cross-validation at "
                                 "every initial fit (active-learning refits keep the last values)", _boolean)
    tune_folds: int = _setting(5, "an integer >= 2", lambda v: _positive_int(v) and v >= 2)
    tune_max_points: int = _setting(4000, "a positive integer: cross-validate on at most this many structures",
                                    _positive_int)
    tune_iterations: int = _setting(25, "a positive integer: BOSS acquisitions after 5 initial points",
                                    _positive_int, paper=25)
    force_directions: int = _setting(4, "a positive integer: random force projections per structure (kind "
                                        "krr-forces)", _positive_int)
    force_alpha: float = _setting(5.0e-3, "a positive number: regulariser of the force projections as a fraction "
                                          "of each projection's prior variance, as alpha is of the energies' (kind "
                                          "krr-forces)", _positive_number)


@dataclass(frozen=True)
class ActiveSettings:
    """Two-stage active learning and the relaxation test (section IV.B of the paper)."""

    enabled: bool = _setting(True, "true or false (false: initial dataset only)", _boolean)
    starts_per_phase: int = _setting(25, "a positive integer: ML relaxations per phase and iteration",
                                     _positive_int, paper=25)
    per_phase: int = _setting(2, "a positive integer: DFT relaxations per phase and iteration", _positive_int,
                              paper=2)
    threshold_mev: float = _setting(0.5, "a positive number: GPR sigma threshold in meV/atom", _positive_number,
                                    paper=0.5)
    threshold_drop: float = _setting(0.2, "a number in (0, 1): relative drop of a phase's threshold when fewer "
                                          "than per_phase of its relaxations cross it", _fraction_open, paper=0.2)
    ml_fmax: float = _setting(0.005, "a positive number in eV/Å", _positive_number, paper=0.005)
    ml_max_steps: int = _setting(200, "a positive integer", _positive_int, paper=200)
    dft_fmax: float = _setting(0.1, "a positive number in eV/Å: stage-1 DFT relaxations", _positive_number,
                               paper=0.1)
    dft_max_steps: int = _setting(100, "a positive integer: step limit of stage-1 DFT relaxations", _positive_int)
    stage2_dft_steps: int = _setting(
        5,
        "a positive integer: DFT calculations per stage-2 relaxation (the start, then one per step)",
        _positive_int,
        paper=5,
    )
    stage1_iterations: int = _setting(20, "a positive integer: most stage-1 iterations", _positive_int)
    stage2_iterations: int = _setting(10, "a positive integer: most stage-2 iterations", _positive_int)
    plateau_mev: float = _setting(0.1, "a non-negative number: a stage ends when the relaxation-test MAE improves "
                                       "by less than this (meV/atom) over plateau_window iterations",
                                  _non_negative_number)
    plateau_window: int = _setting(2, "a positive integer (iterations)", _positive_int)
    min_convergence: float = _setting(0.95, "a number in [0, 1]: share of converged test relaxations before "
                                            "stage 1 may end", lambda v: _number(v) and 0 <= v <= 1)
    label_budget: int = _setting(0, "a non-negative integer: most labels for active learning (0: no limit)",
                                 _non_negative_int)
    test_per_phase: int = _setting(25, "a positive integer: relaxation-test structures per phase", _positive_int,
                                   paper=25)
    test_fmax: float = _setting(0.01, "a positive number in eV/Å: the engine's relaxation-test fmax",
                                _positive_number)
    test_max_steps: int = _setting(200, "a positive integer: the engine's relaxation-test step limit",
                                   _positive_int)
    ml_batch_size: int = _setting(
        0,
        "a non-negative integer: ML relaxations per job (Firework) of the relaxation test and the exploration "
        "(0: each split into 4 jobs)",
        _non_negative_int,
    )
    seed: int = _setting(0, *_SEED)


@dataclass(frozen=True)
class PruneSettings:
    enabled: bool = _setting(True, "true or false", _boolean)
    keep_fraction: float = _setting(0.5, "a number in (0, 1]: share of relaxation snapshots kept (one per "
                                         "k-means cluster)", lambda v: _positive_number(v) and v <= 1)
    seed: int = _setting(0, *_SEED)


@dataclass(frozen=True)
class RelaxSettings:
    """What every relaxation of a campaign moves (ML, relaxation test and active learning)."""

    cell: str = _setting(
        "symmetric",
        "one of symmetric, fixed (symmetric: lattice parameters relax within the "
        "phase's space group, as the halides; fixed: the Vegard cell is kept)",
        lambda v: v in CELL_MODES,
        paper="symmetric",
    )


_CATEGORY = re.compile(r"^[A-Za-z0-9_.-]{0,64}$")


@dataclass(frozen=True)
class QueueSettings:
    """FireWorks categories (``_category``) of the campaign's jobs, so that a cluster runs them
    on different queues and node counts: workers whose ``my_fworker.yaml`` says ``category:
    dft`` take only the engine's jobs. A worker with an empty category takes every job."""

    dft: str = _setting("dft", "a FireWorks category name (letters, digits, _ . -; '' for none): labels and "
                               "engine relaxations", lambda v: isinstance(v, str) and bool(_CATEGORY.match(v)))
    ml: str = _setting("ml", "a FireWorks category name (letters, digits, _ . -; '' for none): pool, features, "
                             "selection, fits, ML relaxations, pruning",
                       lambda v: isinstance(v, str) and bool(_CATEGORY.match(v)))


SECTIONS: dict[str, type] = {
    "system": SystemSettings,
    "pool": PoolSettings,
    "descriptor": DescriptorSettings,
    "selection": SelectionSettings,
    "labelling": LabellingSettings,
    "model": ModelSettings,
    "active": ActiveSettings,
    "prune": PruneSettings,
    "relax": RelaxSettings,
    "queues": QueueSettings,
}
TOP_LEVEL = ("campaign", "phases", "hyperparameters", *SECTIONS)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class CampaignSettings:
    name: str
    phases: tuple[str, ...]
    system: SystemSettings
    pool: PoolSettings = field(default_factory=PoolSettings)
    descriptor: DescriptorSettings = field(default_factory=DescriptorSettings)
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    labelling: LabellingSettings = field(default_factory=LabellingSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    active: ActiveSettings = field(default_factory=ActiveSettings)
    prune: PruneSettings = field(default_factory=PruneSettings)
    relax: RelaxSettings = field(default_factory=RelaxSettings)
    queues: QueueSettings = field(default_factory=QueueSettings)

    @property
    def species(self) -> tuple[str, ...]:
        return self.system.species

    def pool_sizes(self) -> dict[str, int]:
        """How many pool, test and calibration structures the campaign generates (known before
        generating)."""
        cells = len(enumerate_compositions(self.system.perovskite())) * len(self.phases)
        sizes = {"pool": cells * self.pool.per_composition, "test": cells * self.pool.test_per_composition}
        if self.pool.calibration_structures:
            sizes["calibration"] = self.pool.calibration_structures
        return sizes

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON (lists for tuples): a campaign file's sections, with the campaign's
        name under ``name`` (Firework specs carry this; queries use ``spec.campaign.name``)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CampaignSettings:
        """The settings from :meth:`as_dict`, validated again."""
        content = dict(data)
        content["campaign"] = content.pop("name", None)
        return parse_campaign(content)


# settings added since campaigns were first stored, with the value every earlier campaign used
ADDED_SETTINGS: dict[str, dict[str, Any]] = {"pool": {"calibration_structures": 0},
                                             "descriptor": {"normalization": "n_atoms"}, "relax": {"cell": "fixed"},
                                             "model": {"force_directions": 4, "force_alpha": 5.0e-3},
                                             # earlier jobs had no category; any worker ran them, as they still do
                                             "queues": {"dft": "dft", "ml": "ml"}}


def with_added_settings(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored campaign's settings (:meth:`CampaignSettings.as_dict`) completed with the keys
    added since it was stored, at the values it ran with, so that it compares equal to the same
    campaign file read today."""
    completed = dict(stored)
    for section, added in ADDED_SETTINGS.items():
        if section not in completed:
            completed[section] = dict(added)
        elif isinstance(completed[section], dict):
            completed[section] = {**added, **completed[section]}
    return completed


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# parsing ------------------------------------------------------------------------------
def _section(name: str, given: Any, defaults: dict[str, Any] | None = None) -> Any:
    """A section's settings from the file; keys it leaves out come from ``defaults`` (a
    Table S1 preset), then from the dataclass."""
    cls = SECTIONS[name]
    fields = dataclasses.fields(cls)
    keys = [f.name for f in fields]
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise CampaignError(f"{name}: must be a mapping with keys {', '.join(keys)}")
    unknown = sorted(set(given) - set(keys))
    if unknown:
        raise CampaignError(f"{name}.{unknown[0]}: unknown key; allowed: {', '.join(keys)}")
    values = {}
    for spec in fields:
        allowed = spec.metadata["allowed"]
        if spec.name not in given:
            if spec.metadata["required"]:
                raise CampaignError(f"{name}.{spec.name}: missing; expected {allowed}")
            if defaults and spec.name in defaults:
                values[spec.name] = defaults[spec.name]
            continue
        value = given[spec.name]
        if not spec.metadata["check"](value):
            raise CampaignError(f"{name}.{spec.name}: got {value!r}; expected {allowed}")
        values[spec.name] = value
    return cls(**values)


def _preset(name: Any) -> dict[str, dict[str, Any]]:
    """The Table S1 column a campaign file names under ``hyperparameters``."""
    if not isinstance(name, str) or name not in TABLE_S1:
        raise CampaignError(f"hyperparameters: got {name!r}; expected one of {', '.join(TABLE_S1)} (a column of "
                            "Table S1 of Homm et al. 2025: CsSn(Cl/Br/I)3 or CsPb(Cl/Br)3)")
    return TABLE_S1[name]


def _phases(system: SystemSettings, given: Any) -> tuple[str, ...]:
    try:
        system.perovskite()
    except ValueError as exc:
        raise CampaignError(f"system: {exc}") from None
    if given in (None, "all"):
        return tuple(PHASES)
    if not isinstance(given, (list, tuple)) or not given:
        raise CampaignError(f"phases: got {given!r}; expected 'all' or a list of {', '.join(PHASES)}")
    try:
        phases = tuple(normalise_phase(p) for p in given)
    except ValueError as exc:
        raise CampaignError(f"phases: {exc}") from None
    twice = sorted({p for p in phases if phases.count(p) > 1})
    if twice:
        raise CampaignError(f"phases: {twice[0]} is given twice; expected each of {', '.join(PHASES)} at most once")
    return phases


def _check_engine(labelling: LabellingSettings) -> None:
    try:
        make_engine(labelling.engine, **labelling.options)
    except ValueError as exc:
        message = str(exc)
        raise CampaignError(message if message.startswith("labelling.") else f"labelling.options: {message}") from None


def _check_cell_relaxation(labelling: LabellingSettings, relax: RelaxSettings) -> None:
    """A cell relaxation needs the stress from every engine step: FHI-aims only computes it
    when asked."""
    stress = labelling.options.get("compute_stress") or (labelling.options.get("settings") or {}).get("compute_stress")
    if relax.cell == "symmetric" and labelling.engine == "fhi-aims" and not stress:
        raise CampaignError(
            "relax.cell: 'symmetric' moves the cell, which needs FHI-aims' stress; set "
            "labelling.options.compute_stress: true, or relax.cell: fixed"
        )


def check_cluster_sizes(settings: CampaignSettings, n_pool: int | None = None) -> None:
    """The cluster count and size bounds must fit the pool the campaign will generate (or
    ``n_pool``, a pool read from imported labels); the one place this is decided for
    campaigns (the arithmetic is the selection package's)."""
    selection = settings.selection
    n_pool = settings.pool_sizes()["pool"] if n_pool is None else n_pool
    clusters, low, high = selection.clusters, selection.min_size, selection.max_size
    if clusters > n_pool:
        raise CampaignError(f"selection.clusters: {clusters} clusters for a pool of {n_pool} structures; "
                            f"allowed: at most {n_pool}")
    if not selection.size_bounded:
        return
    try:
        check_sizes(n_pool, clusters, low, high)
    except ValueError as exc:
        if clusters * low > n_pool:
            raise CampaignError(f"selection.min_size: {exc}; allowed: min_size <= {n_pool // clusters}") from None
        raise CampaignError(f"selection.max_size: {exc}; allowed: max_size >= "
                            f"{max(low, -(-n_pool // clusters))}") from None


def parse_campaign(data: Any, source: str = "campaign") -> CampaignSettings:
    """Validate a campaign file's content completely; the first problem raises
    :class:`CampaignError` naming the field."""
    if not isinstance(data, dict):
        raise CampaignError(f"{source}: must be a YAML mapping with keys {', '.join(sorted(TOP_LEVEL))}")
    unknown = sorted(set(data) - set(TOP_LEVEL))
    if unknown:
        raise CampaignError(f"{unknown[0]}: unknown key; allowed: {', '.join(sorted(TOP_LEVEL))}")
    name = data.get("campaign")
    if name is None:
        raise CampaignError("campaign: missing; expected a name of letters, digits, '_', '-', '.'")
    if not isinstance(name, str) or not _NAME.match(name):
        raise CampaignError(f"campaign: got {name!r}; expected a name of letters, digits, '_', '-', '.'")
    if "system" not in data:
        raise CampaignError("system: missing; expected a mapping with a, b, x")
    preset = _preset(data.get("hyperparameters", DEFAULT_PRESET))
    sections = {section: _section(section, data.get(section), preset.get(section)) for section in SECTIONS}
    phases = _phases(sections["system"], data.get("phases"))
    _check_engine(sections["labelling"])
    _check_cell_relaxation(sections["labelling"], sections["relax"])
    if sections["labelling"].engine == "imported" and sections["active"].enabled:
        raise CampaignError("active.enabled: imported labels cannot relax structures, which active learning "
                            "needs; allowed with labelling.engine imported: false")
    if sections["labelling"].engine == "imported" and sections["pool"].calibration_structures:
        raise CampaignError("pool.calibration_structures: imported labels bring their own calibration set (the "
                            "structures imported with role calibration, e.g. from calibration_set.xyz); allowed "
                            "with labelling.engine imported: 0")
    if sections["active"].enabled and sections["descriptor"].normalization == "l2":
        raise CampaignError(
            "descriptor.normalization: 'l2' has no analytic MBTR forces (DScribe), which the ML "
            "relaxations of active learning need; allowed with active learning: none, n_atoms, "
            "valle_oganov"
        )
    if sections["descriptor"].x_min >= sections["descriptor"].x_max:
        raise CampaignError("descriptor.x_min: must be smaller than descriptor.x_max")
    settings = CampaignSettings(name=name, phases=phases, **sections)
    if settings.labelling.engine != "imported":  # an imported pool's size is known once it is read
        check_cluster_sizes(settings)
    return settings


def load_campaign(path: str | Path) -> CampaignSettings:
    data = read_yaml(path, CampaignError)
    try:
        return parse_campaign(data, str(path))
    except CampaignError as exc:
        raise CampaignError(f"{path}: {exc}") from None
