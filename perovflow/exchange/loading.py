""":func:`perovflow.load_model`: a stored or exported MBTR-KRR model as an ASE calculator."""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.models.saved import model_from_record


def load_model(source: Any = None, *, campaign: str | None = None, tag: str | None = None,
               version: int | None = None, uri: str | None = None,
               database: str | None = None) -> MBTRKRRCalculator:
    """An ASE calculator (energy, forces, stress, and ``sigma`` on request) of a model.

    ``source`` is one of:
      - an exported model: its ``.npz`` or its ``.json`` card (``perovflow export``); with a
        card next to the ``.npz`` the file's sha256 must be the card's;
      - a :class:`perovflow.store.store.Store` (its campaign) or a pymongo ``Database``
        (with ``campaign=``);
      - nothing, with ``campaign=``: the database of ``uri``/``database`` or, as for every
        perovflow command, ``PEROVFLOW_URI``, ``my_launchpad.yaml`` or the embedded server.
    From a database, ``tag`` (e.g. ``final``, ``initial/batch-2``) or ``version`` picks the
    model, else the latest. The descriptor is rebuilt from the settings stored with the
    model, so features always match the model. ``calculator.record`` holds the card or the
    model's stored record (metrics, training ids, ...).
    """
    if isinstance(source, (str, os.PathLike)) and (Path(source).suffix in (".npz", ".json")
                                                  or Path(source).exists()):
        arrays, meta = _from_files(Path(source))
    else:
        store = _store(source, campaign, uri, database)
        arrays, meta = store.load_model(version=version, tag=tag)
        meta = {key: value for key, value in meta.items() if key not in ("_id", "file_id")}
    saved = model_from_record(arrays, meta)
    calculator = saved.calculator()
    calculator.record = meta
    return calculator


def _from_files(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    npz, card_path = path.with_suffix(".npz"), path.with_suffix(".json")
    if not npz.exists():
        raise FileNotFoundError(f"no model file {npz}")
    data = npz.read_bytes()
    meta: dict[str, Any] = {}
    if card_path.exists():
        meta = json.loads(card_path.read_text())
        digest = hashlib.sha256(data).hexdigest()
        if meta.get("sha256") not in (None, digest):
            raise ValueError(f"{npz} has sha256 {digest} but its card {card_path.name} says {meta['sha256']}: "
                             "the files do not belong together")


    with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
        arrays = {key: loaded[key] for key in loaded.files}
    return arrays, meta


def _store(source: Any, campaign: str | None, uri: str | None, database: str | None):
    from perovflow.store.store import Store

    if isinstance(source, Store):
        return source
    if campaign is None:
        raise ValueError("load_model: give an exported .npz/.json, a Store, or campaign= (with a database)")
    if source is not None and hasattr(source, "list_collection_names"):  # a pymongo Database
        return Store(source, campaign)
    if source is not None:
        raise TypeError(f"load_model: cannot load a model from {type(source).__name__}")
    from perovflow.store.connection import resolve

    target = resolve(uri=uri, database=database)
    return Store(target.client(tz_aware=True)[target.database], campaign)
