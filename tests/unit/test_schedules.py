"""The schedules' units (plugins/module_utils/_schedules.py): every value checked before it reaches a unit file, and the
units as systemd-analyze verify accepts them."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _schedules
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

SETTINGS = {"environment": "prod", "ansible_playbook": "/usr/bin/true", "inventory": "/etc/maestro/inventory.yml",
            "playbook_dir": "/opt/maestro/playbooks", "working_dir": "/opt/maestro", "user": "maestro",
            "service_environment": {"MAESTRO_CI_PROJECT": "acme/app"}}
JOBS = [{"name": "daily-verify", "description": "daily verification", "playbook": "daily_verify.yml", "on_calendar": "daily",
         "randomized_delay": "15min"},
        {"name": "watch", "description": "post-GA watch", "playbook": "watch.yml", "on_calendar": "*:0/5",
         "extra_vars": {"watch_due_only": True, "note": "50% $HOME"}}]


def test_each_job_is_a_oneshot_service_and_a_persistent_timer_that_systemd_accepts(tmp_path):
    units = _schedules.units(JOBS, SETTINGS)
    assert [u.name for u in units] == ["maestro-daily-verify-prod", "maestro-watch-prod"]
    watch = units[1]
    assert ("ExecStart=/usr/bin/true -i /etc/maestro/inventory.yml /opt/maestro/playbooks/watch.yml "
            """-e '{"note": "50%% $$HOME", "watch_due_only": true}'""") in watch.service
    assert "User=maestro" in watch.service and "Environment=MAESTRO_CI_PROJECT=acme/app" in watch.service
    assert "TimeoutStartSec=6h" in units[0].service and "OnCalendar=Mon..Fri 02:00" in _schedules.units(
        [{**JOBS[0], "on_calendar": "Mon..Fri 02:00"}], SETTINGS)[0].timer
    assert "Persistent=true" in units[0].timer and "OnCalendar=daily" in units[0].timer and "RandomizedDelaySec=15min" in units[0].timer
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is not installed (Debian's systemd package)")
    for unit in units:
        (tmp_path / f"{unit.name}.service").write_text(unit.service)
        (tmp_path / f"{unit.name}.timer").write_text(unit.timer)
    checked = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, sorted(tmp_path.iterdir()))],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("change, message", [
    ({"name": "Daily"}, "schedule name 'Daily' is invalid"),
    ({"playbook": "../x.yml"}, "playbook '../x.yml' is invalid"),
    ({"on_calendar": "daily\nExecStart=/bin/sh"}, "on_calendar 'daily\\nExecStart=/bin/sh' is invalid"),
    ({"randomized_delay": "soon"}, "randomized_delay 'soon' is invalid"),
    ({"extra_vars": {"tag": "v1'; rm -rf /"}}, "may not hold quotes"),
    ({"extra_vars": {"Bad-Name": 1}}, "extra variable name 'Bad-Name' is invalid"),
    ({"extra_vars": {"nested": {"a": 1}}}, "must be a plain value of one line"),
    ({"description": "two\nlines"}, "description must be one line"),
    ({"timeout": "forever"}, "timeout 'forever' is invalid"),
    ({"extra_vars": {"note": "caf\u00e9"}}, "extra variables must be ASCII"),
])
def test_a_bad_job_is_refused_naming_it(change, message):
    with pytest.raises(ConductorError, match=re.escape(message)):
        _schedules.units([{**JOBS[0], **change}], SETTINGS)


@pytest.mark.parametrize("change, message", [
    ({"inventory": "relative/inventory.yml"}, "inventory 'relative/inventory.yml' is invalid"),
    ({"user": "root; rm"}, "user 'root; rm' is invalid"),
    ({"environment": "../prod"}, "environment '../prod' is invalid"),
    ({"service_environment": {"PATH": "/bin:$(id)"}}, "service_environment must map"),
])
def test_bad_settings_are_refused_naming_them(change, message):
    with pytest.raises(ConductorError, match=re.escape(message)):
        _schedules.units(JOBS, {**SETTINGS, **change})


def test_a_job_given_twice_is_refused():
    with pytest.raises(ConductorError, match="schedule daily-verify is given twice"):
        _schedules.units([JOBS[0], JOBS[0]], SETTINGS)
