"""Where the commands write: an ``--out``, ``--chart`` or ``--json`` path checked before any
work is done, and written with an error that names the option instead of a traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from dumgum_loadtest.errors import ConfigError


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_output_file(path: Path, option: str) -> Path:
    """A file the command will write: its directory must exist (never created at random
    places, such as the root) and be a writable directory; the path must not be a directory."""
    parent = path.parent if str(path.parent) else Path()
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file name")
    if not parent.exists():
        blocker = _existing_non_directory(parent)
        if blocker is not None:
            raise ConfigError(
                f"{option} {path}: {blocker} is a file, not a directory; give a path in an"
                " existing directory"
            )
        raise ConfigError(
            f"{option} {path}: the directory {parent} does not exist; create it first or give"
            " a path in an existing directory"
        )
    if not parent.is_dir():
        raise ConfigError(
            f"{option} {path}: {parent} is a file, not a directory; give a path in an existing"
            " directory"
        )
    if not os.access(parent, os.W_OK | os.X_OK) or _read_only_place(parent):
        raise ConfigError(
            f"{option} {path}: cannot write in {parent}; give a path in a writable directory"
        )
    return path


def write_output_text(path: Path, text: str, option: str) -> None:
    check_output_file(path, option)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write: {_reason(exc)}") from exc


def write_output_bytes(path: Path, data: bytes, option: str) -> None:
    check_output_file(path, option)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write: {_reason(exc)}") from exc


def check_output_dir(path: Path, option: str) -> Path:
    """A directory the command will create (or fill, when it exists and is empty): nothing on
    the way may be a file, and the nearest existing directory must be writable."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: exists and is not a directory")
    blocker = _existing_non_directory(path)
    if blocker is not None:
        raise ConfigError(
            f"{option} {path}: {blocker} is a file, not a directory; give a directory path"
        )
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK) or _read_only_place(existing):
        raise ConfigError(
            f"{option} {path}: cannot create or write in {existing}; give a writable directory"
        )
    return path


def make_output_dir(path: Path, option: str) -> list[Path]:
    """Create ``path`` and its missing parents; returns the directories created, outermost
    first (what a failed start removes again)."""
    check_output_dir(path, option)
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create the directory: {_reason(exc)}") from exc
    return list(reversed(missing))


def _existing_non_directory(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` (or ``path`` itself) that is not a directory."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


# Pseudo file systems where even root cannot create ordinary files or directories.
_PSEUDO = (Path("/proc"), Path("/sys"))


def _read_only_place(directory: Path) -> bool:
    resolved = directory.resolve()
    if any(resolved == p or p in resolved.parents for p in _PSEUDO):
        return True
    try:
        return bool(os.statvfs(resolved).f_flag & os.ST_RDONLY)
    except OSError as exc:
        return exc.errno != errno.ENOENT
