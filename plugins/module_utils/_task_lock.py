# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_lock: take or give up an environment's lock, reading its ledger once it is held."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger, _lock
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

SPEC = {
    "argument_spec": {
        "path": {"type": "path", "required": True},
        "holder": {"type": "str", "required": True},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "ttl": {"type": "int", "default": 900},
        "wait": {"type": "int", "default": 0},
        "purpose": {"type": "str", "default": ""},
        "force": {"type": "bool", "default": False},
        "ledger": {"type": "path"},
        "environment": {"type": "str"},
    },
    "required_by": {"ledger": "environment"},
}


def _read_under(taken: _lock.AcquireResult, params: dict, check_mode: bool) -> dict:
    """The ledger's summary, read with the lock held; a lock this call took is given up if that fails."""
    try:
        return _ledger.summary(_ledger.read_environment(params["ledger"], params["environment"])[1])
    except ConductorError:
        if taken.changed and not check_mode:
            _lock.release(params["path"], params["holder"])
        raise


def run(params: dict, check_mode: bool, _diff: bool) -> Outcome:
    if params["state"] == "absent":
        return Outcome({"changed": _lock.release(params["path"], params["holder"], params["force"], check_mode)})
    if params["ledger"]:
        _ledger.validate_environment(params["environment"])
    taken = _lock.acquire(params["path"], params["holder"], params["ttl"], params["wait"], params["purpose"], check_mode)
    result = taken.as_dict()
    if params["ledger"]:
        result["ledger"] = _read_under(taken, params, check_mode)
    return Outcome(result, [f"took over a stale lock: {taken.stale.describe(taken.lock.acquired)}"] if taken.stale else [])


ENTRY = Entry(SPEC, run)
