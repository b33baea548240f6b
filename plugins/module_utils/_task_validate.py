# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_validate: the weekly deep validation of every release inside the audit window."""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

from ansible_collections.maestro.conductor.plugins.module_utils import _api, _ci_github, _weekly
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_tag_name
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

SPEC = {
    "argument_spec": {
        "releases_root": {"type": "path", "required": True},
        "repo": {"type": "path", "required": True},
        "tags": {"type": "list", "elements": "str"},
        "pattern": {"type": "str", "default": "v*"},
        "window_days": {"type": "int", "required": True},
        "keep": {"type": "list", "elements": "str", "default": []},
        "policy": {"type": "dict", "default": {}},
        "allowed_signers": {"type": "path"},
        "allow_unsigned": {"type": "bool", "default": False},
        "summary_dir": {"type": "path"},
        "workers": {"type": "int", "default": 0},
        "ci_project": {"type": "str", "default": ""},
        "ci_api_url": {"type": "str", "default": _ci_github.DEFAULT_API_URL},
        "ci_token": {"type": "str", "default": "", "no_log": True},
        "ci_web_host": {"type": "str", "default": ""},
        "expected_commits": {"type": "dict", "default": {}},
        "validate_certs": {"type": "bool", "default": True},
    },
}


def _candidates(params: dict) -> tuple[list[str], dict[str, str]]:
    """The releases to consider, and each tag's date in git: the tags given, or the release store's (see release_candidates)."""
    if params["tags"] is not None:
        return [validate_tag_name(tag) for tag in params["tags"]], {}
    return _weekly.release_candidates(params["releases_root"], params["repo"], params["pattern"])


def _write_summaries(params: dict, results: list[_weekly.ReleaseResult], check_mode: bool) -> list[str]:
    """Each release's summary page, rewritten (atomically) only when it changed; the paths that changed."""
    directory = params["summary_dir"]
    written = []
    for result in results:
        path = os.path.join(directory, f"{result.tag}.md")
        content = _weekly.release_summary(result).encode()
        try:
            with open(path, "rb") as handle:
                if handle.read() == content:
                    continue
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ConductorError(f"summary {path} could not be read: {exc.strerror or exc}") from exc
        if not check_mode:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            atomic_write(path, content, mode=0o644)
        written.append(path)
    return written


def run(params: dict, check_mode: bool, _diff: bool) -> Outcome:
    keep = [validate_tag_name(tag) for tag in params["keep"] if tag]
    policy = _weekly.policy_from(params["policy"])
    candidates, dates = _candidates(params)
    inside, outside = _weekly.in_window(params["releases_root"], candidates, params["window_days"], time.time(), tuple(keep), dates)
    # a release the ledger needs (live, the rollback target) is validated even when the store has lost it: that is red
    inside += [tag for tag in keep if tag not in inside]
    expected = {validate_tag_name(tag): str(commit) for tag, commit in params["expected_commits"].items() if commit}
    runs = None
    if params["ci_project"]:
        project = _api.owner_repo(params["ci_project"], "GitHub")  # a typo is the run's error, not every release's finding
        api = _ci_github.client(params["ci_api_url"], params["ci_token"], params["validate_certs"])
        # where the evidence's run addresses point: github.com for GitHub's API, the host itself for GitHub Enterprise
        host = params["ci_web_host"] or ("github.com" if urlsplit(params["ci_api_url"]).netloc == "api.github.com"
                                         else urlsplit(params["ci_api_url"]).netloc)
        runs = _weekly.CiRuns(project, lambda run_id: _ci_github.read_run(api, project, run_id), host)
    started = time.monotonic()
    results = _weekly.validate(params["releases_root"], inside, params["repo"], policy, params["allowed_signers"],
                               params["allow_unsigned"], max(params["workers"], 0), runs, expected)
    totals = _weekly.totals(results, time.monotonic() - started)
    written = _write_summaries(params, results, check_mode) if params["summary_dir"] else []
    return Outcome({"changed": bool(written), "ok": bool(results) and all(r.ok for r in results),
                    "releases": [r.as_dict() for r in results], "red": [r.tag for r in results if not r.ok],
                    "invalid": [r.tag for r in results if r.invalid],
                    "outside_window": outside, "totals": totals, "summaries": written})


ENTRY = Entry(SPEC, run)
