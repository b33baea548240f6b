# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.security_updates: a host's pending security updates (apt, security origins only), or applied."""

from __future__ import annotations

import tempfile

from ansible_collections.maestro.conductor.plugins.module_utils import _apt_security
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

SPEC = {
    "argument_spec": {
        "state": {"type": "str", "choices": ["inspected", "applied"], "default": "inspected"},
        "security_sources": {"type": "list", "elements": "str", "default": []},
        "state_file": {"type": "path", "default": "/var/lib/maestro/security-pending.json"},
        "apt_root": {"type": "path", "default": "/"},
        "timeout": {"type": "int", "default": 900},
    },
}


def run(params: dict, check_mode: bool, diff: bool) -> Outcome:
    if not 1 <= params["timeout"] <= 7200:
        raise ConductorError(f"timeout {params['timeout']!r} is invalid: expected seconds from 1 to 7200")
    root = params["apt_root"]
    if params["state"] == "applied" and root.rstrip("/") and not check_mode:
        # apt's Dir moves apt's files, not dpkg's: dpkg would install onto this host itself
        raise ConductorError(f"state=applied with apt_root {root} is refused: packages are installed on the host itself only")
    sources = _apt_security.security_sources(params["security_sources"] or None, etc_apt=f"{root.rstrip('/')}/etc/apt")
    before = _apt_security.inspect(sources, params["state_file"], root, check_mode)
    result = {"changed": False, "pending": [vars(p) for p in before.pending], "count": len(before.pending),
              "oldest_pending_seconds": before.oldest_pending_seconds, "reboot_required": before.reboot_required,
              "sources": before.sources, "removals": before.removals, "applied": []}
    if params["state"] == "inspected" or not before.pending:
        return Outcome(result)
    if before.removals:
        raise ConductorError(f"applying the security updates would remove {', '.join(before.removals)}: refused (resolve it by hand "
                             "on the host; nothing was installed)")
    result.update(changed=True, applied=[f"{p.package} {p.installed} -> {p.candidate}" for p in before.pending])
    if diff:
        result["diff"] = {"before": "".join(f"{p.package} {p.installed}\n" for p in before.pending),
                          "after": "".join(f"{p.package} {p.candidate}\n" for p in before.pending)}
    if check_mode:
        return Outcome(result)
    with tempfile.TemporaryDirectory(prefix="maestro-apt-") as workdir:
        apt = _apt_security.Apt(sources, workdir, root, params["timeout"])
        apt.update()
        apt.apply(before.pending)
    after = _apt_security.inspect(sources, params["state_file"], root)
    result.update(pending=[vars(p) for p in after.pending], count=len(after.pending), oldest_pending_seconds=after.oldest_pending_seconds,
                  reboot_required=after.reboot_required)
    if after.pending:
        raise ConductorError(f"security updates still pending after applying them: {', '.join(p.package for p in after.pending)}")
    return Outcome(result)


ENTRY = Entry(SPEC, run, secrets=lambda params: _apt_security.secrets_of(params["security_sources"]))
