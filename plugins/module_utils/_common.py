# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pieces every part of the core shares: the domain error and safe file writes."""

from __future__ import annotations

import os
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
