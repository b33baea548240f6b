# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_prune: pruning by reference, on the release store or on an app host (see _prune)."""

from __future__ import annotations

import os
import time

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger, _prune, _stage, _weekly
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._docker import Docker
from ansible_collections.maestro.conductor.plugins.module_utils._names import is_tag_name, validate_tag_name
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

_COLOURS = ("blue", "green")

SPEC = {
    "argument_spec": {
        "scope": {"type": "str", "choices": ["store", "host"], "default": "store"},
        "state": {"type": "str", "choices": ["pruned", "inspected"], "default": "pruned"},
        "environment": {"type": "str", "required": True},
        # the store
        "releases_root": {"type": "path"},
        "repo": {"type": "path"},
        "pattern": {"type": "str", "default": "v*"},
        "archive_root": {"type": "path"},
        "window_days": {"type": "int"},
        "ledger_records": {"type": "list", "elements": "dict", "default": []},
        "in_use": {"type": "raw", "default": {}},
        "keep_newest": {"type": "int", "default": 3},
        "tags": {"type": "list", "elements": "str"},
        # an app host
        "cache_root": {"type": "path"},
        "keep": {"type": "list", "elements": "str", "default": []},
        "remove": {"type": "dict", "default": {}},
        "keep_image_ids": {"type": "list", "elements": "str", "default": []},
    },
    "required_if": [("scope", "store", ("releases_root", "repo", "archive_root", "window_days")), ("scope", "host", ("cache_root",))],
}


def _in_use(value) -> dict[str, list[str]]:
    """Tags the app hosts run, each with the hosts: given so, or as the registered results of state=inspected on each host
    (a loop over the hosts: each result's ``item`` names its host)."""
    if isinstance(value, list):
        by_tag: dict[str, list[str]] = {}
        for found in value:
            if not isinstance(found, dict) or not isinstance(found.get("item"), str) or not isinstance(found.get("in_use"), list):
                raise ConductorError("in_use is invalid: expected each host's result of state=inspected, with its item (the host) "
                                     "and in_use (its tags); a host that could not be asked holds everything, so prune nothing")
            for tag in found["in_use"]:
                by_tag.setdefault(tag, []).append(found["item"])
        value = by_tag
    if not isinstance(value, dict):
        raise ConductorError("in_use is invalid: expected tags, each with the hosts that run it")
    result = {}
    for tag, hosts in value.items():
        if not isinstance(hosts, list) or not all(isinstance(host, str) for host in hosts):
            raise ConductorError(f"in_use[{tag!r}] is invalid: expected the list of hosts that run it")
        result[validate_tag_name(tag)] = hosts
    return result


def _inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root + os.sep)


def _store(params: dict, check_mode: bool, diff: bool) -> Outcome:
    environment = _ledger.validate_environment(params["environment"])
    root, archive = params["releases_root"], params["archive_root"]
    window = params["window_days"]
    if isinstance(window, bool) or window <= 0:
        raise ConductorError(f"window_days {window!r} is invalid: expected a whole number of days above 0")
    if _inside(archive, root) or _inside(root, archive):
        raise ConductorError(f"archive_root {archive} and the release store {root} hold one another: the archive must be apart "
                             "from the store, to outlive its pruning")
    tags, dates = _weekly.release_candidates(root, params["repo"], params["pattern"])
    now = time.time()
    inside, _outside = _weekly.in_window(root, tags, window, now, (), dates)
    records = [r for r in params["ledger_records"] if isinstance(r, dict) and r.get("environment") == environment]
    ledger = _ledger.state(records, environment)
    if tags and not ledger.live:
        # a ledger that could not be read, or another environment's name, would otherwise let every release go
        raise ConductorError(f"the ledger records no deploy or rollback of {environment}: refusing to prune {len(tags)} release(s) "
                             "on the word of an empty ledger (check maestro_ledger_path and the environment's name)")
    if ledger.live and ledger.live not in tags:
        raise ConductorError(f"the ledger says {ledger.live} is live but the release store {root} has no {ledger.live}: "
                             "refusing to prune a store that lost what serves; restore it first")
    git_tags = [tag for tag in tags if tag in dates]  # newest first, as git lists them
    decisions = _prune.plan(tags, inside_window=inside, window_days=window, live=ledger.live,
                            target=_prune.rollback_target(git_tags, ledger), incidents=_prune.incident_tags(records),
                            in_use=_in_use(params["in_use"]), healthy=ledger.healthy, quarantined=ledger.quarantined,
                            keep_newest=params["keep_newest"], live_inside=_ledger.went_live(records, now - window * 86400))
    asked = [validate_tag_name(tag) for tag in params["tags"]] if params["tags"] is not None else None
    if asked is not None:
        _prune.refuse_kept(decisions, asked)
    for decision in decisions:
        decision.image_ids = _prune.image_ids(os.path.join(root, decision.tag), decision.tag)
    going = [d for d in decisions if not d.keep and (asked is None or d.tag in asked)]
    # every release that goes must leave its whole proof: checked for all before the first is removed
    problems = [f"{d.tag}: {'; '.join(found)}" for d in going if (found := _prune.proof_problems(os.path.join(root, d.tag), d.tag))]
    if problems and params["state"] == "pruned":
        raise ConductorError("refusing to prune releases whose proof cannot be archived whole: " + " | ".join(problems) +
                             "; restore the files, or name the others with tags")
    kept = [d for d in decisions if d.keep or d not in going]
    host_plan = _host_plan(archive, kept, going)  # before anything goes: the image ids are read from the releases themselves
    removed, finished = [], _prune.leftovers(root)
    if params["state"] == "pruned":
        for decision in going:
            where, _written = _prune.archive_proof(os.path.join(root, decision.tag), archive, decision.tag, check_mode)
            if not check_mode:
                _prune.remove_aside(root, decision.tag)
            removed.append({**decision.as_dict(), "archive": where})
        if not check_mode:
            _prune.remove_leftovers(root)
    would = [d.as_dict() for d in going] if params["state"] == "inspected" else []
    result = {"changed": bool(removed or (finished and params["state"] == "pruned")),
              "kept": [d.as_dict() for d in kept], "removed": removed, "would_remove": would, "proof_problems": problems,
              "leftovers": finished, "host_plan": host_plan}
    result.update(_prune.metrics(len(kept), len(removed), now))
    result["summary"] = _prune.summary_lines(result["kept"], removed, would, check_mode)
    if diff:
        result["diff"] = {"before": "\n".join(d.tag for d in decisions) + "\n", "after": "\n".join(d.tag for d in kept) + "\n",
                          "before_header": f"{root} (releases)", "after_header": f"{root} (releases)"}
    return Outcome(result)


def _host_plan(archive: str, kept: list[_prune.Decision], going: list[_prune.Decision]) -> dict:
    """What the app hosts keep (every release the store keeps, and with tags every release not named), and the image ids of
    what goes: this run's, and releases archived by earlier runs (from their archived manifests)."""
    keep = [d.tag for d in kept]
    remove = {d.tag: list(d.image_ids) for d in going}
    try:
        archived = sorted(name for name in os.listdir(archive) if is_tag_name(name) and name not in keep and name not in remove)
    except FileNotFoundError:
        archived = []
    for tag in archived:
        remove[tag] = _prune.image_ids(os.path.join(archive, tag), tag)
    return {"keep": keep, "remove": remove, "keep_image_ids": sorted({i for d in kept for i in d.image_ids})}


def _colours_run(docker: Docker, cache_root: str, environment: str) -> dict[str, list[str]]:
    """The tag each colour runs, each with the colour, as the switch recorded it. A colour whose project has containers
    (the engine's word) but no record of what started them holds everything: what it runs is unknown."""
    running: dict[str, list[str]] = {}
    for colour in _COLOURS:
        try:
            tag = _stage.recorded_tag(cache_root, environment, colour)
        except ConductorError as exc:
            raise ConductorError(f"{exc}, so nothing is pruned on this host") from exc
        if tag is None and docker.containers(f"{environment}-{colour}".lower()):
            raise ConductorError(f"the {colour} colour has containers but no record of the release they were started from: what it "
                                 "runs is unknown, so nothing is pruned on this host")
        if tag:
            running.setdefault(tag, []).append(f"the {colour} colour")
    return running


def _host(params: dict, check_mode: bool, _diff: bool) -> Outcome:
    environment = _ledger.validate_environment(params["environment"])
    directory = os.path.join(params["cache_root"], environment)
    docker = Docker()
    running = _colours_run(docker, params["cache_root"], environment)
    ids = docker.run(["container", "ls", "--all", "--quiet", "--no-trunc"]).stdout.decode().split()
    used = {container.image_id for container in docker.inspect(ids)}
    if params["state"] == "inspected":
        return Outcome({"changed": False, "in_use": sorted(running), "image_ids_in_use": sorted(used)})
    keep = {validate_tag_name(tag) for tag in params["keep"]} | set(running)
    try:
        # only what the switch caches: a directory a tag names (anything else there is not this tool's to remove)
        copies = sorted(name for name in os.listdir(directory) if not name.startswith(".") and is_tag_name(name)
                        and os.path.isdir(os.path.join(directory, name)))
    except FileNotFoundError:
        copies = []
    going = [tag for tag in copies if tag not in keep]
    held_ids = used | set(params["keep_image_ids"])
    present, _names = docker.images()
    images = sorted({image for tag, image_ids in params["remove"].items() if validate_tag_name(tag) not in keep
                     for image in image_ids if image in present and image not in held_ids})
    if not check_mode:
        for tag in going:
            _prune.remove_aside(directory, tag)
        _prune.remove_leftovers(directory)
        for image in images:
            # by id, forced past its names: no container uses it (checked above), and it is a pruned release's own image
            docker.run(["image", "rm", "--force", image])
    kept = [tag for tag in copies if tag in keep]
    verb = "would remove" if check_mode else "removed"
    summary = (f"{verb} copies {', '.join(going) or 'none'} and {len(images)} image(s); kept {', '.join(kept) or 'none'}"
               f"{'; runs ' + ', '.join(f'{tag} ({h[0]})' for tag, h in running.items()) if running else ''}")
    return Outcome({"changed": bool(going or images), "removed_copies": going, "removed_images": images, "kept_copies": kept,
                    "in_use": sorted(running), "image_ids_in_use": sorted(used), "summary": summary})


def run(params: dict, check_mode: bool, diff: bool) -> Outcome:
    return (_store if params["scope"] == "store" else _host)(params, check_mode, diff)


ENTRY = Entry(SPEC, run)
