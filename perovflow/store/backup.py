"""``perovflow db backup``: every collection of a database as BSON files plus a manifest.

Documents are copied as the server's raw BSON bytes (``RawBSONDocument``), so ObjectIds,
datetimes, binaries and floats come back exactly. Each collection is streamed to
``<collection>.bson`` (concatenated BSON documents, as ``bson.decode_file_iter`` reads them);
``manifest.json`` (written last: a folder without it is no finished backup) lists, in the
order restore inserts them, each collection's file, document count, size, sha256, options
and indexes. The folder is mode 700 and every file 600.

What a copy guarantees: by default the database must have no Firework RUNNING or RESERVED
when the copy starts, and FireWorks' id counters (``fw_id_assigner``) and those states must
be the same when it ends, so no job ran while it was taken: a point-in-time copy as long as
the workers are the only writers. With ``force`` the copy is taken anyway: every document
is whole, GridFS ``.files`` are copied after the documents that point to them and
``.chunks`` last (a stored file's chunks are written before its ``.files`` document, so
no copied file misses a chunk), and the jobs that were in flight run again on
``perovflow run FILE --resume`` (every step is idempotent).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from bson import json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.database import Database

from perovflow import __version__

FORMAT = "perovflow-backup/1"
MANIFEST = "manifest.json"
BUSY_STATES = ("RUNNING", "RESERVED")
RAW = CodecOptions(document_class=RawBSONDocument)
JSON = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED, tz_aware=True)


class BackupError(RuntimeError):
    pass


class Progress(Protocol):
    def update(self, n: int) -> Any: ...
    def close(self) -> Any: ...


# (collection name, documents expected) -> something counted up per document
ProgressFactory = Callable[[str, int], Progress]


class _Silent:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def silent(name: str, total: int) -> Progress:
    return _Silent()


def file_name(collection: str) -> str:
    return quote(collection, safe="._-") + ".bson"


def busy_fireworks(db: Database) -> list[int]:
    """fw_ids of the Fireworks a worker has taken and not finished."""
    return sorted(doc["fw_id"] for doc in db.fireworks.find({"state": {"$in": list(BUSY_STATES)}}, {"fw_id": 1}))


def _id_counters(db: Database) -> list[dict]:
    return list(db.fw_id_assigner.find({}, {"_id": 0}))


def copy_order(names: Iterable[str]) -> list[str]:
    """Documents first, GridFS ``.files`` next, ``.chunks`` last (see the module docstring)."""
    def rank(name: str) -> tuple[int, str]:
        return (2 if name.endswith(".chunks") else 1 if name.endswith(".files") else 0, name)
    return sorted(names, key=rank)


def _private_folder(folder: Path) -> bool:
    """Create ``folder`` (mode 700), or take an existing empty one; True when created here."""
    if folder.exists():
        if not folder.is_dir():
            raise BackupError(f"{folder}: exists and is not a folder")
        if any(folder.iterdir()):
            raise BackupError(f"{folder}: not empty; a backup goes into a new or empty folder "
                              "(an earlier backup is never overwritten)")
        folder.chmod(0o700)
        return False
    folder.mkdir(parents=True, mode=0o700)
    folder.chmod(0o700)  # mkdir's mode is reduced by the umask
    return True


def _write_private(path: Path, chunks: Iterable[bytes]) -> tuple[int, str]:
    """Write a new file, mode 600, synced to disk; returns its size and sha256."""
    digest, size = hashlib.sha256(), 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
        for chunk in chunks:
            handle.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    return size, digest.hexdigest()


def _dump(db: Database, name: str, options: dict, path: Path, progress: ProgressFactory) -> dict:
    collection = db.get_collection(name, codec_options=RAW)
    bar = progress(name, collection.estimated_document_count())
    count = 0

    def documents() -> Iterable[bytes]:
        nonlocal count
        # in _id order: a document updated during a forced copy is still read once
        for doc in collection.find({}, batch_size=1000).sort("_id", 1):
            count += 1
            bar.update(1)
            yield doc.raw

    try:
        size, sha256 = _write_private(path, documents())
    finally:
        bar.close()
    indexes = [json_util.loads(json_util.dumps(spec)) for spec in db[name].list_indexes()]
    return {"name": name, "file": path.name, "documents": count, "bytes": size, "sha256": sha256,
            "options": options, "indexes": indexes}


def backup(db: Database, folder: Path, force: bool = False, progress: ProgressFactory = silent) -> dict:
    """Copy every collection of ``db`` into ``folder``; returns the manifest written."""
    folder = Path(folder)
    busy = busy_fireworks(db)
    if busy and not force:
        raise BackupError(
            f"{len(busy)} Firework(s) are RUNNING or RESERVED in {db.name!r} (fw_id {_ids(busy)}): a copy now "
            "can mix the states of the jobs in flight. Stop the workers first, or pass --force for a copy that "
            "`perovflow run FILE --resume` can still finish from (every step is idempotent; those jobs run again)")
    options = {info["name"]: info.get("options", {}) for info in db.list_collections()
               if not info["name"].startswith("system.") and info.get("type", "collection") == "collection"}
    if not options:
        raise BackupError(f"database {db.name!r} has no collections: nothing to back up (is it the right "
                          "--uri / --database?)")
    counters = _id_counters(db)
    created_folder = _private_folder(folder)
    written: list[Path] = []
    try:
        collections = []
        for name in copy_order(options):
            path = folder / file_name(name)
            written.append(path)
            collections.append(_dump(db, name, options[name], path, progress))
        changed = busy_fireworks(db) != busy or _id_counters(db) != counters
        if changed and not force:
            raise BackupError(
                f"a worker started or finished a job in {db.name!r} while the copy was taken (FireWorks' "
                "states or id counters changed); the copy was removed. Stop the workers first, or pass --force")
        manifest = {"format": FORMAT, "database": db.name, "created": dt.datetime.now(dt.timezone.utc),
                    "perovflow": __version__, "consistent": not (busy or changed), "busy_fireworks": busy,
                    "collections": collections}
        text = json_util.dumps(manifest, json_options=JSON, indent=1)
        written.append(folder / MANIFEST)
        _write_private(folder / MANIFEST, [text.encode()])
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if created_folder:
            folder.rmdir()
        raise
    return manifest


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
