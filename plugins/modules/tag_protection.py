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
    it back. The hook goes where git runs hooks: C(hooks/), or the directory C(core.hooksPath) names when that is
    inside the repository; a C(core.hooksPath) outside it (read as git sees it for the repository, from the system,
    the global configuration of the account the module runs as, and the repository's own) fails the task, naming
    the setting, since a hook in C(hooks/) would never run."
  - "O(backend=github): a repository ruleset named O(ruleset_name) targeting tags, with the rules C(deletion), C(update)
    and C(non_fast_forward) (creating stays open), and O(allowed_actors) as its bypass actors (teams, repository
    roles, apps, single users, organization admins, deploy keys). An existing ruleset of that name is compared field
    by field after normalizing and updated only when it differs."
  - "O(backend=gitlab): one protected tag per pattern, creatable by Developers (anyone who may push). GitLab forbids
    moving a protected tag, and deleting one by push, to everyone; Maintainers may delete one in its UI or API. There is
    no per-actor exception, so O(allowed_actors) must be empty. GitLab cannot update a protected tag: a differing one
    is unprotected and protected again, and put back as it was if that fails; if putting it back fails too, the task
    fails saying the pattern is now unprotected. GitLab's protected tags know the access levels 0 (no one), 30
    (developers) and 40 (maintainers) only: a protection allowing any other level is refused before anything
    changes, since it could not be put back."
  - "O(backend=gitea): one tag protection per pattern whose allowed users and teams are O(allowed_actors) (C(team:NAME)
    for a team). Gitea lets only them create a matching tag as well, so O(allowed_actors) must not be empty. Gitea
    applies teams only on a repository an organization owns: on a user's repository teams are refused before any
    write (Gitea would drop them without a word)."
  - With the hosted backends the module runs where it can reach the API (usually C(localhost)), reads everything back
    after writing and fails when the server did not apply it. The token is sent in a header only, only to the origin
    of O(api_url), and never shown; redirects are never followed (one fails the task, naming where it pointed).
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
    choices: [git, github, gitlab, gitea]
    default: git
  repo:
    description: With O(backend=git), the bare repository pushes go to. Required with O(backend=git).
    type: path
  project:
    description:
      - With the hosted backends, the repository. C(owner/name) on GitHub and Gitea; the project's path
        (C(group/subgroup/name)) or numeric id on GitLab. Required with them.
    type: str
  api_url:
    description:
      - With the hosted backends, the API root. Defaults to C(https://api.github.com) for GitHub and
        C(https://gitlab.com/api/v4) for GitLab; required for Gitea (such as C(https://gitea.example.com/api/v1)).
      - C(https://) only, since the token travels with every request; C(http://) is taken only for this machine
        (C(localhost), C(127.0.0.0/8), C(::1)), as tests use, and then without a proxy. No credentials, query or fragment.
    type: str
  token:
    description:
      - With the hosted backends, an API token with admin rights on the repository. Never logged or returned.
      - If not given, the C(MAESTRO_TAG_PROTECTION_TOKEN) environment variable of the host the module runs on.
    type: str
  ruleset_name:
    description: With O(backend=github), the name of the ruleset this module owns.
    type: str
    default: maestro release tags
  validate_certs:
    description: With the hosted backends, whether to check the server's TLS certificate.
    type: bool
    default: true
  timeout:
    description: With the hosted backends, seconds to wait for each API answer.
    type: int
    default: 30
  patterns:
    description: Globs of the protected tags.
    type: list
    elements: str
    default: ["v*"]
  allowed_actors:
    description:
      - Who may delete or move a protected tag. With O(backend=git), the names the pushers' C(authorized_keys) entries set;
        with O(backend=github), bypass actors (C(Team:ID), C(RepositoryRole:ID), C(Integration:ID), C(User:ID),
        C(OrganizationAdmin), C(DeployKey), where ID is the numeric id, not a name); with O(backend=gitea), user names and
        C(team:NAME) (teams only on a repository an organization owns); with O(backend=gitlab), none (see above).
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
  - With O(backend=git), a POSIX shell on the git server.
"""

EXAMPLES = r"""
- name: Protect release tags on the self-hosted git server
  maestro.conductor.tag_protection:
    backend: git
    repo: /srv/git/app.git
    patterns: ["v*"]
    allowed_actors: [release-manager]

- name: Protect release tags on GitHub (the token from the environment)
  maestro.conductor.tag_protection:
    backend: github
    project: acme/app
    allowed_actors: ["Team:1234", "User:583231"]
  delegate_to: localhost

- name: Protect release tags on a Gitea server
  maestro.conductor.tag_protection:
    backend: gitea
    api_url: https://gitea.example.com/api/v1
    project: acme/app
    token: "{{ gitea_admin_token }}"
    allowed_actors: [release-bot, "team:release-managers"]
  delegate_to: localhost
"""

RETURN = r"""
hook:
  description: With O(backend=git), the hook file (in C(hooks/), or in the repository's own C(core.hooksPath)).
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
protection:
  description:
    - With the hosted backends, what the server holds now that this policy manages, normalized (ruleset or pattern
      name to its settings); in check mode, what it would hold.
  returned: success
  type: dict
creation:
  description: Who may create a protected tag, as the backend allows it (V(open) or V(restricted to allowed_actors)).
  returned: success
  type: str
"""

import json

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.maestro.conductor.plugins.module_utils import _tag_protection
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "backend": {"type": "str", "default": "git", "choices": ["git", "github", "gitlab", "gitea"]},
            "repo": {"type": "path"},
            "project": {"type": "str"},
            "api_url": {"type": "str"},
            "token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["MAESTRO_TAG_PROTECTION_TOKEN"])},
            "ruleset_name": {"type": "str", "default": "maestro release tags"},
            "validate_certs": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 30},
            "patterns": {"type": "list", "elements": "str", "default": ["v*"]},
            "allowed_actors": {"type": "list", "elements": "str", "default": []},
            "actor_variable": {"type": "str", "default": "MAESTRO_ACTOR"},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        },
        required_if=[("backend", "git", ["repo"]), ("backend", "github", ["project"]), ("backend", "gitlab", ["project"]),
                     ("backend", "gitea", ["project", "api_url"])],
        supports_check_mode=True,
    )
    params = module.params
    try:
        policy = _tag_protection.Policy.build(params["patterns"], params["allowed_actors"], params["state"])
        if params["backend"] == "git":
            change = _tag_protection.ensure_git_hook(params["repo"], policy, params["actor_variable"], module.check_mode)
        else:
            backend = _tag_protection.hosted_backend(params["backend"], params["api_url"], params["token"] or "", params["project"],
                                                     params["ruleset_name"], params["validate_certs"], params["timeout"])
            hosted = _tag_protection.ensure_hosted(backend, policy, module.check_mode)
    except ConductorError as exc:
        module.fail_json(msg=str(exc))
    result = {"policy": {"patterns": policy.patterns, "allowed_actors": policy.allowed_actors, "state": params["state"]}}
    if params["backend"] == "git":
        result.update(changed=change.changed, hook=change.path, chained=change.chained, creation="open")
        before, after, header = change.before, change.after, change.path
    else:
        result.update(changed=hosted.changed, protection=hosted.after, creation=hosted.creation)
        before, after = _diff_text(hosted.before), _diff_text(hosted.after)
        header = f"{params['backend']}:{params['project']}"
    if module._diff and result["changed"]:  # pylint: disable=protected-access
        result["diff"] = {"before": before, "after": after, "before_header": header, "after_header": header}
    module.exit_json(**result)


def _diff_text(state: dict) -> str:
    """A stable text of the normalized settings, one object a line, for --diff."""
    return "".join(f"{name}: {json.dumps(settings, sort_keys=True)}\n" for name, settings in sorted(state.items()))


if __name__ == "__main__":
    main()
