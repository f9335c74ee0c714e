"""A stored model as files: its ``.npz`` (the stored arrays, unchanged) and a JSON card
that says what it is: descriptor settings, hyperparameters, training ids, metrics with
sigma's calibration, the labels' engine, and the software versions."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import platform
from importlib import metadata
from typing import Any, Mapping

import numpy as np

import perovflow

CARD_FORMAT = "perovflow-model-card/1"
PACKAGES = ("ase", "dscribe", "numpy", "scipy")


def software_versions() -> dict[str, str]:
    versions = {"perovflow": perovflow.__version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{key: np.asarray(value) for key, value in arrays.items()})
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    """JSON-able copy: datetimes as ISO text, ObjectIds and other objects as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def model_card(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], npz_name: str, npz_data: bytes,
               campaign: str) -> dict[str, Any]:
    """The JSON card of a stored model (``meta``: its ``models`` document)."""
    record = {key: value for key, value in meta.items() if key not in ("_id", "file_id")}
    metrics = dict(record.get("metrics") or {})
    training = record.get("training_ids")
    if training is None and "training_ids" in arrays:
        training = [str(sid) for sid in arrays["training_ids"]]
    card = {
        "format": CARD_FORMAT,
        "campaign": campaign,
        "version": record.get("version"),
        "tag": record.get("tag"),
        "stage": record.get("stage"),
        "kind": record.get("kind"),
        "file": npz_name,
        "sha256": hashlib.sha256(npz_data).hexdigest(),
        "descriptor": record.get("descriptor"),
        "descriptor_hash": record.get("descriptor_hash"),
        "species": record.get("species"),
        "hyperparameters": record.get("hyperparameters"),
        "amplitude": record.get("amplitude"),
        "amplitude_rule": record.get("amplitude_rule"),
        "sigma_calibration_rows": metrics.get("sigma_calibration_rows"),
        "target": record.get("target"),
        "engine": record.get("engine"),
        "engine_settings_hash": record.get("engine_settings_hash"),
        "is_dft": record.get("is_dft"),
        "n_train": record.get("n_train"),
        "training_ids": training,
        "metrics": metrics,
        "calibration": {key: value for key, value in metrics.items() if key.startswith("calibration_")},
        "tuning": record.get("tuning"),
        "created": record.get("created"),
        "exported": dt.datetime.now(dt.timezone.utc),
        "exported_with": software_versions(),
    }
    card["other"] = {key: value for key, value in record.items() if key not in card}  # the rest of the record
    return _plain(card)


def card_text(card: Mapping[str, Any]) -> str:
    return json.dumps(card, indent=2, sort_keys=False) + "\n"
