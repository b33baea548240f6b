# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.proxy_flip: read what a proxy runs, or flip it to a colour, preflighted and confirmed through it."""

from __future__ import annotations

import time
from dataclasses import asdict

from ansible_collections.maestro.conductor.plugins.module_utils import _http, _proxy
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._haproxy import HAProxy, flip_haproxy
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_object_id, validate_tag_name
from ansible_collections.maestro.conductor.plugins.module_utils._nginx import Nginx, flip_nginx
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome
from ansible_collections.maestro.conductor.plugins.module_utils._task_lock import FENCE_SPEC, fence_check

# the proxy a module works on (doc fragment maestro.conductor.proxy)
PROXY_SPEC = {
    "proxy": {"type": "str", "default": "nginx", "choices": ["nginx", "haproxy"]},
    "nginx_include": {"type": "path"},
    "nginx_upstream": {"type": "str"},
    "nginx_config": {"type": "path", "default": "/etc/nginx/nginx.conf"},
    "nginx_binary": {"type": "str", "default": "nginx"},
    "haproxy_socket": {"type": "path"},
    "haproxy_backend": {"type": "str"},
}

SPEC = {
    "argument_spec": {
        **PROXY_SPEC,
        "colour": {"type": "str", "choices": list(_proxy.COLOURS)},
        "tag": {"type": "str", "default": ""},
        "servers": {"type": "list", "elements": "str", "default": []},
        "colour_servers": {"type": "dict", "default": {}},
        "confirm_url": {"type": "str"},
        "expected_commit": {"type": "str"},
        "health_urls": {"type": "list", "elements": "str", "default": []},
        "version_urls": {"type": "list", "elements": "str", "default": []},
        "health_path": {"type": "str", "default": ""},
        "version_path": {"type": "str", "default": ""},
        "colour_version_urls": {"type": "dict", "default": {}},
        "confirm_timeout": {"type": "int", "default": 30},
        "fence": FENCE_SPEC,
    },
    "required_if": [
        ("proxy", "nginx", ["nginx_include", "nginx_upstream"]),
        ("proxy", "haproxy", ["haproxy_socket", "haproxy_backend"]),
    ],
}


def _as_lists(mapping: dict) -> dict[str, list[str]]:
    return {str(key): [value] if isinstance(value, str) else [str(v) for v in value or []] for key, value in mapping.items()}


def _urls(servers: list[str], path: str) -> list[str]:
    """``path`` on each server reachable over TCP (a unix socket is not)."""
    return [f"http://{server}{path}" for server in servers if path and not server.startswith("unix:")]


def _read(proxy, params: dict, colour_servers: dict[str, list[str]]) -> Outcome:
    """What the proxy claims and what answers through it and on each colour's servers; nothing changes."""
    seen = proxy.observe(colour_servers)
    urls = {colour: _urls(servers, params["version_path"]) for colour, servers in colour_servers.items()}
    _proxy.observe_answers(seen, params["confirm_url"] or "", {**urls, **_as_lists(params["colour_version_urls"])})
    live = "" if seen.config_problem else seen.config_colour
    served = {"serving_status": seen.serving_status, "serving_commit": seen.serving_commit, "serving_tag": seen.serving_tag}
    return Outcome({"changed": False, "live_colour": live, "idle_colour": _proxy.other(live), "observation": asdict(seen),
                    **(served if params["confirm_url"] else {})})


def run(params: dict, check_mode: bool, diff: bool) -> Outcome:
    started = time.monotonic()
    colour_servers = _as_lists(params["colour_servers"])
    for colour, servers in colour_servers.items():
        _proxy.validate_colour(colour)
        _proxy.validate_servers(servers, f"{colour} servers")
    commit = validate_object_id(params["expected_commit"], "expected commit") if params["expected_commit"] else ""
    if params["tag"]:
        validate_tag_name(params["tag"])  # it is written into the nginx include's header
    for name in ("health_path", "version_path"):
        _proxy.validate_url_path(params[name], name)
    if params["servers"]:
        _proxy.validate_servers(params["servers"])
    if params["proxy"] == "nginx":
        proxy = Nginx(params["nginx_include"], _proxy.validate_name(params["nginx_upstream"], "upstream name"), params["nginx_config"],
                      params["nginx_binary"])
    else:
        # the backend name goes into runtime API commands, reading as flipping
        proxy = HAProxy(params["haproxy_socket"], _proxy.validate_name(params["haproxy_backend"], "backend name"))
    if not params["colour"]:
        return _read(proxy, params, colour_servers)
    live = proxy.live_colour()
    servers = params["servers"] or colour_servers.get(params["colour"], [])
    health_urls = params["health_urls"] + _urls(servers, params["health_path"])
    version_urls = params["version_urls"] + _urls(servers, params["version_path"])
    if (params["confirm_url"] or version_urls) and not commit:
        raise ConductorError("expected_commit is required with confirm_url or version_urls: it is the commit they must report")
    seen = [] if check_mode else _http.preflight(health_urls, version_urls, commit, params["confirm_timeout"])
    confirm = {"confirm_url": params["confirm_url"] or "", "commit": commit, "confirm_timeout": params["confirm_timeout"],
               "check_mode": check_mode, "fence": fence_check(params["fence"], f"changing proxy {params['proxy']}")}
    if params["proxy"] == "nginx":
        result = flip_nginx(proxy, params["colour"], servers, tag=params["tag"], **confirm)
    else:
        result = flip_haproxy(proxy, params["colour"], servers=servers, **confirm)
    output = {"changed": result.changed, "live_colour": live, "idle_colour": _proxy.other(live), "colour": result.colour,
              "previous_colour": result.previous_colour, "preflight": seen, "confirmed": result.confirmed,
              "confirmation": result.confirmation, "seconds": round(time.monotonic() - started, 3)}
    if diff and result.changed:
        output["diff"] = result.diff
    return Outcome(output)


ENTRY = Entry(SPEC, run)
