"""``perovflow db restore``: a backup of :mod:`perovflow.store.backup` back into a database.

Everything is checked before anything is written: the manifest's fields, every file's size
and sha256, and that the target database is empty (or ``replace``, which drops its
collections). Documents go in with their original ``_id``s as the very bytes that were
backed up, in batches (a collection is never held in memory), then the indexes are
recreated and every collection's count is checked against the manifest.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import bson
from bson import json_util
from bson.raw_bson import RawBSONDocument
from pymongo.database import Database
from pymongo.errors import PyMongoError

from perovflow.store.backup import FORMAT, JSON, MANIFEST, RAW, ProgressFactory, silent

BATCH_DOCUMENTS = 1000
BATCH_BYTES = 16 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


class RestoreError(RuntimeError):
    pass


def _field(entry: dict, key: str, kind: type, where: str):
    value = entry.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise RestoreError(f"{where}: {key} is {value!r}; expected {kind.__name__}")
    return value


def read_manifest(folder: Path) -> dict:
    """The manifest of a finished backup, its fields checked; RestoreError names what is wrong."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise RestoreError(f"{path}: missing; {folder} is no finished perovflow backup (a backup writes its "
                           "manifest last)")
    try:
        manifest = json_util.loads(path.read_text(), json_options=JSON)
    except ValueError as exc:
        raise RestoreError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise RestoreError(f"{path}: format is {found!r}; this perovflow reads {FORMAT!r}")
    entries = _field(manifest, "collections", list, str(path))
    names = set()
    for number, entry in enumerate(entries):
        where = f"{path}: collections[{number}]"
        if not isinstance(entry, dict):
            raise RestoreError(f"{where}: expected an object, got {entry!r}")
        names.add(_field(entry, "name", str, where))
        file = _field(entry, "file", str, where)
        if Path(file).name != file or file in (".", "..", MANIFEST):
            raise RestoreError(f"{where}: file {file!r} is not a plain file name in the backup folder")
        if _field(entry, "documents", int, where) < 0 or _field(entry, "bytes", int, where) < 0:
            raise RestoreError(f"{where}: documents and bytes must be >= 0")
        if not _SHA256.fullmatch(_field(entry, "sha256", str, where)):
            raise RestoreError(f"{where}: sha256 {entry['sha256']!r} is not 64 lowercase hex digits")
        _field(entry, "options", dict, where)
        for spec in _field(entry, "indexes", list, where):
            if not (isinstance(spec, dict) and isinstance(spec.get("key"), dict) and isinstance(spec.get("name"), str)):
                raise RestoreError(f"{where}: index {spec!r} needs a key object and a name")
    if len(names) != len(entries):
        raise RestoreError(f"{path}: a collection is listed twice")
    return manifest


def verify(folder: Path, manifest: dict) -> None:
    """Every file the manifest lists is there with its size and sha256."""
    for entry in manifest["collections"]:
        path = Path(folder) / entry["file"]
        if not path.is_file():
            raise RestoreError(f"{path}: missing (collection {entry['name']!r} in {MANIFEST}); nothing was written")
        digest, size = hashlib.sha256(), 0
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        if size != entry["bytes"] or digest.hexdigest() != entry["sha256"]:
            raise RestoreError(f"{path}: {size} bytes with sha256 {digest.hexdigest()[:16]}..., the manifest says "
                               f"{entry['bytes']} bytes with {entry['sha256'][:16]}...: the file changed or was "
                               "damaged after the backup; nothing was written")


def _batches(path: Path) -> Iterator[list[RawBSONDocument]]:
    batch, size = [], 0
    with open(path, "rb") as handle:
        for doc in bson.decode_file_iter(handle, codec_options=RAW):
            batch.append(doc)
            size += len(doc.raw)
            if len(batch) >= BATCH_DOCUMENTS or size >= BATCH_BYTES:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def _restore_collection(db: Database, folder: Path, entry: dict, progress: ProgressFactory) -> int:
    name = entry["name"]
    db.create_collection(name, **entry["options"])
    collection = db.get_collection(name, codec_options=RAW)
    bar = progress(name, entry["documents"])
    try:
        for batch in _batches(Path(folder) / entry["file"]):
            collection.insert_many(batch, ordered=True)
            bar.update(len(batch))
    finally:
        bar.close()
    for spec in entry["indexes"]:
        if spec["name"] != "_id_":
            options = {key: value for key, value in spec.items() if key not in ("v", "key", "ns")}
            collection.create_index(list(spec["key"].items()), **options)
    count = collection.count_documents({})
    if count != entry["documents"]:
        raise RestoreError(f"collection {name!r}: {count} documents after the restore, the backup has "
                           f"{entry['documents']}; run the restore again with --replace")
    return count


def restore(db: Database, folder: Path, replace: bool = False, progress: ProgressFactory = silent) -> dict[str, int]:
    """Restore the backup in ``folder`` into ``db``; returns the documents per collection."""
    manifest = read_manifest(folder)
    verify(folder, manifest)
    existing = sorted(name for name in db.list_collection_names() if not name.startswith("system."))
    if existing and not replace:
        shown = ", ".join(existing[:8]) + (", ..." if len(existing) > 8 else "")
        raise RestoreError(f"database {db.name!r} is not empty ({len(existing)} collections: {shown}); restore "
                           "into an empty database (--database NAME), or pass --replace to drop these "
                           "collections first")
    counts = {}
    try:
        for name in existing:
            db.drop_collection(name)
        for entry in manifest["collections"]:
            counts[entry["name"]] = _restore_collection(db, folder, entry, progress)
    except PyMongoError as exc:
        raise RestoreError(f"the restore into {db.name!r} stopped after it began writing ({exc}); the database is "
                           "incomplete: run the restore again with --replace") from exc
    return counts
