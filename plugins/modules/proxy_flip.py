#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: proxy_flip
short_description: Move traffic to the blue or green colour of a service and confirm it through the proxy
version_added: 0.1.0
description:
  - "nginx: renders the upstream block for the target colour (every server of O(servers), one a line: all app hosts of
    the colour) into O(nginx_include) (a file the nginx configuration includes), writes it atomically, runs C(nginx -t),
    reloads, and confirms through the proxy that O(expected_commit) answers at O(confirm_url). When any step fails, the
    previous file is put back and nginx reloaded. An include that says the target colour but that nginx never loaded
    (written after its newest worker started: a run died between writing and reloading) is reloaded too."
  - "HAProxy: sets every server of the backend named after the target colour (V(green), V(green-app1), V(green_2)) to
    C(ready) and every other one to C(maint) through the runtime API, with no reload, then confirms the same way; on
    failure the previous server states are put back. With O(servers), the target colour's server addresses must be
    exactly those, or nothing changes."
  - Before anything changes, each of O(health_urls) must answer 200 and each of O(version_urls) report
    O(expected_commit), straight from the proxy host to the target colour's servers (the preflight).
  - Without O(colour), nothing changes and the module reports what the proxy runs - RV(observation) - so that the
    caller can tell the live colour from the configuration's claim and from what answers.
  - Flipping to the colour already live changes nothing (the confirmation still runs). Check and diff mode show the
    change without making it.
  - "Every value that goes into the proxy's configuration or a runtime API command is checked before anything is
    rendered: O(tag) by the release tag rule, O(servers) as C(host:port), C([IPv6]:port) or C(unix:/path) with a port
    1-65535, O(nginx_upstream) and O(haproxy_backend) as names, O(health_path) and O(version_path) as URL paths, and
    the server names HAProxy reports."
  - "With O(fence), the change is fenced by the run's environment lock (see M(maestro.conductor.release_lock)): checked,
    and renewed, right before the first change."
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
  colour:
    description:
      - The colour to send traffic to.
      - When omitted, nothing changes and the module reports RV(live_colour), RV(idle_colour) and RV(observation).
    type: str
    choices: [blue, green]
  tag:
    description: The release tag the colour runs, recorded in the nginx include's header.
    type: str
    default: ""
  servers:
    description:
      - The target colour's addresses (V(127.0.0.1:18081), V(app1.example.com:18082), V(unix:/run/app.sock)), one for
        each app host. Default, O(colour_servers) of the colour.
      - With HAProxy, the addresses the backend's servers of the colour must have.
    type: list
    elements: str
    default: []
  colour_servers:
    description:
      - Each colour's addresses, as O(servers), so that an include written by hand or by another tool can be read as one
        colour or the other, and a header that names the other colour's servers is seen as the lie it is.
    type: dict
    default: {}
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
  health_path:
    description:
      - A path that must answer 200 on each of the target colour's O(servers) before anything changes, added to
        O(health_urls) (V(/healthz)). Servers on a unix socket are not probed.
    type: str
    default: ""
  version_path:
    description:
      - A path that must report O(expected_commit) on each of the target colour's O(servers) before anything changes,
        added to O(version_urls); without O(colour), the path asked on each of O(colour_servers) when
        O(colour_version_urls) does not name the colour (V(/version)).
    type: str
    default: ""
  colour_version_urls:
    description:
      - Without O(colour), each colour's version URLs on its own servers (bypassing the proxy), a list or one URL per
        colour. Each is asked once; what they report is in RV(observation) (C(colour_answers)), to be compared with
        what the proxy serves.
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
- name: Send production traffic to green on three app hosts, confirmed through nginx
  maestro.conductor.proxy_flip:
    proxy: nginx
    colour: green
    tag: v2.3.1
    servers: ["app1.example.com:18082", "app2.example.com:18082", "app3.example.com:18082"]
    nginx_include: /etc/nginx/maestro/production-upstream.conf
    nginx_upstream: production
    confirm_url: http://127.0.0.1/version
    expected_commit: "{{ release_commit }}"

- name: The same through HAProxy's runtime API (servers green-app1, green-app2, ...)
  maestro.conductor.proxy_flip:
    proxy: haproxy
    colour: green
    haproxy_socket: /run/haproxy/admin.sock
    haproxy_backend: production
    confirm_url: http://127.0.0.1/version
    expected_commit: "{{ release_commit }}"

- name: What does the proxy run?
  maestro.conductor.proxy_flip:
    proxy: nginx
    nginx_include: /etc/nginx/maestro/production-upstream.conf
    nginx_upstream: production
    confirm_url: http://127.0.0.1/version
    colour_servers: {blue: ["app1.example.com:18081"], green: ["app1.example.com:18082"]}
    colour_version_urls: {blue: ["http://app1.example.com:18081/version"], green: ["http://app1.example.com:18082/version"]}
  register: proxy_state
"""

RETURN = r"""
live_colour:
  description: The colour the proxy's configuration sends traffic to before this task (empty when it names none).
  returned: success
  type: str
idle_colour:
  description: The other colour (V(blue) when nothing is live).
  returned: success
  type: str
colour:
  description: The colour traffic goes to now.
  returned: when O(colour) is given
  type: str
previous_colour:
  description: The colour traffic went to before (empty when unknown).
  returned: when O(colour) is given
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
observation:
  description:
    - Without O(colour), what the proxy claims and what it does.
    - C(config_colour) the colour its configuration names (nginx include header, or its servers; HAProxy the colour whose
      servers are all ready), C(config_problem) a contradiction in it, C(config_loaded) whether nginx loaded the include
      (null when that cannot be told), C(config_servers) the servers it lists, C(serving_status), C(serving_commit),
      C(serving_tag) what answers through it, and C(colour_answers) what each of O(colour_version_urls) answered
      (C(url), C(status), C(commit), C(tag)).
  returned: when O(colour) is not given
  type: dict
preflight:
  description: What each of O(health_urls) and O(version_urls) answered before the flip.
  returned: success, outside check mode
  type: list
  elements: str
confirmed:
  description: Whether the expected commit answered through the proxy.
  returned: when O(colour) is given
  type: bool
confirmation:
  description: What the confirmation saw.
  returned: when O(colour) is given
  type: str
seconds:
  description: How long the flip took, confirmation included.
  returned: when O(colour) is given
  type: float
lost:
  description: On failure because the run no longer holds the lock of O(fence); nothing was changed.
  returned: failure
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_proxy import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
