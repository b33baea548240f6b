# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: switch_plan
short_description: The blue/green switch's plan, decided in Python from what was observed
version_added: 0.2.0
description:
  - Takes what the first steps of a switch observed (the ledger, each proxy's state as M(maestro.conductor.proxy_flip)
    reports it without a colour, the result of M(maestro.conductor.release_verify)) and gives the plan the playbook carries
    out - the live colour (what each proxy really runs), whether the release is already live, the colour to put it on,
    the app hosts in batches, the proxies to repair and to flip (and how to flip each back), the tag to quarantine.
  - Fails, naming both sides, when a proxy's configuration and what it serves disagree, or when the proxies send
    traffic to different colours.
  - The decisions are in the collection's C(plugins/module_utils/_switch_plan.py), where unit tests reach them.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description:
      - C(mode) (V(deploy) or V(rollback)), C(environment), C(requested_tag) (may be empty), C(verified), C(ledger)
        (as M(maestro.conductor.release_lock) reads it), C(proxies) (each C(name), or C(item) as a looped
        M(maestro.conductor.proxy_flip) registers it, and C(observation)), C(app_hosts)
        (inventory names), C(batch) (as Ansible's C(serial)) and C(force).
    type: dict
    required: true
  hostvars:
    description:
      - Ansible's C(hostvars), to read each app host's C(maestro_app_endpoints), C(maestro_app_address) (default
        C(ansible_host), else its name) and C(maestro_ports) (default blue 18081, green 18082).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Plan the switch
  ansible.builtin.set_fact:
    plan: "{{ observed | maestro.conductor.switch_plan(hostvars) }}"
"""

RETURN = r"""
_value:
  description: The plan (see C(Plan) in C(plugins/module_utils/_switch_plan.py)).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._switch_plan import app_endpoints, freeze_refusal, plan_switch


def switch_plan(request: dict, hostvars) -> dict:
    try:
        hosts = [{"name": name, "endpoints": app_endpoints(name, hostvars[name])} for name in request.get("app_hosts") or []]
        # each proxy as proxy_flip's looped read registered it: the proxy in "item"
        proxies = [{"name": p.get("name") or p.get("item"), "observation": p.get("observation") or {}} for p in request.get("proxies") or []]
        plan = plan_switch(request.get("mode", ""), request.get("environment", ""), request.get("requested_tag") or "",
                           request.get("verified") or {}, request.get("ledger") or {}, proxies, hosts,
                           request.get("batch") or 0, bool(request.get("force")))
    except ConductorError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    return plan.as_dict()


def switch_refusal(ledger: dict, mode: str, tag: str = "") -> str:
    return freeze_refusal(mode, ledger or {}, tag or "")


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"switch_plan": switch_plan, "switch_refusal": switch_refusal}
