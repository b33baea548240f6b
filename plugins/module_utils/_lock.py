# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A named lock with a holder, a lease and a generation, kept in a file across the tasks of a run.

A process lock (flock) dies with the module that took it; a rollback spans many tasks, so the lock is a file naming
its holder. A run that dies must not keep everyone else out, so the lock also records the process it is held for
(the ansible-playbook process on its controller: host name, pid, start time and pid namespace):

- on that same controller, a holder whose process is gone is dead, and its lock is taken at once;
- anywhere else, the lock is a short lease that the run renews at each step; a lease not renewed in time ends;
- a holder whose process still runs here, but that has not renewed for the time limit (``ttl``), is hung.

Every acquisition gets a generation, one more than any before on this lock (the last one is kept in the guard file,
which outlives the lock file). A write that matters is fenced: it names the holder and generation that took the lock,
and refuses, before writing, when the lock is no longer theirs (``fence``).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field, replace

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write

# a couple of minutes: a run renews at each step, so a dead run elsewhere keeps the lock about this long
LEASE = 120.0


class LockHeld(ConductorError):
    """Another holder has the lock, and it looks alive from here."""

    def __init__(self, msg: str, current: LockInfo):
        super().__init__(msg)
        self.current = current


class LockLost(ConductorError):
    """The run that took the lock no longer holds it: it must stop before changing anything."""


@dataclass
class Owner:
    """The process a lock is held for, and where its pid means that process."""

    host: str = ""
    pid: int = 0
    started: int = 0  # clock ticks after boot (field 22 of /proc/PID/stat): a reused pid starts at another time
    space: str = ""   # boot id and pid namespace


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), or None when it is gone (a zombie is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the parenthesised command name: state, ppid, ...
    return None if fields[0] in ("Z", "X") else int(fields[19])


def pid_space() -> str:
    """This machine's boot and pid namespace ('' when unknown): a pid recorded in the same space names the same process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return ""


def owner_of(pid: int) -> Owner:
    """The identity of process ``pid`` on this machine (no pid when it cannot be told apart from a later one)."""
    started, space = _start_ticks(pid), pid_space()
    if started is None or not space:
        return Owner(host=socket.gethostname())
    return Owner(host=socket.gethostname(), pid=pid, started=started, space=space)


@dataclass
class LockInfo:
    holder: str
    host: str
    acquired: float
    expires: float  # the end of the lease
    purpose: str = ""
    generation: int = 0
    renewed: float = 0.0
    lease: float = 0.0
    ttl: float = 0.0
    pid: int = 0
    pid_started: int = 0
    pid_space: str = ""

    def is_here(self) -> bool:
        """Whether the holder's process is one this machine can see (its host, boot and pid namespace)."""
        return bool(self.pid and self.pid_started and self.pid_space) and self.pid_space == pid_space() and self.host == socket.gethostname()

    def alive_here(self) -> bool:
        return _start_ticks(self.pid) == self.pid_started

    def ended(self, now: float) -> str:
        """Why another run may take this lock now, or '' while its holder keeps it."""
        if self.is_here():
            if not self.alive_here():
                return f"its process {self.pid} on {self.host} is gone"
            if now > self.renewed + self.ttl:
                return f"its process {self.pid} runs but has not renewed the lock for {now - self.renewed:.0f}s (time limit {self.ttl:g}s)"
            return ""
        if now >= self.expires:
            return f"its lease ended {now - self.expires:.0f}s ago"
        return ""

    def describe(self, now: float) -> str:
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.acquired))
        process = f", pid {self.pid}" + (" (running)" if self.is_here() and self.alive_here() else "") if self.pid else ""
        left = self.expires - now
        lease = f"lease ends in {left:.0f}s" if left > 0 else f"lease ended {-left:.0f}s ago"
        return (f"held by {self.holder} on {self.host}{process} since {since}, generation {self.generation}, {lease}"
                + (f", for {self.purpose}" if self.purpose else ""))


def read_lock(path: str) -> LockInfo | None:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(65536)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        acquired, expires = float(data["acquired"]), float(data["expires"])
        # a lock written before leases and generations: its time limit was its lease
        return LockInfo(holder=str(data["holder"]), host=str(data["host"]), acquired=acquired, expires=expires,
                        purpose=str(data.get("purpose", "")), generation=int(data.get("generation", 0)),
                        renewed=float(data.get("renewed", acquired)), lease=float(data.get("lease", expires - acquired)),
                        ttl=float(data.get("ttl", expires - acquired)), pid=int(data.get("pid", 0)),
                        pid_started=int(data.get("pid_started", 0)), pid_space=str(data.get("pid_space", "")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConductorError(f"lock file {path} is unreadable ({exc}): remove it by hand once no run holds it") from exc


def _write(path: str, info: LockInfo) -> None:
    atomic_write(path, json.dumps(asdict(info), sort_keys=True).encode("utf-8"), mode=0o640)


class _Guard:
    """Serialises the read-decide-write of the lock file between concurrent callers, and keeps the last generation."""

    def __init__(self, path: str, check_mode: bool = False):
        self.path = path + ".guard"
        self.check_mode = check_mode
        self.fd = -1

    def __enter__(self):
        if self.check_mode:
            # nothing is written: a guard that does not exist yet is not made for a dry run
            try:
                self.fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return self
        else:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd >= 0:
            os.close(self.fd)

    def next_generation(self, current: LockInfo | None) -> int:
        try:
            last = int(os.pread(self.fd, 32, 0).strip() or 0) if self.fd >= 0 else 0
        except ValueError:
            last = 0  # a torn counter: the lock file's own generation still counts below
        return max(last, current.generation if current else 0) + 1

    def store_generation(self, generation: int) -> None:
        # one small write at offset 0, fsynced before the lock file names the generation
        os.pwrite(self.fd, f"{generation:020d}\n".encode("ascii"), 0)
        os.fsync(self.fd)


@dataclass
class AcquireResult:
    changed: bool
    lock: LockInfo
    stale: LockInfo | None = None
    waited: float = 0.0
    reason: str = ""

    def as_dict(self) -> dict:
        return {"changed": self.changed, "lock": asdict(self.lock), "stale": asdict(self.stale) if self.stale else None,
                "waited": round(self.waited, 3), "reason": self.reason}


@dataclass
class Dead:
    """A holder and generation that the caller found dead on its own controller (the lock's file is elsewhere)."""

    holder: str
    generation: int

    def names(self, current: LockInfo) -> bool:
        return current.holder == self.holder and current.generation == self.generation


def _check(holder: str, ttl: float, lease: float, wait: float = 0.0) -> None:
    if not holder or len(holder) > 256:
        raise ConductorError("lock holder is required (at most 256 characters): who takes the lock, such as an AWX job id")
    if ttl <= 0 or lease <= 0 or wait < 0:
        raise ConductorError(f"lock time limit and lease must be > 0 and wait >= 0 seconds, got ttl={ttl:g}, lease={lease:g}, wait={wait:g}")


def _takeable(current: LockInfo, now: float, dead: Dead | None) -> str:
    if dead and dead.names(current):
        return f"its process on {current.host} is gone (seen there)"
    return current.ended(now)


def acquire(path: str, holder: str, ttl: float, wait: float = 0.0, purpose: str = "", check_mode: bool = False,
            poll: float = 0.5, lease: float = LEASE, owner: Owner | None = None, dead: Dead | None = None) -> AcquireResult:
    """Take the lock for ``holder`` (held for ``owner``'s process), waiting up to ``wait`` seconds for another holder.

    The lease (at most ``ttl``) ends ``lease`` seconds after the last renewal; taking the lock again renews it.
    """
    _check(holder, ttl, lease, wait)
    lease, owner = min(lease, ttl), owner or Owner(host=socket.gethostname())
    started = time.monotonic()
    while True:
        with _Guard(path, check_mode) as guard:
            now = time.time()
            current = read_lock(path)
            if current is not None and current.holder == holder:
                # taken again by its holder (no one took it in between: it still names it): renewed
                renewed = replace(current, renewed=now, expires=now + lease, lease=lease, ttl=ttl)
                if not check_mode:
                    _write(path, renewed)
                return AcquireResult(changed=False, lock=renewed, waited=time.monotonic() - started)
            reason = _takeable(current, now, dead) if current is not None else ""
            if current is None or reason:
                mine = LockInfo(holder=holder, host=owner.host or socket.gethostname(), acquired=now, expires=now + lease,
                                purpose=purpose, generation=guard.next_generation(current), renewed=now, lease=lease, ttl=ttl,
                                pid=owner.pid, pid_started=owner.started, pid_space=owner.space)
                if not check_mode:
                    guard.store_generation(mine.generation)
                    _write(path, mine)
                return AcquireResult(changed=True, lock=mine, stale=current, waited=time.monotonic() - started, reason=reason)
        waited = time.monotonic() - started
        if waited >= wait:
            raise LockHeld(f"lock {path} is {current.describe(now)}; gave up after waiting {waited:.0f}s (wait={wait:g}s): another run "
                           "is in progress. If that run is gone, `make unlock` (release_lock state=absent without holder) names it "
                           "and removes its lock; a live one only with FORCE=true (force)", current)
        time.sleep(min(poll, max(wait - waited, 0.01)))


def fence(path: str, holder: str, generation: int, before: str, check_mode: bool = False) -> LockInfo | None:
    """Renew the lock of ``holder``'s ``generation`` and return it; raise LockLost when it is not theirs any more.

    Called right before a write that matters (``before`` says which), so that a run that lost the lock stops there.
    In check mode nothing is written, and a lock that a dry run never took is no loss.
    """
    with _Guard(path, check_mode):
        now = time.time()
        current = read_lock(path)
        if current is not None and current.holder == holder and current.generation == generation:
            renewed = replace(current, renewed=now, expires=now + (current.lease or LEASE))
            if not check_mode:
                _write(path, renewed)
            return renewed
        if check_mode and current is None:
            return None
        now_held = f"it is {current.describe(now)}" if current else "no run holds it"
        raise LockLost(f"lock {path} is no longer held by this run ({holder}, generation {generation}): {now_held}. "
                       f"This run stopped before {before}")


@dataclass
class ReleaseResult:
    changed: bool
    lock: LockInfo | None = None
    reason: str = ""
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"changed": self.changed, "lock": asdict(self.lock) if self.lock else None, "reason": self.reason}


def release(path: str, holder: str = "", force: bool = False, check_mode: bool = False, generation: int | None = None,
            dead: Dead | None = None) -> ReleaseResult:
    """Give the lock up.

    With ``holder``: the holder's own lock (and with ``generation``, only while it is still theirs: a run that lost the
    lock leaves it to the run that took it). Without: whoever holds it, when that holder is dead or its lease ended;
    a live holder's lock only with ``force``.
    """
    if not os.path.exists(path):
        return ReleaseResult(changed=False, reason=f"lock {path} is not held")  # and nothing is made to say so
    with _Guard(path, check_mode):
        now = time.time()
        current = read_lock(path)
        if current is None:
            return ReleaseResult(changed=False, reason=f"lock {path} is not held")
        mine = bool(holder) and current.holder == holder and generation in (None, current.generation)
        result = ReleaseResult(changed=True, lock=current)
        if mine:
            result.reason = f"given up by its holder {holder}"
        elif holder and generation is not None and not force:
            return ReleaseResult(changed=False, lock=current, warnings=[
                f"lock {path} is {current.describe(now)}, no longer by {holder} (generation {generation}): left to that run"])
        elif holder and not force:
            raise ConductorError(f"lock {path} is {current.describe(now)}, not by {holder}: not released "
                                 "(force it if that run is gone)")
        else:
            result.reason = _takeable(current, now, dead)
            if not result.reason and not force:
                raise LockHeld(f"lock {path} is {current.describe(now)}, and that holder is alive as far as can be told here: not removed. "
                               "If that run is really gone, remove it with FORCE=true (force: true): the run then stops at its "
                               "next fenced step", current)
            if not result.reason:
                result.reason = "forced"
                result.warnings.append(f"removed lock {path} {current.describe(now)}: forced, its holder may still run "
                                       "(it stops before its next fenced write)")
        if not check_mode:
            os.unlink(path)
        return result
