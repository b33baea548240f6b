# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the incident procedure: what goes into its evidence archive, named in Python where tests reach it."""

from __future__ import annotations

import base64
import posixpath

from ansible.errors import AnsibleFilterError

from ansible_collections.maestro.conductor.plugins.module_utils import _incident, _notify
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._names import check_relative_path


def _safe(text: object) -> str:
    """A name for an archive path: letters, digits, '.', '_', '-' (anything else becomes '_')."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(text))[:128] or "_"


def archive_entry(path: str, root: str, prefix: str) -> dict:
    """A file under ``root`` as an archive entry: copied from ``path`` to ``prefix``/its path below ``root``."""
    relative = posixpath.relpath(posixpath.normpath(path), posixpath.normpath(root))
    reason = check_relative_path(relative)
    if reason:
        raise AnsibleFilterError(f"{path} is not under {root}: {relative} {reason}")
    return {"src": path, "dest": posixpath.join(prefix, relative)}


def _proxy_config(variables: dict) -> str:
    return variables.get("maestro_haproxy_config", "") if variables.get("maestro_proxy", "nginx") == "haproxy" else variables.get(
        "maestro_nginx_include", "")


def proxy_config_entry(proxy: str, hostvars) -> dict:
    """A proxy's configuration file (HAProxy's, or nginx's upstream include) as an archive entry."""
    src = str(_proxy_config(hostvars[proxy]))
    return {"src": src, "dest": f"proxies/{_safe(proxy)}/{_safe(posixpath.basename(src) or 'config')}"}


def archive_capture(result: dict, kind: str = "proxy") -> dict:
    """One result of a looped read as an archive text: a proxy's configuration slurped (``proxy``), or an app host whose
    compose read failed (``host``). What could not be read is evidence too, and says so."""
    item = result.get("item")
    if kind == "host":
        return {"dest": f"hosts/{_safe(item)}/unread.txt", "content": f"[not read: {result.get('msg', 'unknown')}]"}
    name = f"proxies/{_safe(item)}/{_safe(posixpath.basename(str(result.get('source') or 'config')))}"
    if result.get("failed") or "content" not in result:
        return {"dest": name + ".unread.txt", "content": f"[not read: {result.get('msg', 'unknown')}]"}
    return {"dest": name, "content": base64.b64decode(result["content"]).decode("utf-8", "replace")}


def incident_rollback_command(request: dict) -> list[str]:
    try:
        return _incident.rollback_argv(request["ansible_playbook"], request.get("inventories") or [], request["playbook"],
                                       request["tag"], request["incident"], bool(request.get("check")), request.get("job") or None)
    except (ConductorError, KeyError) as exc:
        raise AnsibleFilterError(f"the rollback's command: {exc}") from exc


def incident_rollback_verdict(request: dict) -> dict:
    try:
        return _incident.rollback_verdict(request.get("rollback") or {}, request.get("served") or [],
                                          (request.get("ledger") or {}).get("records") or [], request["incident"])
    except (ConductorError, KeyError) as exc:
        raise AnsibleFilterError(f"judging the rollback: {exc}") from exc


def incident_summary(request: dict) -> list[str]:
    return _incident.summary_lines(request.get("incident", ""), request.get("plan") or {}, request.get("outcome") or {},
                                   request.get("notifications") or [], request.get("archive") or {}, request.get("postmortem") or {})


def incident_sinks(sinks: object, webhook_url: str = "", slack_url: str = "", pagerduty_routing_key: str = "") -> dict:
    """``maestro_incident_sinks`` with the secrets an AWX credential put in the job's environment."""
    variables = dict(zip((variable for variable, _key in _notify.CREDENTIAL_ENV.values()), (webhook_url, slack_url, pagerduty_routing_key)))
    return _notify.with_credentials(sinks, variables)


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"archive_entry": archive_entry, "archive_capture": archive_capture, "proxy_config_entry": proxy_config_entry,
                "incident_rollback_command": incident_rollback_command, "incident_rollback_verdict": incident_rollback_verdict,
                "incident_summary": incident_summary, "incident_sinks": incident_sinks}
