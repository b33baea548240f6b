# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metrics each procedure writes when it ends, green or red: what the writer (``_metrics``) is given.

The watch's own are in ``_watch``. A verification that never reached a verdict is counted as failed: unknown is red.
"""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

RESULTS = {True: "pass", False: "fail"}
# gauges a writer keeps from its previous run when this run gives none (a failed switch has no time to green, and
# the last one stays the last one)
KEEP = {"switch": ["maestro_time_to_green_seconds", "maestro_verify_last_success_timestamp_seconds"],
        "verify": ["maestro_verify_last_success_timestamp_seconds"],
        "drill": ["maestro_restore_drill_time_to_green_seconds", "maestro_restore_drill_last_success_timestamp_seconds"]}


def _seconds(value: object, what: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConductorError(f"{what} {value!r} is invalid: expected seconds") from exc
    if number < 0:
        raise ConductorError(f"{what} {value!r} is invalid: expected seconds, not negative")
    return round(number, 3)


def _verification(source: str, verified: bool, seconds: float | None, now: float) -> tuple[list[dict], list[dict]]:
    labels = {"source": source}
    gauges = [{"name": "maestro_verify_ok", "labels": labels, "value": int(verified)}]
    if seconds is not None:
        gauges.append({"name": "maestro_verify_duration_seconds", "labels": labels, "value": seconds})
    if verified:
        gauges.append({"name": "maestro_verify_last_success_timestamp_seconds", "labels": labels, "value": round(now, 3)})
    return gauges, [{"name": "maestro_verify_runs_total", "labels": {**labels, "result": RESULTS[verified]}, "by": 1}]


def verify_metrics(ok: bool, seconds: object, now: float) -> dict:
    """make verify-release[-strict]: one verification."""
    gauges, increments = _verification("verify", bool(ok), _seconds(seconds, "verification seconds"), now)
    return {"gauges": gauges, "increments": increments, "keep": KEEP["verify"]}


def switch_metrics(mode: str, ok: bool, verified: bool | None, time_to_green: object, now: float) -> dict:
    """A deploy or a rollback: its result; its strict verification when it got that far; its time to green when green."""
    if mode not in ("deploy", "rollback"):
        raise ConductorError(f"switch mode {mode!r} is invalid: expected deploy or rollback")
    gauges, increments = ([], []) if verified is None else _verification(mode, bool(verified), None, now)
    increments.append({"name": f"maestro_{mode}s_total", "labels": {"result": RESULTS[bool(ok)]}, "by": 1})
    seconds = _seconds(time_to_green, "time to green")
    if ok and seconds is not None:
        gauges.append({"name": "maestro_time_to_green_seconds", "labels": {}, "value": seconds})
    return {"gauges": gauges, "increments": increments, "keep": KEEP["switch"]}


def drill_metrics(ok: bool, time_to_green: object, now: float) -> dict:
    """A restore drill on one host."""
    seconds = _seconds(time_to_green, "time to green")
    gauges = []
    if ok and seconds is not None:
        gauges = [{"name": "maestro_restore_drill_time_to_green_seconds", "labels": {}, "value": seconds},
                  {"name": "maestro_restore_drill_last_success_timestamp_seconds", "labels": {}, "value": round(now, 3)}]
    increments = [{"name": "maestro_restore_drills_total", "labels": {"result": RESULTS[bool(ok)]}, "by": 1}]
    return {"gauges": gauges, "increments": increments, "keep": KEEP["drill"]}
