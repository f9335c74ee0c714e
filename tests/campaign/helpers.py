"""Small campaigns for tests (2 phases x 25 compositions of CsPb(Cl/Br)3)."""
from __future__ import annotations

from perovflow.settings import CampaignSettings, parse_campaign


def small_campaign(name: str = "tiny", **overrides) -> dict:
    """A campaign file's content small enough for tests; ``overrides`` update sections."""
    data = {
        "campaign": name,
        "system": {"a": "Cs", "b": "Pb", "x": ["Cl", "Br"]},
        "phases": ["Pm-3m", "Pnma"],
        "pool": {"per_composition": 2, "test_per_composition": 1, "seed": 3, "chunk_size": 40},
        "selection": {"clusters": 10, "batches": 2, "seed": 3, "min_size": 5},
        "labelling": {"engine": "chgnet", "group_size": 6},
        "active": {"enabled": False},
    }
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return data


def small_settings(name: str = "tiny", **overrides) -> CampaignSettings:
    return parse_campaign(small_campaign(name, **overrides))


# both active-learning stages and pruning in about a minute of CHGNet labels
ACTIVE = {"enabled": True, "starts_per_phase": 2, "per_phase": 1, "test_per_phase": 1, "stage1_iterations": 2,
          "stage2_iterations": 1, "stage2_dft_steps": 3, "dft_max_steps": 12, "ml_max_steps": 50,
          "test_max_steps": 30, "seed": 5}


# the same with shorter relaxations (looser ML fmax, fewer engine steps) for the local runner
ACTIVE_SHORT = {**ACTIVE, "ml_fmax": 0.02, "test_max_steps": 15}


def active_campaign(
    name: str, active: dict | None = None, phases: tuple[str, ...] = ("Pm-3m", "Pnma"), cell: str = "fixed",
    calibration_structures: int = 0,
) -> CampaignSettings:
    """A small active-learning campaign; the workflow tests keep the cell ``fixed`` (shorter
    relaxations), the campaign's own default is ``symmetric``."""
    return small_settings(
        name,
        phases=list(phases),
        pool={"calibration_structures": calibration_structures},
        selection={"clusters": 10, "batches": 2},
        active=active or ACTIVE,
        relax={"cell": cell},
    )
