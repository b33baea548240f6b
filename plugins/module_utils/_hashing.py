# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SHA-256 of many files at once, spread across cores.

hashlib releases the GIL while it digests a large buffer, so threads hash in
parallel without the start-up and copying cost of processes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

_CHUNK = 4 * 1024 * 1024
T = TypeVar("T")


def open_regular(path: str, buffering: int = -1):
    """``path`` opened for reading, refused unless it is a regular file when opened: a file swapped for a named pipe
    between a check and the read must not block the reader."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return os.fdopen(fd, "rb", buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def sha256_file(path: str) -> str:
    """Hex SHA-256 of one file, read in large chunks into one reused buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open_regular(path, buffering=0) as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_files(paths: list[str], workers: int = 0) -> dict[str, str]:
    """Hex SHA-256 of each path."""
    return map_files(paths, sha256_file, workers)


def map_files(paths: list[str], read: Callable[[str], T], workers: int = 0) -> dict[str, T]:
    """``read(path)`` for each path across threads; largest first, so one big file does not finish last alone."""
    if not paths:
        return {}
    workers = workers or os.cpu_count() or 1
    ordered = sorted(set(paths), key=_size, reverse=True)
    if workers == 1 or len(ordered) == 1:
        return {path: read(path) for path in ordered}
    with ThreadPoolExecutor(max_workers=min(workers, len(ordered))) as pool:
        return dict(zip(ordered, pool.map(read, ordered)))


def _size(path: str) -> int:
    """Its size for ordering; a file gone or unreadable since it was listed is left to ``read`` to report."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
