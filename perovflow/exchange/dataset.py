"""A campaign's labelled data as three sets, the way Homm et al. 2025 publish theirs, and a
fourth when the campaign has one:

- ``train``: the initial single-point training set (the structures the last initial-stage
  model was fitted on; before any fit, the labelled structures of the initial batches),
- ``test``: the held-out test set (every labelled ``test`` structure),
- ``active_learning``: the labelled steps of the engine relaxations of active learning
  (stages 1 and 2), trajectory by trajectory in step order,
- ``calibration``: the held-out structures that set sigma's amplitude
  (``pool.calibration_structures``; only written when there are some).

Every frame carries the label (energy, forces, stress where stored) and, as info, the
structure's ``structure_id``, ``role``, ``phase``, ``composition`` and the label's
``engine``, ``is_dft`` and ``settings_hash``; active-learning frames also ``iteration``,
``purpose``, ``trajectory`` and ``step``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from perovflow.exchange.extxyz import Frame
from perovflow.store.store import Store

SETS = ("train", "test", "active_learning", "calibration")
OPTIONAL_SETS = ("calibration",)  # no file when empty
AL_PURPOSES = ("stage1", "stage2")
HALIDES = ("F", "Cl", "Br", "I")


@dataclass(frozen=True)
class LabelSource:
    """Which labels of the store a campaign's sets use."""

    engine: str
    settings_hash: str


def label_source(store: Store) -> LabelSource:
    """The engine and settings of the campaign's labels: those its models were trained on,
    else those of its stored campaign settings."""
    models = store.models()
    if models and models[-1].get("engine"):
        return LabelSource(models[-1]["engine"], models[-1]["engine_settings_hash"])
    stored = store.stored_settings()
    if stored is None:
        raise LookupError(f"campaign {store.campaign!r} has neither a model nor stored settings: "
                          "cannot tell which engine's labels are its own")
    from perovflow.engines import make_engine
    from perovflow.settings import CampaignSettings

    labelling = CampaignSettings.from_dict(stored).labelling  # stored as as_dict() writes it
    engine = make_engine(labelling.engine, **labelling.options)
    return LabelSource(engine.name, engine.settings_hash)


def training_ids(store: Store, source: LabelSource) -> list[str]:
    try:
        _, meta = store.load_model(tag=store.latest_model_tag("initial"))
        return [str(sid) for sid in meta["training_ids"]]
    except LookupError:  # no initial fit yet: the labelled structures of the selected batches
        selection = store.selection("initial") or {}
        wanted = [sid for batch in selection.get("batches", []) for sid in batch]
        labelled = store.labels(wanted, source.engine, source.settings_hash)
        return [sid for sid in wanted if sid in labelled]


def campaign_sets(store: Store, source: LabelSource | None = None) -> dict[str, list[Frame]]:
    """The sets of the campaign (see the module docstring), in a stable order."""
    source = source or label_source(store)
    test_ids = store.structure_ids("test")
    sets = {"train": _frames(store, source, training_ids(store, source)),
            "test": _frames(store, source, test_ids)}
    steps: dict[str, dict[str, Any]] = {}
    for trajectory in sorted(store.trajectories(purpose={"$in": list(AL_PURPOSES)}),
                             key=lambda t: (t.get("iteration") or 0, t["key"])):
        for step, sid in enumerate(trajectory.get("snapshot_ids", [])):
            steps.setdefault(sid, {"trajectory": trajectory["key"], "step": step})
    sets["active_learning"] = _frames(store, source, list(steps), steps)
    sets["calibration"] = _frames(store, source, store.structure_ids("calibration"))
    return sets


def halide_composition(atoms: Any) -> str | None:
    """``Cl8Br16`` from the halide counts (for structures stored without a composition)."""
    symbols = atoms.get_chemical_symbols()
    text = "".join(f"{x}{symbols.count(x)}" for x in HALIDES if x in symbols)
    return text or None


def _frames(store: Store, source: LabelSource, ids: list[str],
            extra: dict[str, dict[str, Any]] | None = None) -> list[Frame]:
    labels = store.labels(ids, source.engine, source.settings_hash)
    ids = [sid for sid in dict.fromkeys(ids) if sid in labels]
    frames = []
    for sid, atoms in zip(ids, store.structures(ids)):
        label = labels[sid]
        info = {"structure_id": sid, "role": atoms.info.get("role"), "phase": atoms.info.get("phase"),
                "composition": atoms.info.get("composition") or halide_composition(atoms), "engine": label["engine"],
                "is_dft": bool(label.get("is_dft", False)), "settings_hash": label["settings_hash"]}
        if label.get("kind") == "relax_step":
            info.update({"iteration": label.get("iteration"), "purpose": label.get("purpose")})
        info.update((extra or {}).get(sid, {}))
        atoms.info.clear()
        stress = label.get("stress")
        frames.append(Frame(atoms, info, energy=label.get("energy"),
                            forces=None if label.get("forces") is None else np.asarray(label["forces"], float),
                            stress=None if stress is None else np.asarray(stress, float)))
    return frames
