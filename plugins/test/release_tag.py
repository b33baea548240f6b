# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: release_tag
short_description: Whether a value is a release tag name the collection accepts
version_added: 0.2.0
description:
  - True for a string of 1-128 letters, digits, C(.), C(_), C(+) or C(-), starting with a letter or digit, without C(..)
    or a trailing C(.lock) or C(.) (and nothing after it, not even a newline); false for anything else.
  - The same rule every module applies before any command runs, so a playbook can refuse a bad tag in its first task
    with its own message.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: The value to test.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Check the extra variables
  ansible.builtin.assert:
    that: tag is maestro.conductor.release_tag
    fail_msg: "tag must be a release tag name, got {{ tag | string | to_json }}"
"""

RETURN = r"""
_value:
  description: Whether the value is a valid release tag name.
  type: bool
"""

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_tag_name


def release_tag(value: object) -> bool:
    try:
        validate_tag_name(value)
    except ConductorError:
        return False
    return True


class TestModule:  # pylint: disable=too-few-public-methods
    def tests(self):
        return {"release_tag": release_tag}
