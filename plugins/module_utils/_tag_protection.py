# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag protection: release tags may be created, but only named actors may delete or move them.

What the tag_protection module calls: the policy and the hosted driver (``_protect_policy``), and the
backend for each kind of git server, one a file: ``git`` (``_protect_git``: a ``pre-receive`` hook in a
bare repository), GitHub rulesets (``_protect_github``), GitLab protected tags (``_protect_gitlab``) and
Gitea tag protections (``_protect_gitea``) through their REST APIs (``_api``).
"""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils import _api
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._protect_git import Change, ensure_git_hook
from ansible_collections.maestro.conductor.plugins.module_utils._protect_gitea import GiteaTagProtections
from ansible_collections.maestro.conductor.plugins.module_utils._protect_github import GitHubRulesets
from ansible_collections.maestro.conductor.plugins.module_utils._protect_gitlab import GitLabProtectedTags
from ansible_collections.maestro.conductor.plugins.module_utils._protect_policy import HostedBackend, HostedChange, Policy, ensure_hosted

__all__ = ["Change", "HostedBackend", "HostedChange", "Policy", "ensure_git_hook", "ensure_hosted", "hosted_backend"]


def hosted_backend(kind: str, api_url: str, token: str, project: str, ruleset_name: str = "maestro release tags",
                   validate_certs: bool = True, timeout: int = 30) -> HostedBackend:
    """The backend for ``kind``: github, gitlab or gitea."""
    if kind == "github":
        client = _api.Client(_api.GITHUB, api_url or "https://api.github.com", token, validate_certs, timeout)
        return GitHubRulesets(client, project, ruleset_name)
    if kind == "gitlab":
        return GitLabProtectedTags(_api.Client(_api.GITLAB, api_url or "https://gitlab.com/api/v4", token, validate_certs, timeout), project)
    if kind == "gitea":
        if not api_url:
            raise ConductorError("api_url is required with Gitea: the API root of your server, such as https://gitea.example.com/api/v1")
        return GiteaTagProtections(_api.Client(_api.GITEA, api_url, token, validate_certs, timeout), project)
    raise ConductorError(f"backend {kind!r} is unknown: expected git, github, gitlab or gitea")
