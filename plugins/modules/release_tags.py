#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_tags
short_description: List release tags newest first, resolve a tag, or find the prior healthy tag
version_added: 0.1.0
description:
  - Lists the tags matching O(pattern), newest first by creator date (as C(git tag --sort=-creatordate)), each
    with its object id, the commit it peels to, its date and whether it is annotated or signed. One git call,
    whatever the number of tags.
  - With O(tag), resolves that tag; an unknown tag fails naming the nearest existing tags.
  - With O(prior_healthy=true), finds the newest tag older than O(live) that has a green verdict (O(healthy))
    and is not quarantined (O(quarantined)); pass these from M(maestro.conductor.release_ledger).
  - Read-only.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  repo:
    description: Git repository (bare or not) holding the tags.
    type: path
    required: true
  pattern:
    description: Glob over tag names, as C(git for-each-ref) matches them.
    type: str
    default: v*
  tag:
    description: A tag to resolve. Mutually exclusive with O(prior_healthy).
    type: str
  prior_healthy:
    description: Resolve the prior healthy tag instead of O(tag).
    type: bool
    default: false
  live:
    description: The tag now live, as the ledger says. Required with O(prior_healthy=true).
    type: str
  healthy:
    description: Tags with a green verdict.
    type: list
    elements: str
    default: []
  quarantined:
    description: Tags that must not be chosen.
    type: list
    elements: str
    default: []
  limit:
    description: How many tags to return in RV(tags) (V(0) for all); resolution always considers every tag.
    type: int
    default: 20
requirements:
  - GitPython
seealso:
  - module: maestro.conductor.release_ledger
"""

EXAMPLES = r"""
- name: The ten newest release tags
  maestro.conductor.release_tags:
    repo: /srv/git/service.git
    limit: 10
  register: releases

- name: Roll back to what was healthy before the live tag
  maestro.conductor.release_tags:
    repo: /srv/git/service.git
    prior_healthy: true
    live: "{{ ledger.live }}"
    healthy: "{{ ledger.healthy }}"
    quarantined: "{{ ledger.quarantined }}"
  register: target
"""

RETURN = r"""
tags:
  description: Matching tags, newest first (the first O(limit) of them).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Tag name.
      type: str
    object_id:
      description: The tag's object id (the commit for a lightweight tag).
      type: str
    commit:
      description: The commit the tag peels to.
      type: str
    date:
      description: Creator date, ISO 8601.
      type: str
    annotated:
      description: Whether it is an annotated tag.
      type: bool
    signed:
      description: Whether the annotated tag carries a signature.
      type: bool
    kind:
      description: V(annotated) or V(lightweight).
      type: str
count:
  description: How many tags match O(pattern).
  returned: always
  type: int
tag:
  description: The resolved tag (O(tag), or the prior healthy one), with the fields of RV(tags).
  returned: when O(tag) or O(prior_healthy) is set
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_tags import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
