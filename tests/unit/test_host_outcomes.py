"""The outcome a procedure hands on once for a play of several hosts: a host lost on the way is red, never skipped."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.filter.host_outcomes import host_outcomes


def test_every_host_counts_and_a_lost_or_silent_one_is_red():
    hostvars = {"a": {"_r": {"ok": True}}, "b": {"_r": {"ok": True}}, "c": {"_r": {"ok": True}}, "d": {}}
    assert host_outcomes(["a", "b"], ["a", "b"], hostvars, "_r", "ok") == {"a": True, "b": True}
    # c was unreachable (no longer in the play) though it once set a green result; d never set one
    assert host_outcomes(["a", "c", "d"], ["a", "d"], hostvars, "_r", "ok") == {"a": True, "c": False, "d": False}
    drills = {"x": {"_d": "green"}, "y": {"_d": "green"}}
    assert host_outcomes(["x", "y"], ["x"], drills, "_d", failed="red") == {"x": "green", "y": "red"}
    assert host_outcomes(["x"], ["x"], {"x": {"_d": "not a mapping"}}, "_d", "ok") == {"x": False}
