# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every metric the collection writes: its name, type, help and the labels it may carry.

One home for the names, so that the writer refuses anything else, and the alert rules, the dashboard
and docs/metrics.md are made from the same list. Prometheus naming: one prefix, base units (seconds),
``_total`` only on counters, ``_info`` for metadata. Labels are few and bounded: the tag and the commit
appear only on ``maestro_release_info``; ``source`` names the procedure that wrote a verification
(so that two writers never write the same series), ``kind`` and ``artifact`` take values from fixed
sets listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "maestro_"

# the procedures that write metrics; each writes its own file (textfile) or group (Pushgateway) an environment.
# deploy and rollback are one writer, the switch, since both set the environment's last time to green
WRITERS = ("watch", "verify", "switch", "drill", "daily", "weekly", "retention", "prune", "security")
# the procedures that verify: the label that keeps their verification series apart
SOURCES = ("watch", "verify", "deploy", "rollback", "drill", "daily")
RESULTS = ("pass", "fail")
PRUNE_STATES = ("kept", "removed")
SECURITY_HOST_STATES = ("green", "red", "not_run")
# GitHub's Dependabot alert severities, worst first
DEPENDABOT_SEVERITIES = ("critical", "high", "medium", "low")
DRIFT_KINDS = ("tag_moved", "tag_deleted", "tag_recreated", "branch", "running", "unknown")
# the watch's checks, as its findings name them
CHECKS = ("live", "served", "verify", "hosts", "availability", "evidence", "rollback_target", "drift", "ci")
# the daily verification's: the watch's, the rollback target's own strict verification and the hosts' pending security updates
DAILY_CHECKS = CHECKS + ("rollback_verify", "security")
ARTIFACTS = ("live_release_store", "live_app_hosts", "rollback_release_store", "rollback_app_hosts",
             "ci_artifacts", "release_assets")


@dataclass(frozen=True)
class Spec:
    name: str
    type: str  # counter or gauge
    help: str
    labels: tuple[str, ...] = ("environment",)
    # label -> the values it may take; a label not listed here takes any valid text
    values: tuple[tuple[str, tuple[str, ...]], ...] = ()


_ENV = ("environment",)
_SOURCE = (("source", SOURCES),)

SPECS = {spec.name: spec for spec in (
    Spec("maestro_release_info", "gauge", "The release the watch proved serving: always 1, the tag and commit as labels.",
         ("environment", "tag", "commit")),
    Spec("maestro_release_live_since_timestamp_seconds", "gauge", "When the live release went live (the ledger's record)."),
    Spec("maestro_watch_window_open", "gauge", "1 while the live release is inside its post-GA watch window, else 0."),
    Spec("maestro_watch_window_end_timestamp_seconds", "gauge", "When the live release's post-GA watch window closes."),
    Spec("maestro_watch_interval_seconds", "gauge", "How often the watch is due now: its close interval inside the window and while red, else daily."),
    Spec("maestro_watch_last_run_timestamp_seconds", "gauge", "When the watch last ran to the end, green or red."),
    Spec("maestro_watch_ok", "gauge", "1 when the watch's last run found everything green, else 0 (unknown is 0)."),
    Spec("maestro_watch_findings", "gauge", "The watch's findings on its last run, by the check that made them (0 for none).",
         ("environment", "check"), (("check", CHECKS),)),
    Spec("maestro_watch_runs_total", "counter", "Watch runs, by result.", ("environment", "result"), (("result", RESULTS),)),
    Spec("maestro_verify_runs_total", "counter", "Verifications, by result and by the procedure that ran them.",
         ("environment", "source", "result"), (("result", RESULTS),) + _SOURCE),
    Spec("maestro_verify_ok", "gauge", "1 when the last verification passed, else 0.", ("environment", "source"), _SOURCE),
    Spec("maestro_verify_duration_seconds", "gauge", "How long the last verification took.", ("environment", "source"), _SOURCE),
    Spec("maestro_verify_last_success_timestamp_seconds", "gauge", "When a verification last passed.", ("environment", "source"), _SOURCE),
    Spec("maestro_evidence_missing_files", "gauge", "Evidence files or records of the live release that are missing or incomplete."),
    Spec("maestro_release_drift", "gauge", "Drift findings by kind; kind unknown counts the checks that could not be made.",
         ("environment", "kind"), (("kind", DRIFT_KINDS),)),
    Spec("maestro_artifact_available", "gauge", "1 when the artifact set is complete and reachable, else 0.",
         ("environment", "artifact"), (("artifact", ARTIFACTS),)),
    Spec("maestro_artifact_expiry_timestamp_seconds", "gauge", "The earliest expiry among the artifact set's hosted files.",
         ("environment", "artifact"), (("artifact", ARTIFACTS),)),
    Spec("maestro_ci_queued_workflow_runs", "gauge", "CI workflow runs queued now, not counting the stuck ones."),
    Spec("maestro_ci_stuck_workflow_runs", "gauge", "CI workflow runs queued for longer than the stuck floor."),
    Spec("maestro_ci_queued_jobs", "gauge", "CI jobs queued now."),
    Spec("maestro_time_to_green_seconds", "gauge", "The last switch's time to green: from its start until the proxy served the new release."),
    Spec("maestro_deploys_total", "counter", "Deploys, by result.", ("environment", "result"), (("result", RESULTS),)),
    Spec("maestro_rollbacks_total", "counter", "Rollbacks, by result.", ("environment", "result"), (("result", RESULTS),)),
    Spec("maestro_restore_drill_time_to_green_seconds", "gauge", "The last restore drill's time to green."),
    Spec("maestro_restore_drill_last_success_timestamp_seconds", "gauge", "When a restore drill last ended green."),
    Spec("maestro_restore_drills_total", "counter", "Restore drills, by result.", ("environment", "result"), (("result", RESULTS),)),
    Spec("maestro_daily_verify_ok", "gauge", "1 when the last daily verification found everything green, else 0 (unknown is 0)."),
    Spec("maestro_daily_verify_last_run_timestamp_seconds", "gauge", "When the daily verification last ran to the end, green or red."),
    Spec("maestro_daily_verify_duration_seconds", "gauge", "How long the last daily verification took, from its first step to its verdict."),
    Spec("maestro_daily_verify_findings", "gauge", "The daily verification's findings on its last run, by the check that made them.",
         ("environment", "check"), (("check", DAILY_CHECKS),)),
    Spec("maestro_daily_verify_runs_total", "counter", "Daily verifications, by result.", ("environment", "result"), (("result", RESULTS),)),
    Spec("maestro_security_updates_pending", "gauge", "Security updates an app host's package manager has pending (security origins only).",
         ("environment", "host")),
    Spec("maestro_security_updates_oldest_pending_seconds", "gauge",
         "How long the longest-waiting pending security update of an app host has waited (0 when none).", ("environment", "host")),
    Spec("maestro_weekly_validation_ok", "gauge", "1 when the last weekly validation found every release in the audit window valid, else 0."),
    Spec("maestro_weekly_validation_last_run_timestamp_seconds", "gauge", "When the weekly validation last ran to the end, green or red."),
    Spec("maestro_weekly_validation_duration_seconds", "gauge", "How long the last weekly validation took, from its first step to its verdict."),
    Spec("maestro_weekly_validation_bytes", "gauge", "The bytes of artifacts the last weekly validation hashed."),
    Spec("maestro_weekly_validation_releases", "gauge", "The releases the last weekly validation checked, by result.",
         ("environment", "result"), (("result", RESULTS),)),
    Spec("maestro_weekly_validation_runs_total", "counter", "Weekly validations, by result.", ("environment", "result"), (("result", RESULTS),)),
    Spec("maestro_retention_ok", "gauge", "1 when the last retention check found everything the audit window needs kept, else 0."),
    Spec("maestro_retention_last_run_timestamp_seconds", "gauge", "When the retention check last ran to the end, green or red."),
    Spec("maestro_retention_window_seconds", "gauge", "The audit window the retention check held the store and the hosted CI to."),
    Spec("maestro_retention_hosted_seconds", "gauge", "How long the hosted CI keeps artifacts and logs (GitHub Actions' setting), when checked."),
    Spec("maestro_retention_releases", "gauge", "The releases the last retention check looked at, by result.",
         ("environment", "result"), (("result", RESULTS),)),
    Spec("maestro_retention_runs_total", "counter", "Retention checks, by result.", ("environment", "result"), (("result", RESULTS),)),
    Spec("maestro_prune_last_run_timestamp_seconds", "gauge", "When a prune of the release store last ran to the end."),
    Spec("maestro_prune_releases", "gauge", "The releases the last prune kept and removed.", ("environment", "state"),
         (("state", PRUNE_STATES),)),
    Spec("maestro_prune_removed_releases_total", "counter", "Releases pruned from the store (their proof archived first)."),
    Spec("maestro_dependabot_alerts_open", "gauge", "The hosted repository's open Dependabot alerts, by severity, as the daily verification read them.",
         ("environment", "severity"), (("severity", DEPENDABOT_SEVERITIES),)),
    Spec("maestro_security_update_ok", "gauge",
         "1 when the last make security-updates proved the live release on every app host after its updates, else 0."),
    Spec("maestro_security_update_last_run_timestamp_seconds", "gauge", "When make security-updates last ran to the end, green or red."),
    Spec("maestro_security_update_duration_seconds", "gauge", "How long the last make security-updates took, from its plan to its verdict."),
    Spec("maestro_security_update_hosts", "gauge", "The app hosts of the last make security-updates, by state (red ones stay out of rotation).",
         ("environment", "state"), (("state", SECURITY_HOST_STATES),)),
    Spec("maestro_security_update_runs_total", "counter", "Runs of make security-updates, by result.", ("environment", "result"),
         (("result", RESULTS),)),
)}
