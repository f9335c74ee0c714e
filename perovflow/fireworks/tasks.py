"""The one FireTask of perovflow: it runs a campaign step (:mod:`perovflow.campaign.steps`)
and hands what runs next to FireWorks. Every step is idempotent, so a Firework re-run
after a crash reuses what is already stored."""
from __future__ import annotations

from typing import Any

from fireworks import FiretaskBase

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.steps import run_step
from perovflow.fireworks.builder import fwaction
from perovflow.settings import CampaignSettings
from perovflow.store.store import Store

_STORES: dict[tuple[str, str, str], Store] = {}


def store_for(fw_spec: dict[str, Any]) -> Store:
    target = (fw_spec.get("_fw_env") or {}).get("perovflow_db") or fw_spec["_perovflow_db"]
    campaign = fw_spec["campaign"]["name"]
    key = (target["uri"], target["database"], campaign)
    if key not in _STORES:  # one client per worker process, reused across Fireworks
        _STORES[key] = Store.connect(target["uri"], target["database"], campaign)
    return _STORES[key]


def context_for(fw_spec: dict[str, Any]) -> CampaignContext:
    """The step's context: settings validated from the spec, the worker's store."""
    return CampaignContext(CampaignSettings.from_dict(fw_spec["campaign"]), store_for(fw_spec))


class CampaignStepTask(FiretaskBase):
    """Run campaign step ``step`` with ``args``. Stored under its full import path, so any
    worker that has perovflow installed finds it without FireWorks' USER_PACKAGES."""

    _fw_name = "{{perovflow.fireworks.tasks.CampaignStepTask}}"
    required_params = ["step"]
    optional_params = ["args"]

    def run_task(self, fw_spec):
        nxt = run_step(context_for(fw_spec), self["step"], dict(self.get("args") or {}))
        return fwaction(nxt, fw_spec, type(self))
