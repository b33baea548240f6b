# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: reported_commit
short_description: The commit a version endpoint reports
version_added: 0.1.0
description:
  - Reads the body of a version endpoint whatever its content type says - a JSON object's C(commit) field (a string),
    or a body that is only a full 40- or 64-digit hexadecimal commit id (returned lower-cased).
  - Anything else gives an empty string, never the body itself - a proxy's error page, a JSON object without C(commit),
    a short or malformed id.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: The response body.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Compare what the service runs with the release
  ansible.builtin.assert:
    that: version_response.content | maestro.conductor.reported_commit == release_commit
"""

RETURN = r"""
_value:
  description: The reported commit, or an empty string.
  type: str
"""

from ansible_collections.maestro.conductor.plugins.module_utils._reported_commit import reported_commit


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"reported_commit": reported_commit}
