"""Atomic file writes, file fingerprints and output-directory checks.

Every write goes to a temporary file in the target directory, is flushed to disk and renamed
into place, so an interrupted run leaves either the old file or the new one. The file gets
the permissions any other new file would (``0o666`` less the process umask), not the
private ``0o600`` of a raw temporary file. A fingerprint (:func:`file_record`: size and
SHA-256) recorded when a file is written lets a resumed run tell a finished file from a
truncated or corrupted one (:func:`matches_record`). An input's stamp (:func:`file_stamp`:
size and modification time, no read) tells a resumed run which inputs changed since.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from subalign.errors import ConfigError

__all__ = [
    "atomic_path",
    "check_output_dir",
    "current_umask",
    "file_record",
    "file_stamp",
    "input_sha",
    "matches_record",
    "sha256_of",
    "write_json",
]

_CHUNK = 1 << 20


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting and restoring
    it (not atomic with respect to other threads creating files at that instant).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path`` and rename it into place on success.

    The final file has mode ``0o666 & ~umask``, like a file opened for writing. On an
    exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".partial", dir=path.parent
    )
    os.close(handle)
    try:
        yield Path(temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, content: dict) -> Path:
    """Write ``content`` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(content, indent=2) + "\n")
    return Path(path)


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_sha(path: str | os.PathLike | None) -> str | None:
    """SHA-256 of an input file for a job's identity; None for no file given (None or "")."""
    return None if path in (None, "") else sha256_of(path)


def file_stamp(path: str | os.PathLike) -> list:
    """``[path, bytes, mtime_ns]`` of an existing file: cheap (one ``stat``, no read), and
    different after any rewrite that changes its size or modification time."""
    status = Path(path).stat()
    return [str(path), int(status.st_size), int(status.st_mtime_ns)]


def file_record(path: str | os.PathLike) -> dict:
    """``{"path", "bytes", "sha256"}`` of an existing file: what to record when writing it."""
    path = Path(path)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256_of(path)}


def matches_record(path: str | os.PathLike, record: dict) -> bool:
    """Whether ``path`` exists with the size and SHA-256 of ``record`` (:func:`file_record`).

    The size is compared first, so a truncated file is caught without reading it.
    """
    path = Path(path)
    try:
        if path.stat().st_size != int(record["bytes"]):
            return False
    except OSError:
        return False
    return sha256_of(path) == record["sha256"]


def check_output_dir(path: str | os.PathLike, field: str = "output_dir") -> Path:
    """Check, without leaving anything behind, that results can be written under ``path``.

    ``path`` may not exist yet: its nearest existing ancestor must then be a directory in
    which a directory can be created (tried with a temporary directory that is removed at
    once). An existing ``path`` must be a directory in which a file can be created.

    Parameters
    ----------
    path : str or path-like
    field : str
        Names the setting in the error message.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ConfigError
        ``path`` is a file, under a file, or not writable.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        found = (f"{path}, an existing file" if existing == path
                 else f"{path}, under the existing file {existing}")
        raise ConfigError(f"{field}: expected a directory to write results into, found {found}")
    try:
        if existing == path:
            with tempfile.TemporaryFile(dir=path):
                pass
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".subalign-probe-", dir=existing))
    except OSError as exc:
        raise ConfigError(f"{field}: expected a writable directory, found {path}, where "
                          f"nothing can be created ({exc.strerror or exc})") from None
    return path
