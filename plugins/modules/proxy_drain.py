#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: proxy_drain
short_description: Take app hosts out of rotation behind the proxy, or put them back, without moving traffic between colours
version_added: 0.5.0
description:
  - "With O(state=drained), the live colour's servers of O(servers) stop receiving traffic. nginx - the include is rewritten
    without them (its header names them drained), tested with C(nginx -t) and reloaded, and the workers of the old
    configuration are waited for (up to O(drain_timeout)) to finish what they hold. HAProxy - each is set to C(drain) through
    the runtime API, its current sessions are waited for to end (up to O(drain_timeout)), then it is put in C(maint)."
  - With O(state=serving), they receive traffic again. Each must first answer O(health_path) and report O(expected_commit)
    at O(version_path), straight from the proxy host (a second witness; the proof that the host runs the release is
    M(maestro.conductor.release_stage) with C(state=checked)).
  - With O(state=drained) and O(version_path), the servers that keep serving must answer the same way before any is taken out,
    so that a drain never leaves only servers that do not answer.
  - Servers on a unix socket are refused (they cannot be asked from here).
  - Servers not named are left as they are, so that a host a failed run left drained is never put back unproven.
  - Refused, with nothing changed, when the proxy's live colour is not O(colour), when a server named is not one of the
    colour's, when the include does not list exactly the colour's servers (less those it names drained), or when no server
    of the colour would be left serving.
  - After a change, O(expected_commit) must still answer at O(confirm_url) through the proxy; otherwise the change is undone
    and the task fails.
  - Check and diff mode show the change without making it.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
  - maestro.conductor.fence
  - maestro.conductor.proxy
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  state:
    description: V(drained) takes O(servers) out of rotation; V(serving) puts them back.
    type: str
    choices: [drained, serving]
    required: true
  servers:
    description: The live colour's addresses of the hosts to take out or put back (as the proxy reaches them, C(host:port)).
    type: list
    elements: str
    required: true
  colour:
    description: The live colour, as the caller read it; the proxy must say the same.
    type: str
    choices: [blue, green]
    required: true
  colour_servers:
    description: With nginx, every address of the live colour (one for each app host); required with nginx.
    type: list
    elements: str
    default: []
  confirm_url:
    description: A URL through the proxy that must report O(expected_commit) after the change.
    type: str
    default: ""
  expected_commit:
    description: The live release's commit. Required with O(confirm_url) or O(version_path).
    type: str
    default: ""
  health_path:
    description: A path that must answer 200 on each server put back, or that keeps serving, before anything changes.
    type: str
    default: ""
  version_path:
    description:
      - A path that must report O(expected_commit) on each server put back (O(state=serving), required), or on each server that
        keeps serving (O(state=drained)), before anything changes.
    type: str
    default: ""
  confirm_timeout:
    description: Seconds for the checks of a server put back to pass, and for the commit to answer through the proxy.
    type: int
    default: 30
  drain_timeout:
    description: Seconds a server taken out is given to finish the requests it holds; after them it is taken out anyway.
    type: int
    default: 30
requirements:
  - nginx or HAProxy on the host the module runs on
"""

EXAMPLES = r"""
- name: Take app2 out of rotation behind nginx
  maestro.conductor.proxy_drain:
    state: drained
    colour: green
    servers: ["app2.example.com:18082"]
    colour_servers: ["app1.example.com:18082", "app2.example.com:18082", "app3.example.com:18082"]
    nginx_include: /etc/nginx/maestro/production-upstream.conf
    nginx_upstream: production
    confirm_url: http://127.0.0.1/version
    expected_commit: "{{ release_commit }}"
    version_path: /version

- name: Put it back through HAProxy's runtime API once it is proven
  maestro.conductor.proxy_drain:
    state: serving
    proxy: haproxy
    colour: green
    servers: ["app2.example.com:18082"]
    haproxy_socket: /run/haproxy/admin.sock
    haproxy_backend: production
    health_path: /healthz
    version_path: /version
    confirm_url: http://127.0.0.1/version
    expected_commit: "{{ release_commit }}"
"""

RETURN = r"""
colour:
  description: The live colour.
  returned: success
  type: str
drained:
  description: The colour's servers out of rotation after the task.
  returned: success
  type: list
  elements: str
serving:
  description: The colour's servers receiving traffic after the task.
  returned: success
  type: list
  elements: str
confirmed:
  description: Whether O(expected_commit) answered through the proxy after the change.
  returned: success
  type: bool
confirmation:
  description: What the confirmation saw.
  returned: success
  type: str
waited:
  description: Seconds waited for the servers taken out to finish what they held.
  returned: success
  type: float
unfinished:
  description: What was still open when the wait ended (HAProxy server -> sessions; nginx old worker pid).
  returned: success
  type: dict
preflight:
  description: What each server put back, or that kept serving, answered before the change.
  returned: success
  type: list
  elements: str
seconds:
  description: How long the task took.
  returned: success
  type: float
lost:
  description: On failure because the run no longer holds the lock of O(fence); nothing was changed.
  returned: failure
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_drain import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
