# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.incident_notify: tell one incident event to every configured sink, never failing because one did."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils import _notify
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

# ``sinks`` is not no_log as a whole: Ansible would then mask every value it holds (a port, a host, "never") wherever it
# appears in the result. Its secrets - and the parts of a URL a server could quote back - are masked instead (``secrets``).
SPEC = {
    "argument_spec": {
        "event": {"type": "dict"},
        "sinks": {"type": "dict", "default": {}},
        "only": {"type": "list", "elements": "str"},
        "timeout": {"type": "int", "default": 10},
        "merge": {"type": "dict", "options": {
            "sent": {"type": "dict", "required": True},
            "handed": {"type": "dict", "default": {}},
        }},
    },
    "required_one_of": [("event", "merge")],
    "mutually_exclusive": [("event", "merge")],
}


def _warnings(results: list[dict], outcome: dict) -> list[str]:
    said = [f"incident notification to {r['sink']} ({r['to']}) failed: {r['error']}" for r in results if not r["ok"]]
    if outcome["all_failed"]:
        said.insert(0, f"every sink failed: nobody was told ({outcome['configured']} tried)")
    return said


def _merge(params: dict) -> Outcome:
    """The outcome of every sink of one event: this module's sends and the role's community.general tasks."""
    sent = params["merge"]["sent"]
    results, payloads = sent.get("results") or [], sent.get("payloads") or {}
    if not isinstance(results, list) or not all(isinstance(r, dict) and r.get("sink") in _notify.SINKS and "ok" in r for r in results):
        raise ConductorError("merge.sent is invalid: expected the registered result of maestro.conductor.incident_notify "
                             "(results: a list of {sink, ok, error, to})")
    if not isinstance(payloads, dict):
        raise ConductorError("merge.sent.payloads is invalid: expected the mapping incident_notify returned")
    handed = _notify.handed_results(payloads, params["merge"]["handed"], _notify.sink_secrets(params["sinks"]))
    outcome = _notify.outcomes(results, handed)
    return Outcome({"changed": False, "outcome": outcome}, _warnings(handed, outcome) if outcome["all_failed"] or handed else [])


def _checked_sinks(sinks: object, only: list | None) -> tuple[dict, list[dict]]:
    """Each sink checked on its own: a misconfigured one is a failed sink, named with why, never the others' end."""
    if not isinstance(sinks, dict):
        return _notify.validate_sinks(sinks), []
    good: dict = {}
    bad: list[dict] = []
    for name, settings in sinks.items():
        try:
            good.update(_notify.validate_sinks({name: settings}))
        except ConductorError as exc:
            if only is None or name in only:
                bad.append({"sink": str(name)[:64], "ok": False, "status": 0, "error": str(exc)[:500], "to": str(name)[:64], "seconds": 0.0})
    return good, bad


def run(params: dict, check_mode: bool, diff: bool) -> Outcome:  # pylint: disable=unused-argument
    if params["merge"]:
        return _merge(params)
    if not 1 <= params["timeout"] <= 300:
        raise ConductorError(f"timeout {params['timeout']} is invalid: expected seconds, 1 to 300")
    event = _notify.validate_event(params["event"])
    sinks, misconfigured = _checked_sinks(params["sinks"], params["only"])
    plan = _notify.plan(event, sinks, params["only"])
    direct = {name: settings for name, settings in plan.send.items() if name in _notify.DIRECT}
    payloads = {**_notify.direct_payloads(event, direct), **_notify.handed_payloads(event, plan.send)}
    result = {"changed": bool(direct), "event_id": event["event_id"], "would_send": plan.would_send(), "left_out": plan.skipped,
              "pending": [name for name in _notify.HANDED if name in plan.send], "payloads": payloads}
    sent = [] if check_mode else _notify.send_direct(event, direct, params["timeout"], _notify.sink_secrets(params["sinks"]))
    results = [r.as_dict() for r in sent + _notify.unconfigured_results(plan)] + misconfigured
    outcome = _notify.outcomes(results)
    result.update(results=results, outcome=outcome)
    # the role adds its community.general sinks to this outcome: every-sink-failed is said once all are known
    return Outcome(result, [w for w in _warnings(results, outcome) if not w.startswith("every sink failed")] if result["pending"]
                   else _warnings(results, outcome))


ENTRY = Entry(SPEC, run, secrets=lambda params: _notify.sink_secrets(params.get("sinks")))
