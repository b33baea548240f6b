#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ci_watch
short_description: Read the CI queue depth and a release's hosted files from GitHub, for the post-GA watch
version_added: 0.1.0
description:
  - "Queue depth of GitHub Actions: the workflow runs queued now (C(total_count) of the runs listed with
    C(status=queued)), the runs queued for longer than O(stuck_after) counted apart as stuck and left out of the queued
    figure, and the jobs queued in every queued and in-progress run (a job queued for longer than O(stuck_after) is
    stuck too). A run's time in the queue counts from its latest attempt (C(run_started_at)), so a re-run is not stuck
    for the age of its first attempt."
  - "With O(run_id), the run's artifacts: how many, how many expired, how many expire within O(expiry_warning), the
    earliest expiry, and whether they are available (at least one, every name in O(expected_artifacts), none expired,
    none expiring soon). A run that no longer exists is reported unavailable, not an error."
  - "With O(tag), the assets of the published release of that tag, by name: available when there is at least one and
    every name in O(expected_assets) is uploaded (an asset whose upload has not finished is not there). A tag without a
    published release is reported unavailable, not an error."
  - "Every list is read page by page (100 a page) to a bound: ten pages of runs for each status (GitHub lists at most
    1,000 runs for a status filter), five pages of jobs for each run, and the jobs of all runs only while O(max_requests)
    lasts and the token keeps 50 requests of its hourly limit for its other users. When a bound cut anything short,
    RV(complete) is false and RV(incomplete) says what: an unknown figure is never reported as zero."
  - "Errors name the repository, the endpoint and what to do: a rejected token (401), a token without the right (403),
    a repository that does not exist or that the token cannot see (404), and a rate limit (403 or 429 with
    C(x-ratelimit-remaining) 0, a C(retry-after), or a secondary limit), with when GitHub takes requests again."
  - "Reads only, on the host it runs on (normally the controller: C(delegate_to: localhost)). The token is sent in a
    header only, only to the origin of O(api_url), and never shown; redirects are never followed."
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  check_mode:
    support: full
    details:
      - It only reads, so it reads in check mode too.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  project:
    description: The repository, as C(owner/name).
    type: str
    required: true
  api_url:
    description:
      - The API root. C(https://HOST/api/v3) for GitHub Enterprise Server.
      - C(https://) only, since the token travels with every request; C(http://) is taken only for this machine
        (C(localhost), C(127.0.0.0/8), C(::1)), as tests use. No credentials, query or fragment.
    type: str
    default: https://api.github.com
  token:
    description:
      - A token that may read the repository's Actions and contents (a fine-grained token with the repository
        permissions Actions and Contents, read; a classic token with the C(repo) scope for a private repository).
        Never logged or returned.
      - If not given, the C(MAESTRO_CI_TOKEN) environment variable of the host the module runs on.
    type: str
  stuck_after:
    description: Seconds in the queue after which a run or a job counts as stuck, not queued.
    type: int
    default: 1800
  run_id:
    description: The workflow run whose artifacts to check (the release's evidence names it).
    type: int
  expected_artifacts:
    description: With O(run_id), artifact names that must all be there and not expired.
    type: list
    elements: str
  expiry_warning:
    description: With O(run_id), seconds ahead within which an artifact's expiry makes the artifacts not available.
    type: int
    default: 604800
  tag:
    description: The release tag whose published release's assets to check.
    type: str
  expected_assets:
    description: With O(tag), asset names that must all be uploaded.
    type: list
    elements: str
  dependabot:
    description:
      - Also read the repository's open Dependabot alerts (the token then needs the repository permission Dependabot alerts,
        read, or the C(security_events) scope). Alerts that cannot be read are returned as RV(dependabot.error), never fail
        the task.
    type: bool
    default: false
  max_requests:
    description:
      - The most API requests one run makes for the queued jobs. The run lists, the artifacts and the release are always
        read; the jobs of the queued and in-progress runs (one request or more a run) only while this lasts.
    type: int
    default: 200
  validate_certs:
    description: Whether to check the server's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each API answer.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Read the CI queue (the token from MAESTRO_CI_TOKEN)
  maestro.conductor.ci_watch:
    project: acme/app
  delegate_to: localhost
  register: ci

- name: Read the queue, the release's CI artifacts and its assets
  maestro.conductor.ci_watch:
    project: acme/app
    token: "{{ ci_read_token }}"
    stuck_after: 3600
    run_id: 7001234567
    expected_artifacts: [sbom, provenance]
    tag: v1.4.0
    expected_assets: [app-v1.4.0.tar.gz, SHA256SUMS]
  delegate_to: localhost
  register: ci

- name: Say what could not be read
  ansible.builtin.debug:
    msg: "{{ ci.incomplete }}"
  when: not ci.complete
"""

RETURN = r"""
queued_workflow_runs:
  description: Workflow runs queued now, the stuck ones left out.
  returned: success
  type: int
  sample: 12
stuck_workflow_runs:
  description: Workflow runs queued for longer than O(stuck_after), among those listed.
  returned: success
  type: int
  sample: 1
in_progress_workflow_runs:
  description: Workflow runs in progress now.
  returned: success
  type: int
  sample: 4
queued_jobs:
  description: Jobs queued now in the queued and in-progress runs whose jobs were read, the stuck ones left out.
  returned: success
  type: int
  sample: 17
stuck_jobs:
  description: Jobs queued for longer than O(stuck_after), in the runs whose jobs were read.
  returned: success
  type: int
  sample: 0
complete:
  description: Whether every list was read to its end; when false, the figures above are bounds, not counts.
  returned: success
  type: bool
incomplete:
  description: What a bound cut short, one line each.
  returned: success
  type: list
  elements: str
artifacts:
  description: With O(run_id), the run's artifacts; null without it.
  returned: success
  type: dict
  contains:
    run_id:
      description: The run.
      type: int
    found:
      description: Whether the run exists.
      type: bool
    count:
      description: Artifacts of the run, expired ones included.
      type: int
    names:
      description: Their names.
      type: list
      elements: str
    expired:
      description: Artifacts expired.
      type: int
    expiring:
      description: Artifacts not expired that expire within O(expiry_warning).
      type: int
    earliest_expiry:
      description: The earliest expiry among the artifacts not expired, ISO 8601 in UTC; null when there is none.
      type: str
      sample: "2026-12-04T10:00:00Z"
    earliest_expiry_epoch:
      description: The same in epoch seconds.
      type: int
      sample: 1796378400
    missing:
      description: Names in O(expected_artifacts) without an artifact that has not expired.
      type: list
      elements: str
    available:
      description: At least one artifact, none missing, expired or expiring, and the list read to its end.
      type: bool
    complete:
      description: Whether the list was read to its end.
      type: bool
    reasons:
      description: Why they are not available, one line each; empty when they are.
      type: list
      elements: str
release_assets:
  description: With O(tag), the assets of its published release; null without it.
  returned: success
  type: dict
  contains:
    tag:
      description: The tag.
      type: str
    found:
      description: Whether the tag has a published release.
      type: bool
    count:
      description: Uploaded assets.
      type: int
    names:
      description: Their names.
      type: list
      elements: str
    missing:
      description: Names in O(expected_assets) that are not uploaded.
      type: list
      elements: str
    available:
      description: At least one uploaded asset and none missing.
      type: bool
    reasons:
      description: Why they are not available, or an upload that has not finished, one line each.
      type: list
      elements: str
dependabot:
  description: With O(dependabot), the repository's open Dependabot alerts.
  returned: when O(dependabot) is true
  type: dict
  contains:
    open:
      description: Open alerts.
      type: int
    severities:
      description: Open alerts by severity (C(critical), C(high), C(medium), C(low)); a severity not named counts as critical.
      type: dict
    alerts:
      description: Each open alert, worst first - C(number), C(severity), C(package), C(ecosystem), C(advisory) (its GHSA id), C(summary), C(created_at).
      type: list
      elements: dict
    complete:
      description: Whether every page was read.
      type: bool
    error:
      description: Why the alerts could not be read (then nothing else is returned in it).
      type: str
requests:
  description: API requests made.
  returned: success
  type: int
rate_limit_remaining:
  description: Requests the token had left in its hourly limit after the last answer (C(x-ratelimit-remaining)), if the server said.
  returned: success
  type: int
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.maestro.conductor.plugins.module_utils import _ci_github
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "api_url": {"type": "str", "default": _ci_github.DEFAULT_API_URL},
            "token": {"type": "str", "no_log": True, "fallback": (env_fallback, [_ci_github.TOKEN_ENV])},
            "stuck_after": {"type": "int", "default": _ci_github.DEFAULT_STUCK_AFTER},
            "run_id": {"type": "int"},
            "expected_artifacts": {"type": "list", "elements": "str"},
            "expiry_warning": {"type": "int", "default": _ci_github.DEFAULT_EXPIRY_WARNING},
            "tag": {"type": "str"},
            "expected_assets": {"type": "list", "elements": "str"},
            "max_requests": {"type": "int", "default": _ci_github.DEFAULT_MAX_REQUESTS},
            "dependabot": {"type": "bool", "default": False},
            "validate_certs": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 30},
        },
        required_by={"expected_artifacts": "run_id", "expected_assets": "tag"},
        supports_check_mode=True,
    )
    params = module.params
    try:
        api = _ci_github.client(params["api_url"], params["token"] or "", params["validate_certs"], params["timeout"])
        result = _ci_github.watch(api, params["project"], stuck_after=params["stuck_after"], run_id=params["run_id"], tag=params["tag"],
                                  expected_assets=params["expected_assets"] or [], expected_artifacts=params["expected_artifacts"] or [],
                                  expiry_warning=params["expiry_warning"], max_requests=params["max_requests"],
                                  dependabot=params["dependabot"])
    except ConductorError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
