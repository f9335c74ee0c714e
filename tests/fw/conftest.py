from __future__ import annotations

import pytest

from perovflow.config import parse_campaign


def small_campaign(name: str = "tiny", **overrides) -> dict:
    """A campaign small enough for tests: 2 phases x 25 compositions."""
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


@pytest.fixture
def tiny_campaign():
    return parse_campaign(small_campaign())
