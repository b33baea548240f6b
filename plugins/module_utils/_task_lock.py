# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_lock: take, renew or give up an environment's lock, reading its ledger once it is held."""

from __future__ import annotations

from dataclasses import asdict

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger, _lock
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome, TaskFailed

# the option of a fenced write (proxy_flip, release_ledger): the lock the run took, by its holder and generation
FENCE_SPEC = {"type": "dict", "options": {"path": {"type": "path", "required": True}, "holder": {"type": "str", "required": True},
                                          "generation": {"type": "int", "required": True}}}

SPEC = {
    "argument_spec": {
        "path": {"type": "path", "required": True},
        "holder": {"type": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "ttl": {"type": "int", "default": 900},
        "lease": {"type": "int", "default": int(_lock.LEASE)},
        "wait": {"type": "int", "default": 0},
        "purpose": {"type": "str", "default": ""},
        "force": {"type": "bool", "default": False},
        "generation": {"type": "int"},
        "ledger": {"type": "path"},
        "environment": {"type": "str"},
        "owner": {"type": "dict", "options": {"host": {"type": "str", "default": ""}, "pid": {"type": "int", "default": 0},
                                              "started": {"type": "int", "default": 0}, "space": {"type": "str", "default": ""}}},
        "dead": {"type": "dict", "options": {"holder": {"type": "str", "required": True}, "generation": {"type": "int", "required": True}}},
    },
    "required_by": {"ledger": "environment"},
    "required_if": [("state", "present", ["holder"])],
}


def fence_check(fence: dict | None, before: str):
    """The check a fenced write makes right before writing (None without a fence): the lock still held by the run's
    holder and generation, renewed; else the task fails with ``lost`` set, having written nothing."""
    if not fence:
        return None

    def check() -> None:
        try:
            _lock.fence(fence["path"], fence["holder"], fence["generation"], before)
        except _lock.LockLost as exc:
            raise TaskFailed(str(exc), lost=True) from exc
    return check


def _read_under(taken: _lock.AcquireResult, params: dict, check_mode: bool) -> tuple[dict, list[str]]:
    """The ledger's summary, read with the lock held; a lock this call took is given up if that fails."""
    try:
        _records, current = _ledger.read_environment(params["ledger"], params["environment"])
        return _ledger.summary(current), current.warnings
    except ConductorError:
        if taken.changed and not check_mode:
            _lock.release(params["path"], params["holder"])
        raise


def _held(exc: _lock.LockHeld) -> TaskFailed:
    """A lock another holder has: the failure carries it, so that the controller can tell whether that holder is dead."""
    return TaskFailed(str(exc), held=asdict(exc.current))


def _give_up(params: dict, dead: _lock.Dead | None, check_mode: bool) -> Outcome:
    try:
        released = _lock.release(params["path"], params["holder"] or "", params["force"], check_mode, params["generation"], dead)
    except _lock.LockHeld as exc:
        raise _held(exc) from exc
    return Outcome(released.as_dict(), released.warnings)


def _renew(params: dict, check_mode: bool) -> Outcome:
    try:
        lock = _lock.fence(params["path"], params["holder"], params["generation"], "its next step", check_mode)
    except _lock.LockLost as exc:
        raise TaskFailed(str(exc), lost=True) from exc
    return Outcome({"changed": False, "lock": asdict(lock) if lock else None})


def run(params: dict, check_mode: bool, _diff: bool) -> Outcome:
    dead = _lock.Dead(**params["dead"]) if params["dead"] else None
    if params["state"] == "absent":
        return _give_up(params, dead, check_mode)
    if params["generation"] is not None:
        return _renew(params, check_mode)
    if params["ledger"]:
        _ledger.validate_environment(params["environment"])
    owner = _lock.Owner(**params["owner"]) if params["owner"] else None
    try:
        taken = _lock.acquire(params["path"], params["holder"], params["ttl"], params["wait"], params["purpose"], check_mode,
                              lease=params["lease"], owner=owner, dead=dead)
    except _lock.LockHeld as exc:
        raise _held(exc) from exc
    result, warnings = taken.as_dict(), []
    if taken.stale:
        warnings.append(f"took the lock over from {taken.stale.holder} ({taken.reason}): it was {taken.stale.describe(taken.lock.acquired)}")
    if params["ledger"]:
        result["ledger"], read_warnings = _read_under(taken, params, check_mode)
        warnings += read_warnings
    return Outcome(result, warnings)


ENTRY = Entry(SPEC, run)
