"""The schedules role through make, as an operator runs it: the units written into a unit directory of the test's own
(this machine does not run systemd: they are written and checked, not enabled, and the run says so), each checked by a
real systemd-analyze verify before any is installed."""

from __future__ import annotations

import json
import subprocess

from tests.integration.demo_env import ROOT, Env, out

UNITS = sorted(f"maestro-{job}-ischedules.{kind}" for job in ("watch", "daily-verify", "weekly-validation", "restore-drill")
               for kind in ("service", "timer"))


def schedules(env: Env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "schedules", *args], env=env.env(), capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_timers_are_checked_installed_once_and_removed(tmp_path):
    env = Env(tmp_path / "demo", "ischedules")
    units = env.root / "systemd"
    dry = schedules(env, "PLAYBOOK_ARGS=--check")
    assert dry.returncode == 0, out(dry)[-3000:]
    assert not units.exists()
    done = schedules(env)
    text = out(done)
    assert done.returncode == 0, text[-3000:]
    assert sorted(p.name for p in units.iterdir()) == UNITS
    assert "8 timers" not in text and "4 timers in" in text and "not enabled: this host does not run systemd" in text
    service = (units / "maestro-daily-verify-ischedules.service").read_text()
    assert "/playbooks/daily_verify.yml" in service and f"Environment=DEMO_DIR={env.root}" in service
    assert "Persistent=true" in (units / "maestro-restore-drill-ischedules.timer").read_text()
    assert """-e '{"restore_drill_live": true, "restore_drill_teardown": true}'""" in (units / "maestro-restore-drill-ischedules.service").read_text()
    checked = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, sorted(units.iterdir()))], capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    again = schedules(env)
    assert again.returncode == 0 and "changed=0" in out(again)
    # a calendar systemd refuses: systemd-analyze verify says so, and nothing installed changes
    before = {p.name: p.read_bytes() for p in units.iterdir()}
    jobs = [{"name": "daily-verify", "description": "daily verification", "playbook": "daily_verify.yml", "on_calendar": "dayly"}]
    refused = env.playbook("playbooks/schedules.yml", "-e", json.dumps({"schedules_jobs": jobs}))
    assert refused.returncode != 0 and "Failed to parse calendar specification" in out(refused), out(refused)[-3000:]
    assert {p.name: p.read_bytes() for p in units.iterdir()} == before
    removed = schedules(env, "SCHEDULES_STATE=absent")
    assert removed.returncode == 0, out(removed)[-3000:]
    assert list(units.iterdir()) == []
