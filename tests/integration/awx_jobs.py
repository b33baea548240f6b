"""Job templates and workflows of awx/controller/ launched as AWX launches them, without AWX (which cannot run here).

A job: a private data directory of its own, the project (this checkout, the job's working directory, so its ansible.cfg
applies as it does in AWX), the inventory copied into it, extra variables as AWX composes them (the template's, the
survey's default answers, the answers given, AWX's own awx_* variables), the template's tags, the credentials' environment
variables, no prompts; run by ansible-runner, as AWX's receptor worker does. Its artifacts are what set_stats gathered,
read from the runner's last job event (playbook_on_stats), as AWX stores them on the job.

A workflow: its nodes run one after the other by AWX's rules (a node without a parent first; success, failure and always
links; an approval node approved unless told otherwise; the workflow fails when a failed node has no failure or always
link). Each node's job gets, from lowest precedence to highest: its template's extra variables and survey defaults, the
node's extra_data, the artifacts of every ancestor on the path that led to it, the workflow's own variables (its survey's
answers)."""

from __future__ import annotations

import datetime
import itertools
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import ansible_runner
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTROLLER = ROOT / "awx" / "controller"


def load(kind: str) -> dict[str, dict]:
    """The objects of awx/controller/<kind>.yml by name (kind: templates, workflows, ...)."""
    data = yaml.safe_load((CONTROLLER / f"{kind}.yml").read_text())
    return {item["name"]: item for item in data[f"controller_{kind}"]}


class LaunchRefused(Exception):
    """AWX would refuse the launch (a required survey question unanswered, an answer not among the choices)."""


def questions(template: dict) -> list[dict]:
    return (template.get("survey_spec") or {}).get("spec", []) if template.get("survey_enabled") else []


def _check_answer(template: dict, question: dict, value: object) -> None:
    """AWX's validation of one answer (awx/main/models/mixins.py's survey checks): refused as AWX refuses it."""
    name, kind = question["variable"], question["type"]
    where = f"{template['name']}: {name!r}"
    if kind == "multiplechoice" and str(value) not in question["choices"].split("\n"):
        raise LaunchRefused(f"{where}: {value!r} is not a choice")
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            raise LaunchRefused(f"{where}: {value!r} is not text")
        if not question.get("min", 0) <= len(value) <= question.get("max", 1024):
            raise LaunchRefused(f"{where}: {len(value)} characters, not between {question.get('min', 0)} and {question.get('max', 1024)}")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise LaunchRefused(f"{where}: {value!r} is not an integer")
        if not question.get("min", value) <= value <= question.get("max", value):
            raise LaunchRefused(f"{where}: {value} is not between {question.get('min')} and {question.get('max')}")


def survey_vars(template: dict, given: dict, *, in_workflow: bool = False) -> dict:
    """The survey's default answers (an empty default too, as AWX applies it), then the given ones, each checked as AWX
    checks it. A required question nobody answered refuses a launch; in a workflow, AWX starts the node's job anyway
    and its playbook's own checks decide."""
    answers = {}
    for question in questions(template):
        name = question["variable"]
        if name in given:
            value = given[name]
        elif "default" in question:
            value = question["default"]
            if question["type"] == "integer" and isinstance(value, str) and value.isdigit():
                value = int(value)
            try:
                _check_answer(template, question, value)
            except LaunchRefused:
                continue  # AWX applies a default only when it is a valid answer
        elif question.get("required") and not in_workflow:
            raise LaunchRefused(f"{template['name']}: survey question {name!r} is required and has no answer")
        else:
            continue
        _check_answer(template, question, value)
        answers[name] = value
    return answers


def accepted_extra_data(template: dict, extra_data: dict) -> dict:
    """What AWX keeps of a workflow node's extra_data: its template's survey answers, or anything when the template asks
    for variables on launch."""
    if template.get("ask_variables_on_launch"):
        return dict(extra_data)
    asked = {question["variable"] for question in questions(template)}
    return {name: value for name, value in extra_data.items() if name in asked}


@dataclass
class Job:
    id: int
    template: str
    status: str
    rc: int
    artifacts: dict
    stdout: str
    seconds: float
    playbook_seconds: float = 0.0
    extra_vars: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Everything it printed, white space folded (the YAML callback wraps long messages)."""
        return " ".join(self.stdout.split())


class Controller:
    """Stands in for AWX's job launcher: every job through ansible-runner, in a private data directory of its own."""

    def __init__(self, workdir: Path, inventory_env: dict, credentials_env: dict | None = None):
        self.workdir, self.inventory_env = workdir, inventory_env
        self.credentials_env = credentials_env or {}
        self.templates, self.workflows = load("templates"), load("workflows")
        self.ids = itertools.count(101)
        self.jobs: list[Job] = []

    def launch(self, name: str, answers: dict | None = None, *, credentials: dict | None = None, node_vars: dict | None = None,
               workflow: dict | None = None) -> Job:
        """Launch job template ``name`` with the survey ``answers``. In a workflow, ``node_vars`` are what the node adds
        (its extra_data, its ancestors' artifacts, the workflow's variables) and ``workflow`` the workflow job's
        awx_workflow_* variables."""
        template = self.templates[name]
        job_id = next(self.ids)
        given = {**(node_vars or {}), **(answers or {})}
        extra = {**(template.get("extra_vars") or {}), **survey_vars(template, given, in_workflow=workflow is not None), **given,
                 **awx_vars(job_id, template, "workflow" if workflow else "manual"), **(workflow or {})}
        private = self.workdir / f"job_{job_id}"
        (private / "inventory").mkdir(parents=True)
        shutil.copy(ROOT / "inventories" / "local" / "hosts.yml", private / "inventory" / "hosts.yml")
        shutil.copytree(ROOT / "inventories" / "local" / "group_vars", private / "inventory" / "group_vars")
        cmdline = []
        if template.get("job_tags"):
            cmdline += ["--tags", template["job_tags"]]
        if template.get("skip_tags"):
            cmdline += ["--skip-tags", template["skip_tags"]]
        if template.get("job_type") == "check":
            cmdline.append("--check")
        started = time.monotonic()
        runner = ansible_runner.run(private_data_dir=str(private), project_dir=str(ROOT), playbook=template["playbook"],
                                    inventory=str(private / "inventory"), extravars=extra, cmdline=" ".join(cmdline) or None,
                                    envvars={**self.inventory_env, **self.credentials_env, **(credentials or {})},
                                    quiet=True, settings={"suppress_ansible_output": True})
        seconds = time.monotonic() - started
        events = list(runner.events)
        final = [e for e in events if e.get("event") == "playbook_on_stats"]
        # the playbook's own clock: from its first job event to its last
        stamps = sorted(datetime.datetime.fromisoformat(e["created"]) for e in events if e.get("created"))
        job = Job(job_id, name, runner.status, runner.rc, dict(final[-1]["event_data"].get("artifact_data") or {}) if final else {},
                  runner.stdout.read(), seconds, (stamps[-1] - stamps[0]).total_seconds() if stamps else 0.0, extra)
        self.jobs.append(job)
        return job

    def run_workflow(self, name: str, answers: dict, *, approve: bool = True,
                     before: Callable[[str], None] | None = None) -> tuple[str, list[tuple[str, Job | None]]]:
        """Run workflow ``name`` node by node; ``before(identifier)`` is called before each node runs. Returns the
        workflow's status and each node run, in order, with its job (None for an approval)."""
        workflow = self.workflows[name]
        nodes = {node["identifier"]: node for node in workflow["workflow_nodes"]}
        children = {ident for node in nodes.values() for links in (node.get("related") or {}).values() for ident in
                    (link["identifier"] for link in links)}
        workflow_vars = {**(workflow.get("extra_vars") or {}), **survey_vars(workflow, answers), **answers}
        workflow_job = {"awx_workflow_job_id": next(self.ids), "awx_workflow_job_name": name,
                        "tower_workflow_job_name": name, "awx_workflow_job_launch_type": "manual"}
        pending = [(ident, {}) for ident in nodes if ident not in children]
        ran: list[tuple[str, Job | None]] = []
        failed_unhandled = False
        while pending:
            ident, inherited = pending.pop(0)
            node = nodes[ident]
            if before:
                before(ident)
            ujt = node["unified_job_template"]
            if ujt["type"] == "workflow_approval":
                ok, artifacts, job = approve, inherited, None
            else:
                extra_data = accepted_extra_data(self.templates[ujt["name"]], node.get("extra_data") or {})
                job = self.launch(ujt["name"], node_vars={**extra_data, **inherited, **workflow_vars}, workflow=workflow_job)
                ok, artifacts = job.status == "successful", {**inherited, **job.artifacts}
            ran.append((ident, job))
            related = node.get("related") or {}
            follow = related.get("success_nodes" if ok else "failure_nodes", []) + related.get("always_nodes", [])
            if not ok and not follow:
                failed_unhandled = True
            pending += [(link["identifier"], artifacts) for link in follow]
        return ("failed" if failed_unhandled else "successful"), ran


def awx_vars(job_id: int, template: dict, launch_type: str = "manual") -> dict:
    """The variables AWX gives every job (awx_* and their tower_* aliases)."""
    values = {"job_id": job_id, "job_template_id": 7, "job_template_name": template["name"], "job_launch_type": launch_type,
              "user_name": "admin", "user_id": 1, "inventory_name": template.get("inventory", ""), "project_revision": "0" * 40}
    return {f"{prefix}_{key}": value for key, value in values.items() for prefix in ("awx", "tower")}
