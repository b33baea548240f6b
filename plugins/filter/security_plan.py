# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: security_plan
short_description: The plan of make security-updates, decided in Python from what was observed
version_added: 0.5.0
description:
  - Decides the run from the ledger, the live release's strict verification, what each proxy serves and the app hosts'
    endpoints - the live colour, the app hosts in batches, each batch leaving a host serving - or fails saying why nothing
    is touched (no live release, a verification that failed, proxies that disagree or serve something else, one app host).
  - Decided in the collection's C(plugins/module_utils/_security_run.py), where unit tests reach it.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: The ledger's summary, as M(maestro.conductor.release_lock) returns it in C(ledger).
    type: dict
    required: true
  verified:
    description: M(maestro.conductor.release_verify)'s strict result of the live release.
    type: dict
    required: true
  proxies:
    description:
      - Each proxy's C(observation) as M(maestro.conductor.proxy_flip) reads it without a colour, and its C(name) (or C(item),
        as a looped task registers it).
    type: list
    elements: dict
    required: true
  app_hosts:
    description: The app hosts' inventory names.
    type: list
    elements: str
    required: true
  hostvars:
    description: Ansible's C(hostvars), to read where the proxies reach each app host (as P(maestro.conductor.colour_endpoints#filter)).
    type: raw
    required: true
  batch:
    description: App hosts a batch, as Ansible's C(serial) (a number, a percentage, or a list of them).
    type: raw
    default: 1
"""

EXAMPLES = r"""
- name: Plan the security updates
  ansible.builtin.set_fact:
    plan: "{{ locked.ledger | maestro.conductor.security_plan(verified, observed.results, groups['app'], hostvars, 1) }}"
"""

RETURN = r"""
_value:
  description: C(tag), C(commit), C(colour), C(batches), C(endpoints) (app host to its live-colour address), C(servers), C(drained).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.maestro.conductor.plugins.module_utils import _security_run
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._switch_plan import app_endpoints


def security_plan(ledger: dict, verified: dict, proxies: list, app_hosts: list, hostvars, batch=1) -> dict:
    try:
        observed = [{"name": str(p.get("name") or p.get("item") or "?"), "observation": p.get("observation") or {}} for p in proxies or []]
        hosts = [{"name": name, "endpoints": app_endpoints(name, hostvars[name])} for name in app_hosts or []]
        return _security_run.plan(ledger or {}, verified or {}, observed, hosts, batch)
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"security_plan: {exc}: set maestro_ports or maestro_app_endpoints per app host") from exc
    except ConductorError as exc:
        raise AnsibleFilterError(f"security updates refused: {exc}") from exc


def security_host_state(results: dict, image_ids: list, check_mode: bool = False) -> dict:
    return _security_run.host_state(results or {}, list(image_ids or []), bool(check_mode))


def security_verdict(plan: dict, hosts: dict, verified: dict, proxies: list, now: float, started: float, check_mode: bool = False) -> dict:
    return _security_run.verdict(plan or {}, dict(hosts or {}), verified or {}, list(proxies or []), float(now), float(started),
                                 bool(check_mode))


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"security_plan": security_plan, "security_host_state": security_host_state, "security_verdict": security_verdict}
