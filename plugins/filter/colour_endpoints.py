# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: colour_endpoints
short_description: Where the proxies reach each colour, on every app host
version_added: 0.2.0
description:
  - For a list of app hosts, each colour's C(host:port) addresses as a proxy sees them, in the order of the list.
  - Per host, C(maestro_app_endpoints) when it names the colour, else C(maestro_app_address) (default C(ansible_host), else the
    host's name) and the colour's port in C(maestro_ports) (default blue 18081, green 18082).
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: Inventory names of the app hosts.
    type: list
    elements: str
    required: true
  hostvars:
    description: Ansible's C(hostvars).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: The servers of each colour
  ansible.builtin.debug:
    msg: "{{ groups['app'] | maestro.conductor.colour_endpoints(hostvars) }}"
"""

RETURN = r"""
_value:
  description: C(blue) and C(green), each a list of C(host:port).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.maestro.conductor.plugins.module_utils._switch_plan import app_endpoints


def colour_endpoints(hosts: list, hostvars) -> dict:
    try:
        found = [app_endpoints(name, hostvars[name]) for name in hosts or []]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"colour_endpoints: {exc}: set maestro_ports or maestro_app_endpoints per app host") from exc
    return {colour: [endpoints[colour] for endpoints in found] for colour in ("blue", "green")}


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"colour_endpoints": colour_endpoints}
