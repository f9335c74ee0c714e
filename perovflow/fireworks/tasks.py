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

_STORES: dict[tuple, Store] = {}


def store_for(fw_spec: dict[str, Any], lp=None) -> Store:
    """The campaign's store, through the worker's own connection: its LaunchPad (from its
    launchpad file, with its credentials), or the worker's ``env.perovflow_db`` ({uri,
    database} or just {database}) from its ``my_fworker.yaml``. A Firework names only the
    database, never how to log in."""
    override = (fw_spec.get("_fw_env") or {}).get("perovflow_db") or {}
    campaign = fw_spec["campaign"]["name"]
    if override.get("uri"):
        key = (override["uri"], override["database"], campaign)
        if key not in _STORES:  # one client per worker process, reused across Fireworks
            _STORES[key] = Store.connect(override["uri"], override["database"], campaign)
        return _STORES[key]
    if lp is None:
        raise RuntimeError("a perovflow Firework runs with its worker's LaunchPad (spec _add_launchpad_and_fw_id)")
    database = override.get("database") or lp.db.name
    key = (id(lp.connection), database, campaign)
    if key not in _STORES:
        db = lp.connection[database]
        _STORES[key] = Store(db.with_options(codec_options=db.codec_options.with_options(tz_aware=True)), campaign)
    return _STORES[key]


def context_for(fw_spec: dict[str, Any], lp=None, fw_id: int | None = None) -> CampaignContext:
    """The step's context: settings validated from the spec, the worker's store, the
    Firework's id (recorded with every calculation the step stores)."""
    return CampaignContext(CampaignSettings.from_dict(fw_spec["campaign"]), store_for(fw_spec, lp), fw_id=fw_id)


class CampaignStepTask(FiretaskBase):
    """Run campaign step ``step`` with ``args``. Stored under its full import path, so any
    worker that has perovflow installed finds it without FireWorks' USER_PACKAGES."""

    _fw_name = "{{perovflow.fireworks.tasks.CampaignStepTask}}"
    required_params = ["step"]
    optional_params = ["args"]

    def run_task(self, fw_spec):
        # _add_launchpad_and_fw_id in the spec: FireWorks sets self.launchpad and self.fw_id
        nxt = run_step(context_for(fw_spec, getattr(self, "launchpad", None), getattr(self, "fw_id", None)),
                       self["step"], dict(self.get("args") or {}))
        return fwaction(nxt, fw_spec, self)
