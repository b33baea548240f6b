# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbook's schedules as systemd units: a oneshot service and its timer for each job (roles/schedules).

Every value is checked here before it reaches a unit file: names, paths, the calendar expression (systemd itself then
checks every unit with ``systemd-analyze verify`` before any is installed), and the extra variables, which go to
ansible-playbook as one JSON argument with systemd's specifier and variable characters escaped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import validate_environment

_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,39}")
_PLAYBOOK_RE = re.compile(r"[a-z][a-z0-9_]{0,63}\.yml")
_PATH_RE = re.compile(r"/[A-Za-z0-9._+/-]{0,1023}")
_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# OnCalendar and RandomizedDelaySec as systemd reads them; systemd-analyze verify has the last word
_CALENDAR_RE = re.compile(r"[A-Za-z0-9*:/,.~ -]{1,100}")
_DELAY_RE = re.compile(r"[0-9]{1,6}(?:s|min|h|d)?")
_EXTRA_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class Unit:
    name: str  # the unit's name without its suffix: maestro-JOB-ENVIRONMENT
    service: str
    timer: str

    def as_dict(self) -> dict:
        return {"name": self.name, "service": self.service, "timer": self.timer}


def _check(pattern: re.Pattern, value: object, what: str, expected: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value) or (pattern in (_PATH_RE, _PLAYBOOK_RE) and ".." in value):
        raise ConductorError(f"{what} {value!r} is invalid: expected {expected}")
    return value


def _extra_vars(value: object, job: str) -> str:
    """The job's extra variables as one ExecStart argument: JSON in single quotes, % and $ escaped for systemd."""
    if not isinstance(value, dict):
        raise ConductorError(f"schedule {job}: extra_vars must be a mapping of names to plain values, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not re.fullmatch(r"[a-z_][a-z0-9_]{0,63}", key):
            raise ConductorError(f"schedule {job}: extra variable name {key!r} is invalid: expected a lowercase variable name")
        if not isinstance(item, _EXTRA_SCALARS) or (isinstance(item, str) and (len(item) > 256 or any(ord(c) < 32 for c in item))):
            raise ConductorError(f"schedule {job}: extra variable {key} must be a plain value of one line, got {item!r}")
    text = json.dumps(value, sort_keys=True, ensure_ascii=True)
    if not all(ord(char) < 128 for key, item in value.items() for char in f"{key}{item}"):
        raise ConductorError(f"schedule {job}: extra variables must be ASCII")
    if "'" in text or "\\" in text:
        raise ConductorError(f"schedule {job}: extra variables may not hold quotes or backslashes")
    return "'" + text.replace("%", "%%").replace("$", "$$") + "'"


def units(jobs: list, settings: dict) -> list[Unit]:
    """The units of every job. ``settings``: environment, ansible_playbook, inventory, playbook_dir, user ('' for root),
    working_dir, service_environment (variables the jobs get); each job: name, playbook, on_calendar, description, and optionally
    randomized_delay, timeout (6h) and extra_vars."""
    environment = validate_environment(settings.get("environment"))
    playbook_bin = _check(_PATH_RE, settings.get("ansible_playbook"), "ansible_playbook", "an absolute path to ansible-playbook")
    inventory = _check(_PATH_RE, settings.get("inventory"), "inventory", "an absolute path to the inventory")
    playbook_dir = _check(_PATH_RE, settings.get("playbook_dir"), "playbook_dir", "an absolute path to the collection's playbooks")
    working_dir = _check(_PATH_RE, settings.get("working_dir"), "working_dir", "an absolute path (the project, for its ansible.cfg)")
    user = settings.get("user") or ""
    variables = settings.get("service_environment") or {}
    if not isinstance(variables, dict) or not all(
            isinstance(k, str) and re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", k) and isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9._+/:@-]{0,1024}", v)
            for k, v in variables.items()):
        raise ConductorError("service_environment must map upper-case variable names to plain values (letters, digits and ._+/:@-)")
    if user:
        _check(_USER_RE, user, "user", "a system user name")
    if not isinstance(jobs, list) or not jobs:
        raise ConductorError("schedules: expected a list of jobs, each with name, playbook, on_calendar and description")
    made, seen = [], set()
    for job in jobs:
        if not isinstance(job, dict):
            raise ConductorError(f"schedule {job!r} is invalid: expected a mapping")
        name = _check(_NAME_RE, job.get("name"), "schedule name", "lowercase letters, digits and '-', starting with a letter")
        if name in seen:
            raise ConductorError(f"schedule {name} is given twice")
        seen.add(name)
        playbook = _check(_PLAYBOOK_RE, job.get("playbook"), f"schedule {name}: playbook", "a playbook file name such as daily_verify.yml")
        calendar = _check(_CALENDAR_RE, job.get("on_calendar"), f"schedule {name}: on_calendar",
                          "a systemd calendar expression such as daily, weekly or *:0/5")
        delay = str(job.get("randomized_delay", "0"))
        _check(_DELAY_RE, delay, f"schedule {name}: randomized_delay", "a time span such as 15min")
        # a run that hangs must not hold its timer for ever (a oneshot's start has no limit by default)
        timeout = str(job.get("timeout", "6h"))
        _check(_DELAY_RE, timeout, f"schedule {name}: timeout", "a time span such as 2h")
        description = str(job.get("description") or name)
        if any(ord(c) < 32 for c in description) or len(description) > 200 or "%" in description:
            raise ConductorError(f"schedule {name}: description must be one line of at most 200 characters, without %")
        unit = f"maestro-{name}-{environment}"
        command = [playbook_bin, "-i", inventory, f"{playbook_dir}/{playbook}"]
        extra = job.get("extra_vars") or {}
        if extra:
            command += ["-e", _extra_vars(extra, name)]
        service = "\n".join([
            "# made by maestro.conductor's schedules role: do not edit, run the role again",
            "[Unit]",
            f"Description=maestro.conductor {description} ({environment})",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            f"TimeoutStartSec={timeout}",
            *([f"User={user}"] if user else []),
            f"WorkingDirectory={working_dir}",
            f"Environment=ANSIBLE_CONFIG={working_dir}/ansible.cfg",
            *[f"Environment={key}={value}" for key, value in sorted(variables.items())],
            f"ExecStart={' '.join(command)}",
            "",
        ])
        timer = "\n".join([
            "# made by maestro.conductor's schedules role: do not edit, run the role again",
            "[Unit]",
            f"Description=maestro.conductor {description} ({environment}), on schedule",
            "",
            "[Timer]",
            f"OnCalendar={calendar}",
            # a run missed while the machine was off runs when it is back
            "Persistent=true",
            f"RandomizedDelaySec={delay}",
            f"Unit={unit}.service",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ])
        made.append(Unit(unit, service, timer))
    return made
