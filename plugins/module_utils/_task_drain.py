# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.proxy_drain: app hosts' servers of the live colour out of rotation, or back in it, confirmed."""

from __future__ import annotations

import time
from dataclasses import asdict

from ansible_collections.maestro.conductor.plugins.module_utils import _drain, _http, _proxy
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._haproxy import HAProxy
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_object_id
from ansible_collections.maestro.conductor.plugins.module_utils._nginx import Nginx
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome
from ansible_collections.maestro.conductor.plugins.module_utils._task_lock import FENCE_SPEC, fence_check
from ansible_collections.maestro.conductor.plugins.module_utils._task_proxy import PROXY_SPEC

SPEC = {
    "argument_spec": {
        "state": {"type": "str", "required": True, "choices": list(_drain.STATES)},
        "servers": {"type": "list", "elements": "str", "required": True},
        "colour": {"type": "str", "required": True, "choices": list(_proxy.COLOURS)},
        "colour_servers": {"type": "list", "elements": "str", "default": []},
        **PROXY_SPEC,
        "confirm_url": {"type": "str", "default": ""},
        "expected_commit": {"type": "str", "default": ""},
        "health_path": {"type": "str", "default": ""},
        "version_path": {"type": "str", "default": ""},
        "confirm_timeout": {"type": "int", "default": 30},
        "drain_timeout": {"type": "int", "default": 30},
        "fence": FENCE_SPEC,
    },
    "required_by": {"confirm_url": "expected_commit", "version_path": "expected_commit"},
    "required_if": [("proxy", "nginx", ["nginx_include", "nginx_upstream", "colour_servers"]),
                    ("proxy", "haproxy", ["haproxy_socket", "haproxy_backend"])],
}


def run(params: dict, check_mode: bool, diff: bool) -> Outcome:
    started = time.monotonic()
    for name in ("confirm_timeout", "drain_timeout"):
        if not 0 <= params[name] <= 3600:
            raise ConductorError(f"{name} {params[name]!r} is invalid: expected seconds from 0 to 3600")
    commit = validate_object_id(params["expected_commit"], "expected commit") if params["expected_commit"] else ""
    for name in ("health_path", "version_path"):
        _proxy.validate_url_path(params[name], name)
    servers = _proxy.validate_servers(params["servers"], "servers")
    # a server put back must answer health and the live commit itself first (the host was proven; this is the second witness)
    if params["state"] == "serving" and not (params["version_path"] and commit):
        # a server goes back only once it answers the live commit itself
        raise ConductorError("state=serving needs version_path and expected_commit: a server is put back only once it reports the live commit")
    if any(server.startswith("unix:") for server in servers):
        raise ConductorError("servers on a unix socket cannot be asked what they run from here: name them host:port")
    seen: list[str] = []

    def answering(targets: list[str]) -> None:
        """Each of ``targets`` answers health and the live commit, straight from this host (a second witness)."""
        seen.extend(_http.preflight([f"http://{s}{params['health_path']}" for s in targets if params["health_path"]],
                                    [f"http://{s}{params['version_path']}" for s in targets if params["version_path"]],
                                    commit, params["confirm_timeout"]))

    if params["state"] == "serving" and not check_mode:
        answering(servers)
    common = {"confirm_url": params["confirm_url"], "commit": commit, "confirm_timeout": params["confirm_timeout"],
              "drain_timeout": params["drain_timeout"], "check_mode": check_mode,
              "fence": fence_check(params["fence"], f"changing proxy {params['proxy']}"),
              # the servers that keep serving must answer the live commit before any is taken out
              "staying": answering if params["version_path"] else None}
    if params["proxy"] == "nginx":
        proxy = Nginx(params["nginx_include"], _proxy.validate_name(params["nginx_upstream"], "upstream name"), params["nginx_config"],
                      params["nginx_binary"])
        result = _drain.drain_nginx(proxy, params["state"], params["colour"], servers, params["colour_servers"], **common)
    else:
        proxy = HAProxy(params["haproxy_socket"], _proxy.validate_name(params["haproxy_backend"], "backend name"))
        result = _drain.drain_haproxy(proxy, params["state"], params["colour"], servers, **common)
    output = {**asdict(result), "preflight": seen, "seconds": round(time.monotonic() - started, 3)}
    if not (diff and result.changed):
        output.pop("diff")
    return Outcome(output)


ENTRY = Entry(SPEC, run)
