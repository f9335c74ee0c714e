"""Writing files so that a process killed at any moment leaves the old or the new content.

A worker killed while it writes ``control.in`` would otherwise leave half a file, and
every retry of that run folder would start FHI-aims (or CP2K) on it. The text goes to a
temporary file in the same folder (same file system, so the rename is atomic), is flushed
and fsynced, and then replaces the target with ``os.replace``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8", mode: int | None = None) -> None:
    """Replace ``path`` by ``text`` atomically; on any failure the old file (or none) stays
    and the temporary file is removed. ``mode``: the new file's permissions (0o600 for a
    file with a password: it is never readable by others, not even for a moment)."""
    write_bytes_atomic(path, text.encode(encoding), mode=mode)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, mode: int | None = None) -> None:
    """:func:`write_text_atomic` for bytes (a ``.npz``, an ASE database file)."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            if mode is not None:
                os.fchmod(stream.fileno(), mode)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is None and target.exists():  # keep the permissions of the file it replaces
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        elif mode is None:
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
