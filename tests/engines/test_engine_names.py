"""An engine's ``name`` (written into every label) is the name a campaign file selects it by."""
from __future__ import annotations

import pytest

from perovflow.engines import ENGINES, make_engine


@pytest.mark.parametrize("name", ENGINES)
def test_engine_name_is_its_campaign_file_name(name, tmp_path, monkeypatch):
    # Constructing needs no external program: CHGNet loads its model, CP2K looks for its
    # binary and FHI-aims starts aims.x only when they calculate.
    monkeypatch.chdir(tmp_path)
    engine = make_engine(name)
    assert engine.name == name
    assert engine.settings_hash == make_engine(name).settings_hash
