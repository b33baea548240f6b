# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pieces every part of the core shares: the domain error and safe file writes."""

from __future__ import annotations

import os
import stat
import tempfile


class ConductorError(Exception):
    """A failure the user can act on; its message names the thing and what was expected."""


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so readers see the old file or the new one, never half."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_bytes_limited(path: str, limit: int, what: str) -> bytes:
    """Read a small document, refusing one larger than ``limit`` before reading it."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError as exc:
        raise ConductorError(f"{what} {path} does not exist") from exc
    if size > limit:
        raise ConductorError(f"{what} {path} is {size} bytes; the limit is {limit} bytes")
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ConductorError(f"{what} {path} grew past the limit of {limit} bytes while being read")
    return data


def size_problem(path: str, size: int, manifest: str = "the manifest") -> str:
    """Why ``path`` is not a regular single-link file of ``size`` bytes (a link is not followed), said after its name; or ''."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"could not be read ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        return "is not a regular single-link file"
    return "" if info.st_size == size else f"has {info.st_size} bytes, {manifest} says {size}"
