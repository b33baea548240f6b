#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tag_protection
short_description: Let anyone create release tags, and only named actors delete or move them
version_added: 0.1.0
description:
  - Ensures that release tags matching O(patterns) cannot be deleted or moved except by O(allowed_actors), with one
    policy normalized so that a second run reports no change.
  - "O(backend=git): a bare repository on the host this module runs on (a self-hosted git server over SSH). A
    C(pre-receive) hook rejects deleting or moving a protected tag unless the pusher is allowed, and accepts creating
    one. The pusher is the value of O(actor_variable) that the pusher's C(authorized_keys) entry sets, for example
    C(command=\"env MAESTRO_ACTOR=alice git-shell -c \\\"$SSH_ORIGINAL_COMMAND\\\"\" ssh-ed25519 AAAA...), where the
    account's login shell (such as C(/bin/sh)) runs that forced command and git-shell limits it to git. A hook
    already there is kept: it is renamed C(pre-receive.maestro-chained) and runs after this one; O(state=absent) puts
    it back."
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  backend:
    description: Where the tags live.
    type: str
    choices: [git]
    default: git
  repo:
    description: With O(backend=git), the bare repository pushes go to.
    type: path
    required: true
  patterns:
    description: Globs of the protected tags.
    type: list
    elements: str
    default: ["v*"]
  allowed_actors:
    description: Who may delete or move a protected tag.
    type: list
    elements: str
    default: []
  actor_variable:
    description: With O(backend=git), the environment variable naming the pusher.
    type: str
    default: MAESTRO_ACTOR
  state:
    description: Protect (V(present)) or stop protecting (V(absent)).
    type: str
    choices: [present, absent]
    default: present
requirements:
  - a POSIX shell on the git server
"""

EXAMPLES = r"""
- name: Protect release tags on the self-hosted git server
  maestro.conductor.tag_protection:
    backend: git
    repo: /srv/git/app.git
    patterns: ["v*"]
    allowed_actors: [release-manager]
"""

RETURN = r"""
hook:
  description: With O(backend=git), the hook file.
  returned: success
  type: str
chained:
  description: With O(backend=git), whether a hook that was there before runs after ours.
  returned: success
  type: bool
policy:
  description: The normalized policy.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils import _tag_protection
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "backend": {"type": "str", "default": "git", "choices": ["git"]},
            "repo": {"type": "path", "required": True},
            "patterns": {"type": "list", "elements": "str", "default": ["v*"]},
            "allowed_actors": {"type": "list", "elements": "str", "default": []},
            "actor_variable": {"type": "str", "default": "MAESTRO_ACTOR"},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        policy = _tag_protection.Policy.build(params["patterns"], params["allowed_actors"], params["state"])
        change = _tag_protection.ensure_git_hook(params["repo"], policy, params["actor_variable"], module.check_mode)
    except ConductorError as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": change.changed, "hook": change.path, "chained": change.chained,
              "policy": {"patterns": policy.patterns, "allowed_actors": policy.allowed_actors, "state": params["state"]}}
    if module._diff and change.changed:  # pylint: disable=protected-access
        result["diff"] = {"before": change.before, "after": change.after, "before_header": change.path, "after_header": change.path}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
