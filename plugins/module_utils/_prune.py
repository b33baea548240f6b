# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pruning by reference, never by count alone: a release goes only when nothing holds it.

A release is kept when it is live, the rollback target, inside the audit window, named by an incident (open or
archived: its evidence), run by an app host (either colour), or one of the ``keep_newest`` newest releases with a green
verdict; quarantined and failed releases never count toward that number. Everything else may go, each with why.

Going is two steps, each safe to crash in: the release's own proof (manifest, evidence, attestation, signature,
envelope) is copied into the evidence archive with a SHA256SUMS (the runbook: "archive evidence bundles; do not
delete"), then the release directory is renamed aside (one atomic step, after which nothing reads it as a release)
and removed. A re-run finishes what a crash left: an archive that holds the same bytes is kept, one that differs is
never overwritten, and a directory renamed aside is removed.

On an app host the same plan removes the cached copies and the images of releases that go, except what the host runs:
a colour's record names its tag, and no image a container still uses (running or stopped) is removed.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import asdict, dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger
from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write
from ansible_collections.maestro.conductor.plugins.module_utils._hashing import sha256_file
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_tag_name

ASIDE_PREFIX = ".pruning-"
SUMS = "SHA256SUMS"


@dataclass
class Decision:
    tag: str
    keep: bool = False
    reasons: list[str] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def rollback_target(tags_newest_first: list[str], current: _ledger.LedgerState) -> str:
    """The release a rollback would choose now ('' when nothing is live, or no older release is healthy); an error when it
    cannot be known (the live tag gone from git): unknown holds everything, it never frees the target."""
    if not current.live:
        return ""
    try:
        return _ledger.prior_healthy(tags_newest_first, current)
    except ConductorError:
        if current.live not in tags_newest_first:
            raise
        return ""  # no older healthy release: there is no rollback target to keep


def incident_tags(records: list[dict]) -> dict[str, list[str]]:
    """Each tag an incident names (its own tag, and the releases in its data: from, to, live), with the incidents."""
    held: dict[str, list[str]] = {}
    for record in records:
        if not isinstance(record, dict) or record.get("event") not in _ledger.INCIDENT_EVENTS:
            continue
        data = record.get("data") if isinstance(record.get("data"), dict) else {}
        named = [record.get("tag")] + [part.get("tag") for part in data.values() if isinstance(part, dict)]
        for tag in named:
            if isinstance(tag, str) and tag and record.get("incident") not in held.setdefault(tag, []):
                held[tag].append(str(record.get("incident")))
    return held


def plan(tags_newest_first: list[str], *, inside_window: list[str], window_days: int, live: str = "", target: str = "",
         incidents: dict[str, list[str]] | None = None, in_use: dict[str, list[str]] | None = None,
         healthy: list[str] = (), quarantined: list[str] = (), keep_newest: int = 0,
         live_inside: dict[str, str] | None = None) -> list[Decision]:
    """Keep or go for every tag, newest first, each with every reason that holds it (or why nothing does)."""
    if isinstance(keep_newest, bool) or not isinstance(keep_newest, int) or keep_newest < 0:
        raise ConductorError(f"keep_newest {keep_newest!r} is invalid: expected a whole number of releases, 0 or more")
    incidents, in_use, live_inside = incidents or {}, in_use or {}, live_inside or {}
    counted = [tag for tag in tags_newest_first if tag in healthy and tag not in quarantined][:keep_newest]
    decisions = []
    for tag in tags_newest_first:
        reasons = []
        if tag == live:
            reasons.append("live: the ledger's last deploy or rollback")
        if tag == target:
            reasons.append("the rollback target (the prior healthy release)")
        if tag in inside_window:
            reasons.append(f"inside the audit window ({window_days} days)")
        if tag in live_inside and tag != live:
            reasons.append(f"went live inside the audit window ({live_inside[tag] or 'time unknown'}): its proof must stay")
        if tag in incidents:
            reasons.append(f"held by incident {', '.join(incidents[tag])}")
        if tag in in_use:
            reasons.append(f"run by {', '.join(in_use[tag])}")
        if tag in counted:
            reasons.append(f"one of the {keep_newest} newest healthy releases")
        if reasons:
            decisions.append(Decision(tag, True, reasons))
            continue
        why = ("outside the audit window, not live in it, not the rollback target, held by no incident, run by no host")
        if tag in quarantined:
            why += "; quarantined (not counted among the newest healthy)"
        elif tag not in healthy:
            why += "; no green verdict (not counted among the newest healthy)"
        decisions.append(Decision(tag, False, [why]))
    return decisions


def refuse_kept(decisions: list[Decision], asked: list[str]) -> None:
    """ConductorError when a tag the operator named for pruning is held, naming what holds it."""
    by_tag = {d.tag: d for d in decisions}
    for tag in asked:
        decision = by_tag.get(validate_tag_name(tag))
        if decision is None:
            raise ConductorError(f"{tag} is not a release on the store: nothing to prune")
        if decision.keep:
            raise ConductorError(f"refusing to prune {tag}: it is kept ({'; '.join(decision.reasons)})")


def required_proof(release_dir: str, tag: str) -> list[str]:
    """The proof files the release must hold to be archived whole: manifest, evidence, attestation and signature, and the
    envelope of a manifest format that has one (a manifest that cannot be read asks for all five)."""
    names = list(fmt.release_file_names(tag))
    try:
        manifest = fmt.load_manifest(os.path.join(release_dir, fmt.manifest_name(tag)))[0]
    except (ConductorError, OSError):
        return names
    if manifest.get("format_version", 1) < fmt.ENVELOPE_FORMAT:
        names.remove(fmt.envelope_name(tag))
    return names


def proof_problems(release_dir: str, tag: str) -> list[str]:
    """Why the release's proof cannot be archived whole ([] when it can): a file missing, or not a regular file inside it."""
    if os.path.islink(release_dir):
        return [f"{release_dir} is a symbolic link: a prune removes only release directories themselves"]
    real = os.path.realpath(release_dir)
    return [problem for name in required_proof(real, tag) if (problem := fmt.file_problem(real, name))]


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sums(directory: str, names: list[str]) -> bytes:
    return "".join(f"{sha256_file(os.path.join(directory, name))}  {name}\n" for name in names).encode()


def archive_proof(release_dir: str, archive_root: str, tag: str, check_mode: bool = False) -> tuple[str, bool]:
    """Copies the release's whole proof into ``archive_root/TAG`` with a SHA256SUMS, every file and directory fsynced and
    the copy read back against the sums; (the archive, whether it was written). An archive already there with the same
    bytes is kept; one that differs is never overwritten."""
    validate_tag_name(tag)
    problems = proof_problems(release_dir, tag)
    if problems:
        raise ConductorError(f"{tag}: its proof cannot be archived whole ({'; '.join(problems)}): refusing to remove a release "
                             "whose evidence would be lost; restore the files, or keep the release")
    release_dir = os.path.realpath(release_dir)
    names = required_proof(release_dir, tag)
    sums = _sums(release_dir, names)
    target = os.path.join(archive_root, tag)
    if os.path.lexists(target):
        held = b""
        if os.path.isdir(target) and not os.path.islink(target):
            try:
                with open(os.path.join(target, SUMS), "rb") as handle:
                    held = handle.read()
            except OSError:
                pass
        if held != sums or _sums(target, names) != sums:
            raise ConductorError(f"the evidence archive {target} holds other files than {release_dir}: refusing to overwrite "
                                 "archived evidence; compare them and move one aside")
        return target, False
    if check_mode:
        return target, True
    os.makedirs(archive_root, mode=0o755, exist_ok=True)
    staging = os.path.join(archive_root, f".{tag}.{secrets.token_hex(4)}")
    os.mkdir(staging, 0o755)
    try:
        for name in names:
            with open(os.path.join(release_dir, name), "rb") as handle:
                atomic_write(os.path.join(staging, name), handle.read(), mode=0o644)  # proof files are small documents
        atomic_write(os.path.join(staging, SUMS), sums, mode=0o644)
        if _sums(staging, names) != sums:
            raise ConductorError(f"the copy of {tag}'s proof in {staging} does not read back as written")
        os.rename(staging, target)  # the archive appears whole or not at all
        _fsync_dir(archive_root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, True


def _remove(path: str) -> None:
    """A directory and what it holds; a symbolic link only itself (never what it points at)."""
    if os.path.islink(path):
        os.unlink(path)
    else:
        shutil.rmtree(path)


def remove_aside(parent: str, name: str) -> None:
    """Renames ``parent/name`` aside (one atomic step) and removes it."""
    aside = os.path.join(parent, f"{ASIDE_PREFIX}{name}.{secrets.token_hex(4)}")
    os.rename(os.path.join(parent, name), aside)
    _fsync_dir(parent)
    _remove(aside)


def leftovers(parent: str) -> list[str]:
    """Directories a crashed prune renamed aside and did not remove."""
    try:
        return sorted(name for name in os.listdir(parent) if name.startswith(ASIDE_PREFIX))
    except FileNotFoundError:
        return []


def remove_leftovers(parent: str) -> None:
    for name in leftovers(parent):
        _remove(os.path.join(parent, name))


def image_ids(release_dir: str, tag: str) -> list[str]:
    """The image ids the release's manifest names inside its image archives, or [] when it names none or cannot be read."""
    try:
        manifest = fmt.load_manifest(os.path.join(release_dir, fmt.manifest_name(tag)))[0]
    except (ConductorError, OSError):
        return []
    return sorted({str(image["id"]) for entry in manifest.get("artifacts") or [] for image in entry.get("images") or []})


def metrics(kept: int, removed: int, now: float) -> dict:
    """The prune's gauges and increments (a check-mode run writes none)."""
    return {"gauges": [{"name": "maestro_prune_last_run_timestamp_seconds", "labels": {}, "value": round(now, 3)},
                       {"name": "maestro_prune_releases", "labels": {"state": "kept"}, "value": kept},
                       {"name": "maestro_prune_releases", "labels": {"state": "removed"}, "value": removed}],
            "increments": [{"name": "maestro_prune_removed_releases_total", "labels": {}, "by": removed}] if removed else []}


def summary_lines(kept: list[dict], removed: list[dict], would: list[dict], check_mode: bool) -> list[str]:
    """Each release kept with why, each one removed (or that would be) with why nothing holds it."""
    verb = "would remove" if check_mode or would else "removed"
    lines = [f"kept {len(kept)}, {verb} {len(removed or would)}"]
    lines += [f"keep {d['tag']}: {'; '.join(d['reasons'])}" for d in kept]
    lines += [f"{'would remove' if check_mode or would else 'removed'} {d['tag']}: {'; '.join(d['reasons'])}" for d in removed or would]
    return lines
