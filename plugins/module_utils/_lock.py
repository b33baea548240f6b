# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A named lock with a holder and a time limit, kept in a file across the tasks of a run.

A process lock (flock) dies with the module that took it; a rollback spans many
tasks, so the lock is a file naming its holder and when it expires. An expired
lock is stale and is taken over, and the takeover is reported.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write


@dataclass
class LockInfo:
    holder: str
    host: str
    acquired: float
    expires: float
    purpose: str = ""

    def describe(self, now: float) -> str:
        left = self.expires - now
        state = f"expires in {left:.0f}s" if left > 0 else f"expired {-left:.0f}s ago"
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.acquired))
        return f"held by {self.holder} on {self.host} since {since} ({state})" + (f" for {self.purpose}" if self.purpose else "")


def read_lock(path: str) -> LockInfo | None:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(65536)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        return LockInfo(holder=str(data["holder"]), host=str(data["host"]), acquired=float(data["acquired"]),
                        expires=float(data["expires"]), purpose=str(data.get("purpose", "")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConductorError(f"lock file {path} is unreadable ({exc}): remove it by hand once no run holds it") from exc


class _Guard:
    """Serialises the read-decide-write of the lock file between concurrent callers."""

    def __init__(self, path: str):
        self.path = path + ".guard"
        self.fd = -1

    def __enter__(self):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


@dataclass
class AcquireResult:
    changed: bool
    lock: LockInfo
    stale: LockInfo | None = None
    waited: float = 0.0

    def as_dict(self) -> dict:
        return {"changed": self.changed, "lock": asdict(self.lock), "stale": asdict(self.stale) if self.stale else None,
                "waited": round(self.waited, 3)}


def acquire(path: str, holder: str, ttl: float, wait: float = 0.0, purpose: str = "", check_mode: bool = False,
            poll: float = 0.5) -> AcquireResult:
    """Take the lock for ``holder`` for ``ttl`` seconds, waiting up to ``wait`` seconds for another holder."""
    if not holder or len(holder) > 256:
        raise ConductorError("lock holder is required (at most 256 characters): who takes the lock, such as an AWX job id")
    if ttl <= 0 or wait < 0:
        raise ConductorError(f"lock time limit must be > 0 and wait >= 0 seconds, got ttl={ttl}, wait={wait}")
    started = time.monotonic()
    while True:
        with _Guard(path):
            now = time.time()
            current = read_lock(path)
            if current is not None and current.holder == holder and current.expires > now:
                # taken again by its holder: held longer (a long run renews it before it changes anything)
                renewed = LockInfo(holder=holder, host=current.host, acquired=current.acquired, expires=now + ttl, purpose=current.purpose)
                if not check_mode:
                    atomic_write(path, json.dumps(asdict(renewed)).encode("utf-8"), mode=0o640)
                return AcquireResult(changed=False, lock=renewed, waited=time.monotonic() - started)
            if current is None or current.expires <= now:
                mine = LockInfo(holder=holder, host=socket.gethostname(), acquired=now, expires=now + ttl, purpose=purpose)
                if not check_mode:
                    atomic_write(path, json.dumps(asdict(mine)).encode("utf-8"), mode=0o640)
                return AcquireResult(changed=True, lock=mine, stale=current, waited=time.monotonic() - started)
        waited = time.monotonic() - started
        if waited >= wait:
            raise ConductorError(f"lock {path} is {current.describe(now)}; gave up after waiting {waited:.0f}s "
                                 f"(wait={wait:g}s): another run is in progress")
        time.sleep(min(poll, max(wait - waited, 0.01)))


def release(path: str, holder: str, force: bool = False, check_mode: bool = False) -> bool:
    """Give the lock up; True when it was held (by ``holder``, or by anyone with ``force``)."""
    with _Guard(path):
        current = read_lock(path)
        if current is None:
            return False
        if current.holder != holder and not force:
            raise ConductorError(f"lock {path} is {current.describe(time.time())}, not by {holder}: not released (force it if that run is gone)")
        if not check_mode:
            os.unlink(path)
        return True
