from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _scratch_in_tmp(tmp_path_factory, monkeypatch):
    """Engines built without a scratch folder use one of the test session, not ~/.perovflow."""
    monkeypatch.setenv("PEROVFLOW_SCRATCH", str(tmp_path_factory.getbasetemp() / "perovflow-scratch"))
