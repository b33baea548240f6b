# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: host_outcomes
short_description: Each host's outcome of a play, a host the play lost counted as failed
version_added: 0.1.0
description:
  - Takes the play's hosts (C(ansible_play_hosts_all)) and gives, for each, the value of a variable it set (or a key of
    it) - the outcome a procedure hands on with C(set_stats), not per host, once for the play.
  - A host that is no longer in the play (not in C(ansible_play_hosts) - it was unreachable, or failed outside the
    procedure's own handling) and a host that never set the variable get O(failed). Unknown is red, never the last
    host's word.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: Every host of the play.
    type: list
    elements: str
    required: true
  reached:
    description: The hosts still in the play.
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  variable:
    description: The variable each host set.
    type: str
    required: true
  key:
    description: A key of that variable, when the outcome is one of its fields.
    type: str
  failed:
    description: The outcome of a host that was lost or set nothing.
    type: raw
    default: false
"""

EXAMPLES = r"""
- name: Hand the verdict on, once, over every host
  ansible.builtin.set_stats:
    data:
      verify_release_hosts: "{{ _outcomes }}"
      verify_release_ok: "{{ _outcomes.values() | unique | list == [true] }}"
    aggregate: false
  vars:
    _outcomes: "{{ ansible_play_hosts_all | maestro.conductor.host_outcomes(ansible_play_hosts, hostvars, '_verify_result', 'ok') }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: Host name to its outcome.
  type: dict
"""

from collections.abc import Mapping


def host_outcomes(hosts: list, reached: list, hostvars: Mapping, variable: str, key: str | None = None, failed: object = False) -> dict:
    outcomes = {}
    for host in hosts:
        value = failed
        if host in reached:
            found = hostvars[host].get(variable) if host in hostvars else None
            if key is not None:
                found = found.get(key) if isinstance(found, Mapping) else None
            value = failed if found is None else found
        outcomes[str(host)] = value
    return outcomes


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"host_outcomes": host_outcomes}
