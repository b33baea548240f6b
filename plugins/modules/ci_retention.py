#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ci_retention
short_description: Read or set how long GitHub Actions keeps artifacts and logs
version_added: 0.5.0
description:
  - Reads the artifact and log retention of a repository or an organization (C(days) and C(maximum_allowed_days)) and, with O(days),
    sets it, then reads it back (a server that answered success without applying it is an error).
  - O(days) above C(maximum_allowed_days) fails before anything is sent, saying where the limit comes from and where evidence should
    live instead.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  check_mode:
    support: full
    details: Reads the setting and reports the change it would make, without making it.
  diff_mode:
    support: full
    details: C(days) before and after.
  idempotent:
    support: full
    details: Nothing is sent when the setting already holds O(days).
options:
  ci_project:
    description: The repository (V(owner/repo)) whose own setting is read or set; this or O(ci_organization).
    type: str
  ci_organization:
    description: The organization whose setting (the default and the limit of its repositories) is read or set.
    type: str
  days:
    description: The days to keep artifacts and logs; omitted - only read.
    type: int
  raise_only:
    description: Never lower the setting - with a longer retention already set, nothing is sent (an audit window asks for at least).
    type: bool
    default: false
  ci_api_url:
    description: The GitHub API (GitHub Enterprise - V(https://HOST/api/v3)).
    type: str
    default: https://api.github.com
  ci_token:
    description:
      - A token that may administer the setting (a repository's - the Administration permission; an organization's - the admin:org
        scope or the Actions policies permission). Sent only to O(ci_api_url)'s https origin.
    type: str
    default: ""
  validate_certs:
    description: Check the API's TLS certificate.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Keep the evidence of acme/service's runs for the audit window
  maestro.conductor.ci_retention:
    ci_project: acme/service
    days: 400
    ci_token: "{{ lookup('ansible.builtin.env', 'MAESTRO_CI_TOKEN') }}"
"""

RETURN = r"""
scope:
  description: V(repository) or V(organization).
  returned: always
  type: str
name:
  description: The repository (owner/name) or the organization.
  returned: always
  type: str
days:
  description: The retention now (in check mode, the one it would set).
  returned: always
  type: int
maximum_allowed_days:
  description: The most this setting may hold.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_retention import SET_ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **SET_ENTRY.spec), SET_ENTRY)


if __name__ == "__main__":
    main()
