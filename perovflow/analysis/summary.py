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
            # meV/Å; None for versions stored before force errors were measured
            "force_mae": metrics.get("test_force_mae_mev_per_angstrom"),
            "force_rmse": metrics.get("test_force_rmse_mev_per_angstrom"),
            "spearman": metrics.get("calibration_spearman"),
            "rmse_over_sigma": metrics.get("calibration_rmse_over_sigma_terciles"),
            "miscalibration_area": metrics.get("calibration_miscalibration_area"),
            # what set sigma's amplitude: "held-out" (calibration set) or "leave-one-out", and on how many
            "sigma_calibration": metrics.get("sigma_calibration"),
            "sigma_calibration_rows": metrics.get("sigma_calibration_rows"),
            "engine": doc.get("engine"), "is_dft": doc.get("is_dft"),
        })
    return rows


def _number(value: float | None, width: int, digits: int = 3) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def _model_label(row: dict[str, Any]) -> str:
    return f"batch {row['batch']}" if row["batch"] is not None else str(row["stage"])


def format_learning_curve(rows: list[dict[str, Any]]) -> list[str]:
    """Test-set energy and force errors of every model version ('-' where not measured)."""
    lines = ["  learning curve (test-set errors: energy meV/atom, force components meV/Å):",
             "    version  stage      n_train  n_test    E MAE   E RMSE     F MAE    F RMSE"]
    for row in rows:
        lines.append(f"    {row['version']:>7}  {_model_label(row):<9}  {row['n_train']!s:>7}  {row['n_test']!s:>6}"
                     f"  {_number(row['mae'], 7)}  {_number(row['rmse'], 7)}"
                     f"  {_number(row.get('force_mae'), 8, 1)}  {_number(row.get('force_rmse'), 8, 1)}")
    return lines


def format_calibration(rows: list[dict[str, Any]]) -> list[str]:
    """Sigma's calibration on the test set for the first and the latest model that has it."""
    measured = [row for row in rows if row.get("rmse_over_sigma")]
    if not measured:
        return []
    lines = ["  sigma calibration on the test set (Spearman of sigma with |error|; RMSE / mean sigma per sigma "
             "tercile, low to high; miscalibration area):"]
    for row in ([measured[0], measured[-1]] if len(measured) > 1 else measured):
        spearman = "-" if row["spearman"] is None else f"{row['spearman']:.2f}"
        ratios = " ".join(f"{r:.2f}" for r in row["rmse_over_sigma"])
        lines.append(f"    version {row['version']} ({_model_label(row)}): Spearman {spearman}, RMSE/sigma {ratios}, "
                     f"area {_number(row['miscalibration_area'], 0)}{_calibrated_by(row)}")
    return lines


def _calibrated_by(row: dict[str, Any]) -> str:
    n = row.get("sigma_calibration_rows")
    if row.get("sigma_calibration") == "held-out":
        return f"; sigma set on {n} held-out structures"
    if row.get("sigma_calibration") == "leave-one-out":
        return f"; sigma set by leave-one-out on {n} training structures"
    return ""  # versions stored before the rule was recorded


def fizzle_reason(db: Database, fw_id: int) -> str | None:
    """Last line of the exception FireWorks stored with the Firework's latest fizzled launch."""
    launch = db.launches.find_one({"fw_id": fw_id, "state": "FIZZLED"}, {"action": 1},
                                  sort=[("launch_id", -1)])
    trace = (((launch or {}).get("action") or {}).get("stored_data") or {}).get("_exception", {})
    lines = [line for line in str(trace.get("_stacktrace", "")).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


def failed_jobs(db: Database, campaign: str) -> list[dict[str, Any]]:
    """FIZZLED jobs of the campaign with their step and reason; ``blocking``: the campaign
    cannot finish without the job (anything but a label or an engine relaxation)."""
    rows = []
    for doc in db.fireworks.find({"spec.campaign.name": campaign, "state": "FIZZLED"},
                                 {"fw_id": 1, "name": 1, "spec._tasks": 1, "spec.perovflow_optional": 1}):
        spec = doc.get("spec") or {}
        tasks = spec.get("_tasks") or [{}]
        rows.append({"fw_id": doc["fw_id"], "name": doc.get("name"), "step": tasks[0].get("step"),
                     "blocking": not spec.get("perovflow_optional"), "reason": fizzle_reason(db, doc["fw_id"])})
    return sorted(rows, key=lambda row: row["fw_id"])


def format_blocking(rows: list[dict[str, Any]]) -> list[str]:
    """One line per blocking failure: the job, its step and the reason."""
    return [f"fw {row['fw_id']} {row['name']} (step {row['step']}): {row['reason']}" for row in rows
            if row["blocking"]]


def campaign_labels(db: Database, campaign: str, projection: dict[str, int],
                    **query: Any) -> list[dict[str, Any]]:
    """Labels of the campaign's structures, whichever campaign made them (labels are shared
    by content between campaigns of one database)."""
    ids = db.members.distinct("structure_id", {"campaign": campaign})
    docs: list[dict[str, Any]] = []
    # SecantusDB's $in grows worse than linearly: the demo's 3,019 ids in one query took 18 s, in chunks of 250 2 s
    for start in range(0, len(ids), 250):
        docs.extend(db.calculations.find({"structure_id": {"$in": ids[start:start + 250]}, **query}, projection))
    return docs


def labels_by_stage(labels: list[dict[str, Any]]) -> dict[str, int]:
    """Completed labels per purpose: initial single points, stage-1/2 relaxation steps, and
    the relaxation test's engine relaxations."""
    counts = Counter(doc.get("purpose") or "initial" for doc in labels if doc["status"] == "completed")
    return dict(sorted(counts.items()))


def active_learning(db: Database, campaign: str) -> list[dict[str, Any]]:
    rows = []
    for doc in db.al_iterations.find({"campaign": campaign}).sort("iteration", 1):
        test = doc.get("relaxation_test") or {}
        rows.append({
            "iteration": doc["iteration"], "stage": doc.get("stage"), "model_version": doc.get("refit_version",
                                                                                               doc.get("model_version")),
            "thresholds_mev": doc.get("thresholds_mev"), "acquisitions": len(doc.get("acquisitions") or []),
            "convergence": test.get("convergence"), "mae_mev": test.get("mae_mev"), "n_test": test.get("n"),
            "next_stage": doc.get("next_stage"), "n_kept": doc.get("n_kept"), "n_snapshots": doc.get("n_snapshots"),
            "before_pruning": doc.get("before_pruning"),
        })
    return rows


def initial_selection(db: Database, campaign: str) -> dict[str, Any] | None:
    """The clustering facts of the initial selection (without its id lists)."""
    doc = db.selections.find_one({"campaign": campaign, "name": "initial"}, {"cluster_of": 0, "_id": 0})
    if doc is None:
        return None
    batches = doc.pop("batches", [])
    return {**doc, "batches": len(batches), "selected": sum(len(b) for b in batches)}


def summary(db: Database, campaign: str) -> dict[str, Any]:
    structures = Counter(doc["role"] for doc in db.members.find({"campaign": campaign}, {"role": 1}))
    labels = campaign_labels(db, campaign, {"structure_id": 1, "engine": 1, "status": 1, "purpose": 1, "reason": 1})
    calculations = Counter((doc["engine"], doc["status"]) for doc in labels)
    fizzled = failed_jobs(db, campaign)
    failed_labels = [{"structure_id": doc["structure_id"], "engine": doc["engine"], "reason": doc.get("reason")}
                     for doc in labels if doc["status"] == "failed"]
    return {
        "campaign": campaign,
        "jobs": job_states(db, campaign),
        "structures": dict(structures),
        "labels": {f"{engine}/{status}": n for (engine, status), n in sorted(calculations.items())},
        "fizzled": fizzled,
        "failed_labels": failed_labels,
        "selection": initial_selection(db, campaign),
        "learning_curve": learning_curve(db, campaign),
        "labels_by_stage": labels_by_stage(labels),
        "active_learning": active_learning(db, campaign),
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
    blocking = format_blocking(info["fizzled"])
    if blocking:
        lines.append(f"  CAMPAIGN FAILED: {len(blocking)} job(s) it cannot finish without failed for good:")
        lines.extend(f"    {line}" for line in blocking[:10])
    tolerated = [f for f in info["fizzled"] if not f.get("blocking")]
    if tolerated:
        lines.append(f"  failed jobs ({len(tolerated)}; the campaign went on without them):")
        lines.extend(f"    fw {f['fw_id']} {f['name']}: {f['reason']}" for f in tolerated[:10])
    if info["failed_labels"]:
        lines.append(f"  failed labels ({len(info['failed_labels'])}, not in any training set):")
        lines.extend(f"    {f['structure_id'][:12]} {f['engine']}: {f['reason']}" for f in info["failed_labels"][:10])
    chosen = info.get("selection")
    if chosen:
        sizes = f" of {chosen['sizes_min']}-{chosen['sizes_max']}" if "sizes_min" in chosen else ""
        objective = f", objective {chosen['objective']:.6g}" if chosen.get("objective") is not None else ""
        lines.append(f"  selection:  {chosen['method']}, {chosen['clusters']} clusters{sizes}{objective}; "
                     f"{chosen['batches']} batches, {chosen['selected']} structures")
    if info["learning_curve"]:
        lines.extend(format_learning_curve(info["learning_curve"]))
        lines.extend(format_calibration(info["learning_curve"]))
    if info.get("active_learning"):
        lines.append("  labels per stage: " + ", ".join(f"{k} {n}" for k, n in info["labels_by_stage"].items()))
        lines.append("  active learning (relaxation test: share converged, MAE of relaxed energies in meV/atom):")
        lines.append("    iter  stage    model  acquired  thresholds (meV/atom)   converged      MAE  next")
        for row in info["active_learning"]:
            thresholds = ",".join(f"{t:.3g}" for t in (row["thresholds_mev"] or {}).values()) or "-"
            conv = "-" if row["convergence"] is None else f"{row['convergence']:.0%}"
            mae = "-" if row["mae_mev"] is None else f"{row['mae_mev']:.3f}"
            label = "final" if row["stage"] == "final" else str(row["iteration"])
            lines.append(f"    {label:>5}  {row['stage'] or '-':<7} {row['model_version']!s:>5}  {row['acquisitions']:>8}"
                         f"  {thresholds:<22} {conv:>9}  {mae:>7}  {row['next_stage'] or ''}")
            if row["stage"] == "final":
                lines.append(f"           pruned: kept {row['n_kept']} of {row['n_snapshots']} relaxation snapshots")
                before = row.get("before_pruning")
                if before:
                    test = before.get("relaxation_test") or {}
                    conv = "-" if test.get("convergence") is None else f"{test['convergence']:.0%}"
                    mae = "-" if test.get("mae_mev") is None else f"{test['mae_mev']:.3f}"
                    lines.append(f"           before pruning (the paper's final model): model {before['model_version']}, "
                                 f"relaxation test {conv} converged, MAE {mae} meV/atom")
    return "\n".join(lines)
