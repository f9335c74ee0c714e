"""What the initial selection picked, against the pool it picked from (the paper's Fig. 3):
cluster sizes, phases and halide content of the structures in the labelling batches."""
from __future__ import annotations

from collections import Counter
from typing import Any

from ase.formula import Formula
from pymongo.database import Database

from perovflow.structures.system import ALLOWED_X


def _halide_counts(formula: str) -> dict[str, int]:
    counts = Formula(formula).count()
    return {x: counts.get(x, 0) for x in ALLOWED_X if counts.get(x, 0)}


def selection_overview(db: Database, campaign: str) -> dict[str, Any] | None:
    """Cluster sizes, and per pool structure its phase, the fraction of the lightest halide
    of the system and whether a batch selected it; None before the selection exists."""
    selection = db.selections.find_one({"campaign": campaign, "name": "initial"}, {"cluster_of": 1, "batches": 1})
    if selection is None:
        return None
    selected = {sid for batch in selection["batches"] for sid in batch}
    rows = []
    halides: set[str] = set()
    for doc in db.members.find({"campaign": campaign, "role": "pool"}, {"structure_id": 1, "phase": 1, "formula": 1}):
        counts = _halide_counts(doc["formula"])
        halides.update(counts)
        rows.append((doc["structure_id"], doc.get("phase"), counts))
    if not rows:
        return None
    reference = next(x for x in ALLOWED_X if x in halides)
    structures = [{"structure_id": sid, "phase": phase,
                   "fraction": counts.get(reference, 0) / max(sum(counts.values()), 1),
                   "selected": sid in selected} for sid, phase, counts in rows]
    sizes = sorted(Counter(selection["cluster_of"].values()).values())
    return {"campaign": campaign, "halide": reference, "cluster_sizes": sizes, "structures": structures}
