"""What a campaign has done so far, read from the database (jobs, data, learning curve)."""
from __future__ import annotations

from collections import Counter
from typing import Any

from pymongo.database import Database


def job_states(db: Database, campaign: str) -> dict[str, int]:
    states = Counter(doc["state"] for doc in db.fireworks.find({"spec.campaign.name": campaign}, {"state": 1}))
    return dict(sorted(states.items()))


def learning_curve(db: Database, campaign: str) -> list[dict[str, Any]]:
    rows = []
    for doc in db.models.find({"campaign": campaign}, {"file_id": 0, "training_ids": 0}).sort("version", 1):
        metrics = doc.get("metrics", {})
        rows.append({
            "version": doc["version"], "stage": doc.get("stage"), "batch": doc.get("batch"),
            "n_train": metrics.get("n_train"), "n_test": metrics.get("n_test"),
            "mae": metrics.get("test_energy_mae_mev_per_atom"),
            "rmse": metrics.get("test_energy_rmse_mev_per_atom"),
            "engine": doc.get("engine"), "is_dft": doc.get("is_dft"),
        })
    return rows


def summary(db: Database, campaign: str) -> dict[str, Any]:
    structures = Counter(doc["role"] for doc in db.structures.find({"campaign": campaign}, {"role": 1}))
    calculations = Counter(
        (doc["engine"], doc["status"]) for doc in db.calculations.find({"campaign": campaign}, {"engine": 1, "status": 1})
    )
    fizzled = [
        {"fw_id": doc["fw_id"], "name": doc.get("name")}
        for doc in db.fireworks.find({"spec.campaign.name": campaign, "state": "FIZZLED"}, {"fw_id": 1, "name": 1})
    ]
    return {
        "campaign": campaign,
        "jobs": job_states(db, campaign),
        "structures": dict(structures),
        "labels": {f"{engine}/{status}": n for (engine, status), n in sorted(calculations.items())},
        "fizzled": fizzled,
        "learning_curve": learning_curve(db, campaign),
    }


def format_summary(info: dict[str, Any]) -> str:
    lines = [f"campaign {info['campaign']}"]
    jobs = ", ".join(f"{state} {n}" for state, n in info["jobs"].items()) or "none"
    lines.append(f"  jobs:       {jobs}")
    lines.append("  structures: " + (", ".join(f"{r} {n}" for r, n in sorted(info["structures"].items())) or "none"))
    lines.append("  labels:     " + (", ".join(f"{k} {n}" for k, n in info["labels"].items()) or "none"))
    if any(not row["is_dft"] for row in info["learning_curve"]) or any(
        "chgnet" in key for key in info["labels"]
    ):
        lines.append("  note:       labels from a stand-in oracle (CHGNet), not DFT")
    if info["fizzled"]:
        lines.append(f"  failed jobs (campaign went on without them): "
                     + ", ".join(f"{f['fw_id']} {f['name']}" for f in info["fizzled"][:10]))
    if info["learning_curve"]:
        lines.append("  learning curve (test-set energy error, meV/atom):")
        lines.append("    version  batch  n_train  n_test      MAE     RMSE")
        for row in info["learning_curve"]:
            lines.append(f"    {row['version']:>7}  {row['batch']!s:>5}  {row['n_train']!s:>7}  {row['n_test']!s:>6}"
                         f"  {row['mae']:7.3f}  {row['rmse']:7.3f}")
    return "\n".join(lines)
