#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: proxy_flip
short_description: Move traffic to the blue or green colour of a service and confirm it through the proxy
version_added: 0.1.0
description:
  - "nginx: renders the upstream block for the target colour into O(nginx_include) (a file the nginx
    configuration includes), writes it atomically, runs C(nginx -t), reloads, and confirms through the proxy
    that O(expected_commit) answers at O(confirm_url). When any step fails, the previous file is put back and
    nginx reloaded."
  - "HAProxy: sets the backend's server named after the target colour to C(ready) and the others to C(maint)
    through the runtime API, with no reload, then confirms the same way; on failure the previous server states
    are put back."
  - Flipping to the colour already live changes nothing (the confirmation still runs). Check and diff mode
    show the change without making it.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  proxy:
    description: Which proxy fronts the service.
    type: str
    choices: [nginx, haproxy]
    default: nginx
  colour:
    description:
      - The colour to send traffic to.
      - When omitted, nothing changes and the module reports RV(live_colour) and RV(idle_colour), and with
        O(confirm_url) what answers there now (RV(serving_commit)).
    type: str
    choices: [blue, green]
  tag:
    description: The release tag the colour runs, recorded in the nginx include's header.
    type: str
    default: ""
  servers:
    description: With nginx, the target colour's addresses (V(127.0.0.1:18081), V(unix:/run/app.sock)).
    type: list
    elements: str
    default: []
  nginx_include:
    description: With nginx, the managed upstream include file.
    type: path
  nginx_upstream:
    description: With nginx, the upstream name the include defines.
    type: str
  nginx_config:
    description: With nginx, the main configuration file, for C(nginx -t) and reload.
    type: path
    default: /etc/nginx/nginx.conf
  nginx_binary:
    description: With nginx, the nginx executable.
    type: str
    default: nginx
  haproxy_socket:
    description: With HAProxy, the runtime API socket (C(stats socket ... level admin)).
    type: path
  haproxy_backend:
    description: With HAProxy, the backend whose servers are named after the colours.
    type: str
  confirm_url:
    description: A URL through the proxy that reports the running commit (JSON C({"commit":...}) or the bare id).
    type: str
  expected_commit:
    description: The commit that must answer at O(confirm_url) and O(version_urls). Required with O(colour) and O(confirm_url).
    type: str
  health_urls:
    description:
      - URLs on the target colour's own servers, bypassing the proxy, that must answer 200 before anything
        changes (the preflight). Not probed in check mode, where nothing was started.
    type: list
    elements: str
    default: []
  version_urls:
    description:
      - URLs on the target colour's own servers that must report O(expected_commit) before anything changes,
        so that traffic never moves to a service running some other commit.
    type: list
    elements: str
    default: []
  colour_version_urls:
    description:
      - Without O(colour), each colour's own version URL (bypassing the proxy). The idle colour's is asked once, and
        what it reports returned as RV(idle_status), RV(idle_commit) and RV(idle_tag), so that a caller can see that
        the idle colour already runs a release and need not start it again.
    type: dict
    default: {}
  confirm_timeout:
    description: Seconds to wait for the preflight to pass, and again for the expected commit to answer through the proxy.
    type: int
    default: 30
requirements:
  - nginx or HAProxy on the host the module runs on
"""

EXAMPLES = r"""
- name: Send production traffic to green, confirmed through nginx
  maestro.conductor.proxy_flip:
    proxy: nginx
    colour: green
    tag: v2.3.1
    servers: ["127.0.0.1:18082"]
    nginx_include: /etc/nginx/maestro/production-upstream.conf
    nginx_upstream: production
    confirm_url: http://127.0.0.1/version
    expected_commit: "{{ release_commit }}"

- name: The same through HAProxy's runtime API
  maestro.conductor.proxy_flip:
    proxy: haproxy
    colour: green
    haproxy_socket: /run/haproxy/admin.sock
    haproxy_backend: production
    confirm_url: http://127.0.0.1/version
    expected_commit: "{{ release_commit }}"
"""

RETURN = r"""
live_colour:
  description: The colour serving traffic before this task (empty when the proxy does not say).
  returned: success
  type: str
idle_colour:
  description: The other colour, where the next release is deployed (V(blue) when nothing is live).
  returned: success
  type: str
colour:
  description: The colour traffic goes to now.
  returned: success
  type: str
previous_colour:
  description: The colour traffic went to before (empty when unknown).
  returned: success
  type: str
serving_commit:
  description: Without O(colour), the commit that answers at O(confirm_url) now (empty when nothing answers).
  returned: when O(confirm_url) is given without O(colour)
  type: str
serving_status:
  description: Without O(colour), the HTTP status at O(confirm_url) now (V(0) when nothing answers).
  returned: when O(confirm_url) is given without O(colour)
  type: int
serving_tag:
  description: Without O(colour), the tag that answers at O(confirm_url) now, when its answer names one.
  returned: when O(confirm_url) is given without O(colour)
  type: str
idle_status:
  description: Without O(colour), the HTTP status of the idle colour's URL in O(colour_version_urls) (V(0) when nothing answers).
  returned: when O(colour_version_urls) names the idle colour and O(colour) is not given
  type: int
idle_commit:
  description: Without O(colour), the commit the idle colour reports (empty unless it answered 200).
  returned: when O(colour_version_urls) names the idle colour and O(colour) is not given
  type: str
idle_tag:
  description: Without O(colour), the tag the idle colour reports, when its answer names one.
  returned: when O(colour_version_urls) names the idle colour and O(colour) is not given
  type: str
preflight:
  description: What each of O(health_urls) and O(version_urls) answered before the flip.
  returned: success, outside check mode
  type: list
  elements: str
confirmed:
  description: Whether the expected commit answered through the proxy.
  returned: success
  type: bool
confirmation:
  description: What the confirmation saw.
  returned: success
  type: str
seconds:
  description: How long the flip took, confirmation included.
  returned: success
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils import _http, _proxy
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._git import validate_object_id


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "proxy": {"type": "str", "default": "nginx", "choices": ["nginx", "haproxy"]},
            "colour": {"type": "str", "choices": list(_proxy.COLOURS)},
            "tag": {"type": "str", "default": ""},
            "servers": {"type": "list", "elements": "str", "default": []},
            "nginx_include": {"type": "path"},
            "nginx_upstream": {"type": "str"},
            "nginx_config": {"type": "path", "default": "/etc/nginx/nginx.conf"},
            "nginx_binary": {"type": "str", "default": "nginx"},
            "haproxy_socket": {"type": "path"},
            "haproxy_backend": {"type": "str"},
            "confirm_url": {"type": "str"},
            "expected_commit": {"type": "str"},
            "health_urls": {"type": "list", "elements": "str", "default": []},
            "version_urls": {"type": "list", "elements": "str", "default": []},
            "colour_version_urls": {"type": "dict", "default": {}},
            "confirm_timeout": {"type": "int", "default": 30},
        },
        required_if=[
            ("proxy", "nginx", ["nginx_include", "nginx_upstream"]),
            ("proxy", "haproxy", ["haproxy_socket", "haproxy_backend"]),
        ],
        supports_check_mode=True,
    )
    params = module.params
    started = time.monotonic()
    try:
        commit = validate_object_id(params["expected_commit"], "expected commit") if params["expected_commit"] else ""
        confirm = {"confirm_url": params["confirm_url"] or "", "commit": commit, "confirm_timeout": params["confirm_timeout"],
                   "check_mode": module.check_mode}
        if params["proxy"] == "nginx":
            proxy = _proxy.Nginx(params["nginx_include"], params["nginx_upstream"], params["nginx_config"], params["nginx_binary"])
        else:
            proxy = _proxy.HAProxy(params["haproxy_socket"], params["haproxy_backend"])
        live = proxy.live_colour()
        idle = _proxy.COLOURS[1] if live == _proxy.COLOURS[0] else _proxy.COLOURS[0]
        if not params["colour"]:
            module.exit_json(changed=False, live_colour=live, idle_colour=idle, **_read(params["confirm_url"], "serving", 5.0),
                             **_read(params["colour_version_urls"].get(idle), "idle", 2.0))
        if (params["confirm_url"] or params["version_urls"]) and not commit:
            raise ConductorError("expected_commit is required with confirm_url or version_urls: it is the commit they must report")
        seen = [] if module.check_mode else _http.preflight(params["health_urls"], params["version_urls"], commit, params["confirm_timeout"])
        if params["proxy"] == "nginx":
            result = _proxy.flip_nginx(proxy, params["colour"], params["servers"], tag=params["tag"], **confirm)
        else:
            result = _proxy.flip_haproxy(proxy, params["colour"], **confirm)
    except ConductorError as exc:
        module.fail_json(msg=str(exc))
    output = {"changed": result.changed, "live_colour": live, "idle_colour": idle, "colour": result.colour, "previous_colour": result.previous_colour,
              "preflight": seen, "confirmed": result.confirmed, "confirmation": result.confirmation, "seconds": round(time.monotonic() - started, 3)}
    if module._diff and result.changed:  # pylint: disable=protected-access
        output["diff"] = result.diff
    module.exit_json(**output)


def _read(url: str | None, prefix: str, timeout: float) -> dict:
    """What ``url`` reports now, as ``{prefix}_status``, ``{prefix}_commit`` and ``{prefix}_tag``; {} without a URL."""
    if not url:
        return {}
    try:
        answer = _http.get(url, timeout=timeout)
    except ConductorError:
        answer = _http.Answer(0, "")
    ok = answer.status == 200
    return {f"{prefix}_status": answer.status, f"{prefix}_commit": answer.commit() if ok else "", f"{prefix}_tag": answer.tag() if ok else ""}


if __name__ == "__main__":
    main()
