"""Issue 14: campaigns share a database safely. Two campaigns with the same pool both
complete (labels are shared by content: the second reuses the first's CHGNet labels), and
replacing one leaves the other's documents and files unchanged; --replace can be run again
after a crash half-way; --again refuses a campaign file whose settings changed."""
from __future__ import annotations

import hashlib
import json

import pytest

from perovflow.campaign.local import run_local
from perovflow.fireworks.manager import SubmitError, remove_campaign, submit
from perovflow.store.connection import launchpad
from perovflow.store.store import Store
from tests.campaign.helpers import small_settings


def _fingerprint(db, campaign: str) -> tuple[dict, str]:
    """Counts and a checksum of everything a campaign reads: its members, their structures
    and labels, and its own documents and files."""
    store = Store(db, campaign)
    ids = sorted(db.members.distinct("structure_id", {"campaign": campaign}))
    parts = {
        "members": sorted((m["structure_id"], m["role"]) for m in db.members.find({"campaign": campaign})),
        "structures": sorted(d["_id"] for d in db.structures.find({"_id": {"$in": ids}}, {"_id": 1})),
        "labels": sorted((c["structure_id"], c["status"], c.get("energy_per_atom"))
                         for c in db.calculations.find({"structure_id": {"$in": ids}})),
        "models": [(m["version"], m["tag"], m["metrics"]["test_energy_mae_mev_per_atom"]) for m in store.models()],
        "model_files": sorted(hashlib.sha256(store.model_files.get(m["file_id"]).read()).hexdigest()
                              for m in db.models.find({"campaign": campaign})),
        "feature_files": sorted(hashlib.sha256(store.feature_files.get(f["file_id"]).read()).hexdigest()
                                for f in db.features.find({"campaign": campaign})),
        "selections": sorted(s["name"] for s in db.selections.find({"campaign": campaign})),
    }
    counts = {key: len(value) for key, value in parts.items()}
    return counts, hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def test_two_campaigns_with_one_pool_and_replacing_one(target):
    lp = launchpad(target)
    first, second = small_settings("first"), small_settings("second")
    for settings in (first, second):
        run = run_local(settings, Store(lp.db, settings.name))
        assert run.states() == {"completed": len(run.outcomes)}
    for name in ("first", "second"):
        store = Store(lp.db, name)
        assert len(store.structure_ids("pool")) == 100 and len(store.structure_ids("test")) == 50
        assert [m["tag"] for m in store.models()] == ["initial/batch-0", "initial/batch-1"]
    # the second campaign's labels are the first's (same content, engine and settings)
    assert lp.db.calculations.count_documents({}) == 50 + 20
    before = _fingerprint(lp.db, "first")
    assert before[0]["labels"] == 70 and before[0]["models"] == 2

    remove_campaign(lp, "second")
    assert _fingerprint(lp.db, "first") == before
    assert lp.db.members.count_documents({"campaign": "second"}) == 0
    assert lp.db.models.count_documents({"campaign": "second"}) == 0

    remove_campaign(lp, "first")  # nothing is left of either
    assert lp.db.structures.count_documents({}) == 0 and lp.db.calculations.count_documents({}) == 0


def test_replace_after_a_crash_and_again_with_changed_settings(target):
    lp = launchpad(target)
    settings = small_settings("edited")
    submit(settings, target)
    Store(lp.db, "edited").save_selection("initial", {"batches": [["stale"]]})
    lp.workflows.delete_many({})  # a --replace that crashed after deleting the workflows
    lp.fireworks.delete_many({})
    submit(settings, target, replace=True)
    assert Store(lp.db, "edited").selection("initial") is None  # the stale selection went too

    changed = small_settings("edited", pool={"seed": 4}, selection={"clusters": 12})
    with pytest.raises(SubmitError, match=r"pool\.seed: 3 -> 4.*selection\.clusters: 10 -> 12"):
        submit(changed, target, again=True)
    assert len(submit(settings, target, again=True)) > 0  # the same settings may be added again
