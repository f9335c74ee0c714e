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


def fizzle_reason(db: Database, fw_id: int) -> str | None:
    """Last line of the exception FireWorks stored with the Firework's latest fizzled launch."""
    launch = db.launches.find_one({"fw_id": fw_id, "state": "FIZZLED"}, {"action": 1},
                                  sort=[("launch_id", -1)])
    trace = (((launch or {}).get("action") or {}).get("stored_data") or {}).get("_exception", {})
    lines = [line for line in str(trace.get("_stacktrace", "")).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


def summary(db: Database, campaign: str) -> dict[str, Any]:
    structures = Counter(doc["role"] for doc in db.structures.find({"campaign": campaign}, {"role": 1}))
    calculations = Counter(
        (doc["engine"], doc["status"]) for doc in db.calculations.find({"campaign": campaign}, {"engine": 1, "status": 1})
    )
    fizzled = [
        {"fw_id": doc["fw_id"], "name": doc.get("name"), "reason": fizzle_reason(db, doc["fw_id"])}
        for doc in db.fireworks.find({"spec.campaign.name": campaign, "state": "FIZZLED"}, {"fw_id": 1, "name": 1})
    ]
    failed_labels = [
        {"structure_id": doc["structure_id"], "engine": doc["engine"], "reason": doc.get("reason")}
        for doc in db.calculations.find({"campaign": campaign, "status": "failed"},
                                        {"structure_id": 1, "engine": 1, "reason": 1})
    ]
    return {
        "campaign": campaign,
        "jobs": job_states(db, campaign),
        "structures": dict(structures),
        "labels": {f"{engine}/{status}": n for (engine, status), n in sorted(calculations.items())},
        "fizzled": fizzled,
        "failed_labels": failed_labels,
        "learning_curve": learning_curve(db, campaign),
    }


def format_summary(info: dict[str, Any]) -> str:
    lines = [f"campaign {info['campaign']}"]
    jobs = ", ".join(f"{state} {n}" for state, n in info["jobs"].items()) or "none"
    lines.append(f"  jobs:       {jobs}")
    lines.append("  structures: " + (", ".join(f"{r} {n}" for r, n in sorted(info["structures"].items())) or "none"))
    lines.append("  labels:     " + (", ".join(f"{k} {n}" for k, n in info["labels"].items()) or "none"))
    stand_ins = sorted({row["engine"] for row in info["learning_curve"] if row["is_dft"] is False})
    if stand_ins:
        lines.append(f"  note:       labels from a stand-in oracle ({', '.join(stand_ins)}), not DFT")
    if info["fizzled"]:
        lines.append(f"  failed jobs ({len(info['fizzled'])}; the campaign went on without them):")
        lines.extend(f"    fw {f['fw_id']} {f['name']}: {f['reason']}" for f in info["fizzled"][:10])
    if info["failed_labels"]:
        lines.append(f"  failed labels ({len(info['failed_labels'])}, not in any training set):")
        lines.extend(f"    {f['structure_id'][:12]} {f['engine']}: {f['reason']}" for f in info["failed_labels"][:10])
    if info["learning_curve"]:
        lines.append("  learning curve (test-set energy error, meV/atom):")
        lines.append("    version  batch  n_train  n_test      MAE     RMSE")
        for row in info["learning_curve"]:
            lines.append(f"    {row['version']:>7}  {row['batch']!s:>5}  {row['n_train']!s:>7}  {row['n_test']!s:>6}"
                         f"  {row['mae']:7.3f}  {row['rmse']:7.3f}")
    return "\n".join(lines)
