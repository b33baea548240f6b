#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: security_updates
short_description: A host's pending security updates (apt, security origins only), or applied
version_added: 0.5.0
description:
  - Security origins are the apt sources whose suite ends in C(-security) (Debian's and Ubuntu's naming), read from the host's
    C(.list) and deb822 C(.sources) files, or the lines of O(security_sources). No security origin found is an error - which updates
    are security updates would be unknown.
  - What is pending is what apt would upgrade with those sources alone (a simulated dist-upgrade, so updates an upgrade keeps back,
    such as a kernel's new ABI package, count), read into a private lists directory and caches (the host's own package lists and
    caches are not touched, and its update hooks do not run). An index that cannot be fetched is an error, never "nothing pending".
    Each pending package keeps the time it was first seen pending in O(state_file), so a host whose updates wait too long can be
    told apart (RV(oldest_pending_seconds)).
  - O(state=applied) installs exactly the pending versions from the same sources (non-interactive, changed configuration files
    kept, nothing removed - updates that would remove a package are refused before anything is installed), then looks again;
    anything still pending fails the task, naming it. RV(reboot_required) reads C(/var/run/reboot-required).
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  check_mode:
    support: full
    details: Reads what is pending; installs nothing and leaves O(state_file) as it was.
  diff_mode:
    support: full
    details: The packages with their installed and new versions.
  idempotent:
    support: full
    details: Nothing pending, nothing installed.
options:
  state:
    description: V(inspected) only reads; V(applied) installs the pending security updates.
    type: str
    choices: [inspected, applied]
    default: inspected
  security_sources:
    description: The security origins as one-line apt sources (C(deb [options] URI SUITE COMPONENT...)); default - the host's own.
    type: list
    elements: str
    default: []
  state_file:
    description: Where the time each package was first seen pending is kept.
    type: path
    default: /var/lib/maestro/security-pending.json
  apt_root:
    description: The root apt works under (its C(Dir) option); V(/) on a real host, a directory in tests.
    type: path
    default: /
  timeout:
    description: The longest an apt-get run may take, in seconds.
    type: int
    default: 900
"""

EXAMPLES = r"""
- name: What security updates wait on this host, and since when
  maestro.conductor.security_updates:
  register: pending

- name: Apply them
  maestro.conductor.security_updates:
    state: applied
"""

RETURN = r"""
pending:
  description: Each pending security update - C(package), C(installed), C(candidate), C(since) (first seen pending). After O(state=applied), none.
  returned: always
  type: list
  elements: dict
count:
  description: How many are pending.
  returned: always
  type: int
oldest_pending_seconds:
  description: How long the longest-waiting one has been pending (0 when none).
  returned: always
  type: float
applied:
  description: The updates installed (or, in check mode, that would be), as C(package old -> new).
  returned: always
  type: list
  elements: str
reboot_required:
  description: Whether the host asks for a reboot (C(/var/run/reboot-required)).
  returned: always
  type: bool
removals:
  description: Packages that applying the updates would remove; with any, O(state=applied) refuses and installs nothing.
  returned: always
  type: list
  elements: str
sources:
  description: The security origins used (URI without credentials, suite, components).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_security import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
