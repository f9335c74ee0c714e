"""``perovflow export``: a campaign's data sets and models into a folder.

Data sets as extended XYZ (or ASE SQLite databases), one file per set; with the paper's
layout they get the names of the Homm et al. 2025 dataset (Zenodo 10.5281/zenodo.14056015).
Models as their stored ``.npz`` plus a JSON card (:mod:`perovflow.exchange.card`). Every
file is written atomically (temporary file, then rename); nothing is written before the
campaign, the format and the models asked for are known to exist.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from perovflow.exchange.card import card_text, model_card, npz_bytes
from perovflow.exchange.dataset import OPTIONAL_SETS, SETS, campaign_sets
from perovflow.exchange.extxyz import Frame, frames_text
from perovflow.exchange.layout import FORMATS, LAYOUTS, SET_NAMES
from perovflow.files import write_bytes_atomic, write_text_atomic
from perovflow.store.store import Store, campaign_names


class ExportError(ValueError):
    """The export cannot be made as asked (nothing has been written)."""


@dataclass
class ExportResult:
    files: dict[str, int] = field(default_factory=dict)  # file name -> frames (models: training rows)


def check_request(store: Store, folder: Path, fmt: str, layout: str, models: str, force: bool) -> None:
    """Every reason not to export, before anything is written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if layout not in LAYOUTS:
        raise ExportError(f"unknown layout {layout!r}; allowed: {', '.join(LAYOUTS)}")
    known = campaign_names(store.db)
    if store.campaign not in known:
        raise ExportError(f"no campaign {store.campaign!r} in database {store.db.name!r}; "
                          f"campaigns there: {', '.join(known) or 'none'}")
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise ExportError(f"{folder} is not empty; pass --force to write into it (files of the same name are "
                          "replaced)")
    chosen_models(store, models)


def chosen_models(store: Store, models: str) -> list[dict]:
    """``latest``, ``all``, ``none`` or comma-separated tags."""
    stored = store.models()
    if models == "none":
        return []
    if models == "all":
        return stored
    if models == "latest":
        return stored[-1:]
    wanted = [tag.strip() for tag in models.split(",") if tag.strip()]
    by_tag = {doc["tag"]: doc for doc in stored}
    missing = [tag for tag in wanted if tag not in by_tag]
    if missing:
        raise ExportError(f"campaign {store.campaign!r} has no model {', '.join(missing)}; its models: "
                          f"{', '.join(by_tag) or 'none'} (or: latest, all, none)")
    return [by_tag[tag] for tag in wanted]


def model_file_stem(tag: str) -> str:
    return "model_" + re.sub(r"[^A-Za-z0-9_.-]+", "-", tag)


def export_campaign(store: Store, folder: str | os.PathLike, fmt: str = "extxyz", layout: str = "perovflow",
                    models: str = "latest", force: bool = False) -> ExportResult:
    folder = Path(folder)
    check_request(store, folder, fmt, layout, models, force)
    sets = campaign_sets(store)
    chosen = chosen_models(store, models)
    folder.mkdir(parents=True, exist_ok=True)
    result = ExportResult()
    for name in SETS:
        if name in OPTIONAL_SETS and not sets[name]:
            continue
        path = folder / (SET_NAMES[layout][name] + FORMATS[fmt])
        if fmt == "extxyz":
            write_text_atomic(path, frames_text(sets[name]))
        else:
            write_ase_db(path, sets[name])
        result.files[path.name] = len(sets[name])
    for doc in chosen:
        arrays, meta = store.load_model(version=doc["version"])
        stem = model_file_stem(doc["tag"])
        data = npz_bytes(arrays)
        write_bytes_atomic(folder / f"{stem}.npz", data)
        write_text_atomic(folder / f"{stem}.json", card_text(model_card(meta, arrays, f"{stem}.npz", data,
                                                                        store.campaign)))
        result.files[f"{stem}.npz"] = int(len(arrays["weights"]))
    return result


def write_ase_db(path: Path, frames: list[Frame]) -> None:
    """An ASE SQLite database, built in a temporary file and renamed into place."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.db import connect

    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".db", dir=path.parent)
    os.close(handle)
    os.unlink(temporary)  # ASE creates the database itself
    try:
        with connect(temporary, type="db", append=False) as db:
            for frame in frames:
                atoms = frame.atoms.copy()
                results = {key: value for key, value in (("energy", frame.energy), ("forces", frame.forces),
                                                         ("stress", frame.stress)) if value is not None}
                atoms.calc = SinglePointCalculator(atoms, **results)
                db.write(atoms, key_value_pairs={k: (int(v) if k == "iteration" else v)
                                                 for k, v in frame.info.items() if v is not None})
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
