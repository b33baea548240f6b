"""A local stand-in for AWX's REST API (v2), on loopback, to prove ``make awx-configure``.

AWX itself cannot run here (its images come from a registry these machines cannot reach), so the awx.awx modules that
playbooks/awx_configure.yml uses (credential_type, job_template, workflow_job_template, schedule; awx.awx 24.6.1, bundled
with the ``ansible`` package) are tested against this server. It implements the documented requests those modules send,
found by reading the collection's ``plugins/module_utils/controller_api.py`` and the four modules, and AWX's answers:

- Discovery: ``GET /api/`` and ``GET /api/v2/`` (anonymous, as in AWX). Every answer carries ``X-API-Product-Name: AWX``
  and ``X-API-Product-Version``, which the modules compare with their own version on their first answer (they warn on a
  mismatch); the modules of this version never ask for ``/api/`` itself.
- Authentication: a username and password (``USER``, ``PASSWORD``) as HTTP basic auth, which the modules trade for a
  token at ``POST /api/v2/tokens/`` (201 ``{"id", "token", ...}``) and give back at ``DELETE /api/v2/tokens/{id}/`` when
  they exit; or a token given to them (``TOKEN``: CONTROLLER_OAUTH_TOKEN) as ``Authorization: Bearer``. Anything else
  answers 401 ``{"detail": ...}``.
- Objects: ``/api/v2/{organizations,projects,inventories,credential_types,job_templates,workflow_job_templates,
  workflow_job_template_nodes,schedules}/`` listed (GET, filtered by field, ``name=``, ``organization=``, ``or__id=`` with
  ``or__name=``, ``type=`` comma-separated; paged by ``page`` and ``page_size`` (25, at most 200) with ``count``, ``next``
  (a path, or null), ``previous`` and ``results``) and created (POST, 201 with the object); ``{id}/`` read (GET), updated
  (PATCH, 200 with the object) and deleted (DELETE, 204). Each object has ``id``, ``type``, ``url``, ``related``,
  ``summary_fields``, ``created``, ``modified``, ``name`` and every field of its kind, AWX's default where none was sent.
  Job templates, workflows, projects and approval templates share one id space and are listed together, read only, at
  ``/api/v2/unified_job_templates/``. A job template's organization is its project's: AWX infers it (the job_template
  module's documentation says so), whatever is sent.
- Surveys: ``GET/POST/DELETE /api/v2/{job_templates,workflow_job_templates}/{id}/survey_spec/`` (GET answers ``{}`` when
  there is none; POST answers 200 without a body, or 400 ``{"error": "..."}`` by AWX's rules: ``name``, ``description``
  and a non-empty ``spec``; each question's ``type`` (one AWX knows), ``question_name``, ``variable`` (unique) and
  ``required``; a default of the question's type; integer ``min`` and ``max``; choice questions with ``choices``,
  newline-joined as AWX stores them, and a default among them).
- Workflows: a workflow's nodes at ``workflow_job_templates/{id}/workflow_nodes/`` (GET); a node's links at
  ``workflow_job_template_nodes/{id}/{success,failure,always}_nodes/`` (GET; POST ``{"id": N}`` links, with
  ``"disassociate": true`` unlinks, 204; a node of another workflow, a second kind of link between two nodes or a cycle
  answer 400); ``workflow_job_template_nodes/{id}/create_approval_template/`` (POST name, description, timeout: 201 with
  the approval template, which becomes the node's ``unified_job_template``) and the approval template at
  ``/api/v2/workflow_approval_templates/{id}/`` (GET, PATCH; AWX lists them at no endpoint of their own).
- Projects: ``projects/{id}/playbooks/``, the playbooks a project update found (given to the constructor).

Validation, as AWX does it: required fields, field types, choices, references to objects that exist; uniqueness (a
credential type's name and kind, a template's name in its organization, a node's identifier in its workflow, a
schedule's name for its template); a job template's project, its inventory (or a prompt for one) and a playbook its
project has; extra vars that parse to a mapping; a custom credential type's kind (cloud or net), inputs (AWX's schema,
unique ids, no ``tower``) and injectors (their schema; no ANSIBLE_* nor reserved environment variables; templates that
render with only the inputs and ``tower.filename`` defined, as AWX renders them to check); a schedule's rrule (one DTSTART
with a time zone, RRULEs with FREQ and INTERVAL, no SECONDLY, no BYDAY with a numeric prefix, not both COUNT and UNTIL,
COUNT at most 999); the prompts of a node or a schedule: extra_data only for the variables its template's survey asks,
each answer valid for its question, unless the template prompts for variables. Errors have AWX's (Django REST
framework's) shape: ``{"field": ["message"]}``, ``{"__all__": [...]}`` for several fields together.

Stricter than AWX, so that a misspelt option cannot pass unseen: a field an endpoint does not have answers 400 (AWX's
serializers ignore it), except the ones awx.awx always sends and AWX ignores (a credential type's read-only ``managed``;
``identifier`` and ``workflow_job_template`` sent with an approval template); so do survey question keys beyond the
documented ones, a credential type's ``required`` naming no input, and query parameters this server does not filter by.
Not implemented: PUT, other related lists, launching anything (nothing runs here), a schedule's ``next_run``.

Seeded: organization "Default", project "maestro.conductor" and inventory "maestro", both in Default. Every request is
recorded (``requests``: method, path with its query; ``statuses``; ``bodies``), and every write that changed what the
server holds (``changes``), so that tests can assert on writes.
"""

from __future__ import annotations

import base64
import copy
import datetime
import itertools
import json
import re
import secrets
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

USER, PASSWORD = "admin", "awx-admin-pw-8c41f2d9"
TOKEN = "awx-oauth-token-5e9b07d3a1"
PRODUCT, VERSION = "AWX", "24.6.1"  # the bundled awx.awx's version: the modules warn when AWX's major version differs
V2 = "/api/v2/"
PAGE_SIZE, MAX_PAGE_SIZE = 25, 200
STAMP = "2026-11-27T00:00:00.000000Z"


class Refused(Exception):
    """A request AWX answers with an error: its status and body."""

    def __init__(self, body: dict, status: int = 400):
        super().__init__(body)
        self.body, self.status = body, status


# --- what each endpoint holds ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class F:
    """A field of an AWX object: its type (name, str, bool, int, dict, choice, ref), AWX's default, whether null is allowed,
    whether a create must send it, and what a reference points to (an endpoint, or "unified": any unified job template)."""

    type: str
    default: object = None
    null: bool = False
    required: bool = False
    ref: str = ""
    choices: tuple = ()


NAME = F("name", required=True)
STR, NSTR = F("str", ""), F("str", None, null=True)
BOOL, NBOOL = F("bool", False), F("bool", None, null=True)
INT0, NINT = F("int", 0), F("int", None, null=True)
VERBOSITY = (0, 1, 2, 3, 4, 5)
WEBHOOKS = ("", "github", "gitlab", "bitbucket_dc")


def ref(endpoint: str, null: bool = True) -> F:
    return F("ref", None, null=null, required=not null, ref=endpoint)


def choice(*values, default=None, null: bool = False, required: bool = False) -> F:
    return F("choice", default, null=null, required=required, choices=values)


# the prompts a workflow node and a schedule may carry (AWX's launch configuration), each allowed only when the template
# asks for it on launch
PROMPTS = {
    "inventory": ref("inventories"), "scm_branch": NSTR, "job_type": choice("", "run", "check", null=True), "job_tags": NSTR,
    "skip_tags": NSTR, "limit": NSTR, "diff_mode": NBOOL, "verbosity": choice(*VERBOSITY, null=True),
    "execution_environment": ref("execution_environments"), "forks": NINT, "job_slice_count": NINT, "timeout": NINT,
}
ASKS = ("diff_mode", "variables", "limit", "tags", "skip_tags", "job_type", "verbosity", "inventory", "credential",
        "execution_environment", "forks", "instance_groups", "job_slice_count", "labels", "timeout", "scm_branch")


ASK_NAMES = {"job_tags": "tags", "extra_data": "variables"}  # a prompt whose ask_*_on_launch field has another name


def ask_field(prompt: str) -> str:
    return f"ask_{ASK_NAMES.get(prompt, prompt)}_on_launch"


@dataclass(frozen=True)
class Kind:
    endpoint: str
    type: str
    label: str
    fields: dict[str, F]
    unique: tuple[str, ...] = ("name",)
    ignored: frozenset[str] = frozenset()  # sent by awx.awx, ignored by AWX's serializer
    unified: bool = False
    listed: bool = True  # has a list endpoint of its own
    subresources: tuple[str, ...] = ()
    computed: dict[str, object] = field(default_factory=dict)  # read-only fields, with their initial values


ORGANIZATIONS = Kind("organizations", "organization", "Organization", {
    "name": NAME, "description": STR, "max_hosts": INT0, "default_environment": ref("execution_environments")})
PROJECTS = Kind("projects", "project", "Project", {
    "name": NAME, "description": STR, "organization": ref("organizations"),
    "scm_type": choice("", "git", "svn", "insights", "archive", default=""), "scm_url": STR, "scm_branch": STR},
    unique=("name", "organization"), unified=True,
    subresources=("playbooks",), computed={"status": "successful"})
INVENTORIES = Kind("inventories", "inventory", "Inventory", {
    "name": NAME, "description": STR, "organization": ref("organizations", null=False),
    "kind": choice("", "smart", "constructed", default=""), "variables": STR}, unique=("name", "organization"))
CREDENTIAL_TYPES = Kind("credential_types", "credential_type", "Credential Type", {
    "name": NAME, "description": STR,
    "kind": choice("ssh", "vault", "net", "scm", "cloud", "registry", "token", "insights", "kubernetes", "galaxy", "cryptography",
                   "external", required=True),
    "inputs": F("dict", {}), "injectors": F("dict", {})},
    unique=("name", "kind"), ignored=frozenset({"managed"}), computed={"managed": False, "namespace": None})
JOB_TEMPLATES = Kind("job_templates", "job_template", "Job Template", {
    "name": NAME, "description": STR, "job_type": choice("run", "check", default="run"), "inventory": ref("inventories"),
    "project": ref("projects"), "playbook": STR, "scm_branch": STR, "forks": INT0, "limit": STR,
    "verbosity": choice(*VERBOSITY, default=0), "extra_vars": STR, "job_tags": STR, "force_handlers": BOOL, "skip_tags": STR,
    "start_at_task": STR, "timeout": INT0, "use_fact_cache": BOOL, "organization": ref("organizations"),
    "execution_environment": ref("execution_environments"), "host_config_key": STR,
    **{f"ask_{a}_on_launch": BOOL for a in ASKS}, "survey_enabled": BOOL, "become_enabled": BOOL, "diff_mode": BOOL,
    "allow_simultaneous": BOOL, "custom_virtualenv": NSTR, "job_slice_count": F("int", 1),
    "webhook_service": choice(*WEBHOOKS, default=""), "webhook_credential": ref("credentials"),
    "prevent_instance_group_fallback": BOOL}, unique=("name", "organization"), unified=True,
    subresources=("survey_spec",), computed={"status": "never updated"})
WORKFLOW_JOB_TEMPLATES = Kind("workflow_job_templates", "workflow_job_template", "Workflow Job Template", {
    "name": NAME, "description": STR, "extra_vars": STR, "organization": ref("organizations"), "survey_enabled": BOOL,
    "allow_simultaneous": BOOL, "ask_variables_on_launch": BOOL, "inventory": ref("inventories"), "limit": NSTR,
    "scm_branch": NSTR, "ask_inventory_on_launch": BOOL, "ask_scm_branch_on_launch": BOOL, "ask_limit_on_launch": BOOL,
    "webhook_service": choice(*WEBHOOKS, default=""), "webhook_credential": ref("credentials"), "ask_labels_on_launch": BOOL,
    "ask_skip_tags_on_launch": BOOL, "ask_tags_on_launch": BOOL, "skip_tags": NSTR, "job_tags": NSTR},
    unique=("name", "organization"), unified=True, subresources=("survey_spec", "workflow_nodes"),
    computed={"status": "never updated"})
LINKS = ("success_nodes", "failure_nodes", "always_nodes")
WORKFLOW_NODES = Kind("workflow_job_template_nodes", "workflow_job_template_node", "Workflow Job Template Node", {
    "workflow_job_template": ref("workflow_job_templates", null=False), "unified_job_template": ref("unified"),
    "identifier": STR, "extra_data": F("dict", {}), "all_parents_must_converge": BOOL, **PROMPTS},
    unique=("workflow_job_template", "identifier"), subresources=(*LINKS, "create_approval_template"))
APPROVAL_TEMPLATES = Kind("workflow_approval_templates", "workflow_approval_template", "Workflow Approval Template", {
    "name": NAME, "description": STR, "timeout": INT0}, unique=(), unified=True, listed=False,
    ignored=frozenset({"identifier", "workflow_job_template"}), computed={"status": "never updated"})
SCHEDULES = Kind("schedules", "schedule", "Schedule", {
    "name": NAME, "description": STR, "rrule": F("str", required=True), "unified_job_template": ref("unified", null=False),
    "enabled": F("bool", True), "extra_data": F("dict", {}), **PROMPTS}, unique=("unified_job_template", "name"),
    computed={"dtstart": None, "dtend": None, "until": "", "timezone": "", "next_run": None})
KINDS = {k.endpoint: k for k in (ORGANIZATIONS, PROJECTS, INVENTORIES, CREDENTIAL_TYPES, JOB_TEMPLATES,
                                 WORKFLOW_JOB_TEMPLATES, WORKFLOW_NODES, APPROVAL_TEMPLATES, SCHEDULES)}
UNIFIED = tuple(k for k in KINDS.values() if k.unified)


# --- AWX's rules for what it holds -----------------------------------------------------------------------------------

SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str, "integer": int,
                "float": float}
SURVEY_KEYS = {"type", "question_name", "question_description", "variable", "required", "default", "min", "max", "choices"}


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def survey_error(spec: object) -> str | None:
    """What AWX says of a survey spec it refuses (None: it takes it). Choice questions are normalised in place, as AWX
    stores them: choices and default newline-joined, without blank lines."""
    if not isinstance(spec, dict):
        return "Survey spec is not a json object."
    for key, expected, label in (("name", str, "string"), ("description", str, "string"), ("spec", list, "list of items")):
        if key not in spec:
            return f"Field '{key}' is missing from survey spec."
        if not isinstance(spec[key], expected):
            return f"Expected {label} for field '{key}', received {type(spec[key]).__name__} type."
    if not spec["spec"]:
        return "'spec' doesn't contain any items."
    unknown = set(spec) - {"name", "description", "spec"}
    if unknown:
        return f"Unknown keys {sorted(unknown)} in survey spec."
    variables: set[str] = set()
    for idx, question in enumerate(spec["spec"]):
        if not isinstance(question, dict):
            return f"Survey question {idx} is not a json object."
        for key in ("type", "question_name", "variable", "required"):
            expected, label = (bool, "boolean") if key == "required" else (str, "string")
            if key not in question:
                return f"'{key}' missing from survey question {idx}"
            if not isinstance(question[key], expected):
                return f"'{key}' in survey question {idx} expected to be {label}."
        unknown = set(question) - SURVEY_KEYS
        if unknown:  # the stand-in's own strictness: AWX keeps whatever a question carries
            return f"Unknown keys {sorted(unknown)} in survey question {idx}; documented: {sorted(SURVEY_KEYS)}."
        if question["variable"] in variables:
            return f"'variable' '{question['variable']}' duplicated in survey question {idx}."
        variables.add(question["variable"])
        qtype = question["type"]
        if qtype not in SURVEY_TYPES:
            return f"'{qtype}' in survey question {idx} is not one of '{', '.join(SURVEY_TYPES)}' allowed question types."
        default = question.get("default", "")
        if default != "" and (not isinstance(default, SURVEY_TYPES[qtype]) or isinstance(default, bool)):
            label = qtype if qtype in ("integer", "float") else "string"
            return f"Default value {default} in survey question {idx} expected to be {label}."
        for key in ("min", "max"):
            if question.get(key) is not None and (not isinstance(question[key], int) or isinstance(question[key], bool)):
                return f"The {key} limit in survey question {idx} expected to be integer."
        if qtype in ("multiplechoice", "multiselect"):
            if "choices" not in question:
                return f"Survey question {idx} of type {qtype} must specify choices."
            if isinstance(question["choices"], str):
                question["choices"] = "\n".join(_lines(question["choices"]))
            if "default" in question:
                if isinstance(question["default"], str):
                    question["default"] = "\n".join(_lines(question["default"]))
                    defaults = question["default"].splitlines()
                else:
                    defaults = question["default"]
                if qtype == "multiplechoice" and len(defaults) > 1:
                    return "Multiple Choice (Single Select) can only have one default value."
                if any(item not in choices_of(question) for item in defaults):
                    return "Default choice must be answered from the choices listed."
    return None


def choices_of(question: dict) -> list[str]:
    found = question.get("choices", [])
    return found.splitlines() if isinstance(found, str) else list(found)


def answer_problem(question: dict, value: object) -> str | None:
    """Why AWX refuses an answer to a survey question (None: it takes it)."""
    variable, qtype = question["variable"], question["type"]
    low, high = question.get("min"), question.get("max")
    if qtype in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return f"Value {value} for '{variable}' expected to be a string."
        if low is not None and len(value) < low:
            return f"'{variable}' value {value} is too small (length is {len(value)} must be at least {low})."
        if high is not None and len(value) > high:
            return f"'{variable}' value {value} is too large (must be no more than {high})."
    elif qtype in ("integer", "float"):
        number = int if qtype == "integer" else (int, float)
        if not isinstance(value, number) or isinstance(value, bool):
            return f"Value {value} for '{variable}' expected to be {'an integer' if qtype == 'integer' else 'a numeric type'}."
        if low is not None and value < low or high is not None and value > high:
            return f"'{variable}' value {value} is out of range ({low} to {high})."
    elif qtype == "multiplechoice":
        if value not in choices_of(question):
            return f"Value {value} for '{variable}' expected to be one of {choices_of(question)}."
    elif qtype == "multiselect":
        if not isinstance(value, list) or any(item not in choices_of(question) for item in value):
            return f"Value {value} for '{variable}' expected to be a list of {choices_of(question)}."
    return None


def vars_problem(text: str) -> str | None:
    """Why AWX refuses a template's extra_vars (a JSON or YAML text of a mapping); None: it takes them."""
    if not text.strip():
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as error:
            return f"Cannot parse as JSON or YAML ({error})."
    return None if isinstance(parsed, dict) or parsed is None else f"Input type `{type(parsed).__name__}` is not a dictionary"


FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
RRULE_RANGES = {"BYMONTH": (1, 12), "BYMONTHDAY": (-31, 31), "BYYEARDAY": (-366, 366), "BYWEEKNO": (-53, 53),
                "BYHOUR": (0, 23), "BYMINUTE": (0, 59), "BYSECOND": (0, 59), "BYSETPOS": (-366, 366)}
DTSTART = re.compile(r"DTSTART(?:;TZID=(?P<zone>[^:\s]+))?:(?P<stamp>\d{8}T\d{6})(?P<utc>Z?)")


def rrule_problems(value: str) -> tuple[list[str], dict]:
    """AWX's objections to a schedule's rrule, and what it derives from it (dtstart, timezone, until)."""
    problems: list[str] = []
    parts = value.split()
    starts = [p for p in parts if p.startswith("DTSTART")]
    rules = [p for p in parts if p.startswith("RRULE:")]
    derived: dict = {}
    problems += [f"Unsupported part of the rrule: {p}" for p in parts if p not in starts and p not in rules]
    if len(starts) > 1:
        problems.append("Multiple DTSTART is not supported.")
    match = DTSTART.fullmatch(starts[0]) if starts else None
    if match is None:
        problems.append("Valid DTSTART required in rrule. Value should start with: DTSTART:YYYYMMDDTHHMMSSZ")
    elif not match["zone"] and not match["utc"]:
        problems.append("DTSTART cannot be a naive datetime.  Specify ;TZINFO= or YYYYMMDDTHHMMSSZZ.")
    else:
        try:
            start = datetime.datetime.strptime(match["stamp"], "%Y%m%dT%H%M%S")
            derived = {"dtstart": start.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if match["utc"] else ""),
                       "timezone": match["zone"] or "UTC"}
        except ValueError:
            problems.append(f"DTSTART is not a valid date and time: {match['stamp']}")
    if not rules:
        problems.append("RRULE required in rrule.")
    for rule in rules:
        problems += [f"{problem}: {rule}" for problem in _rule_problems(rule.removeprefix("RRULE:"), derived)]
    return problems, derived


def _rule_problems(rule: str, derived: dict) -> list[str]:
    try:
        params = dict(part.split("=", 1) for part in rule.split(";"))
    except ValueError:
        return ["Not a list of NAME=VALUE"]
    problems = []
    freq = params.pop("FREQ", None)
    if freq == "SECONDLY":
        problems.append("SECONDLY is not supported")
    elif freq not in FREQUENCIES:
        problems.append(f"FREQ must be one of {', '.join(FREQUENCIES)}")
    interval = params.pop("INTERVAL", None)
    if interval is None:
        problems.append("INTERVAL required in rrule")
    elif not interval.isdigit() or int(interval) < 1:
        problems.append("INTERVAL must be a positive integer")
    if "COUNT" in params and "UNTIL" in params:
        problems.append("RRULE may not contain both COUNT and UNTIL")
    count = params.pop("COUNT", None)
    if count is not None and (not count.isdigit() or int(count) > 999):
        problems.append("COUNT > 999 is unsupported" if count.isdigit() else "COUNT must be an integer")
    until = params.pop("UNTIL", None)
    if until is not None:
        if not re.fullmatch(r"\d{8}T\d{6}Z?", until):
            problems.append("UNTIL must be YYYYMMDDTHHMMSS(Z)")
        derived["until"] = until
    for day in params.pop("BYDAY", "").split(",") if "BYDAY" in params else ():
        if re.fullmatch(r"[+-]?\d+[A-Z]{2}", day):
            problems.append("BYDAY with numeric prefix not supported")
        elif day not in WEEKDAYS:
            problems.append(f"BYDAY must name weekdays ({', '.join(WEEKDAYS)})")
    if params.pop("WKST", "MO") not in WEEKDAYS:
        problems.append("WKST must name a weekday")
    for name, text in params.items():
        if name not in RRULE_RANGES:
            problems.append(f"Unknown rrule parameter {name}")
            continue
        low, high = RRULE_RANGES[name]
        if not all(re.fullmatch(r"[+-]?\d+", v) and low <= int(v) <= high and int(v) != 0 for v in text.split(",")):
            problems.append(f"{name} must be non-zero integers from {low} to {high}")
    return problems


INPUT_KEYS = {"id": str, "label": str, "type": str, "format": str, "choices": list, "help_text": str, "multiline": bool,
              "secret": bool, "ask_at_runtime": bool, "default": object}
IDENTIFIER = re.compile(r"[a-zA-Z_]+[a-zA-Z0-9_]*")
FILE_TEMPLATE = re.compile(r"template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?")
# environment variables AWX sets for a job itself (a selection of its ENV_BLOCKLIST) and refuses in credential types
RESERVED_ENV = frozenset({"VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID",
                          "INVENTORY_UPDATE_ID", "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES",
                          "CALLBACK_QUEUE", "CALLBACK_CONNECTION", "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS",
                          "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH"})


def inputs_problems(inputs: dict) -> list[str]:
    """AWX's objections to a custom credential type's inputs. A field without a type becomes a string field, in place,
    as AWX stores it."""
    if set(inputs) - {"fields", "required"}:
        return [f"Additional properties are not allowed ({sorted(set(inputs) - {'fields', 'required'})} were unexpected)"]
    problems: list[str] = []
    fields = inputs.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
        return ["fields must be a list of objects"]
    ids: set[str] = set()
    for spec in fields:
        unexpected = sorted(set(spec) - set(INPUT_KEYS))
        if unexpected:
            problems.append(f"Additional properties are not allowed ({unexpected} were unexpected)")
        problems += [f"'{key}' is a required property" for key in ("id", "label") if key not in spec]
        problems += [f"{spec[key]!r} is not of type {INPUT_KEYS[key].__name__} ({key})" for key in set(spec) & set(INPUT_KEYS)
                     if not isinstance(spec[key], INPUT_KEYS[key])]
        ident = spec.get("id")
        if isinstance(ident, str):
            if not IDENTIFIER.fullmatch(ident):
                problems.append(f"{ident} is an invalid variable name")
            if ident == "tower":
                problems.append('"tower" is a reserved field name')
            if ident in ids:
                problems.append(f"field IDs must be unique ({ident})")
            ids.add(ident)
        spec.setdefault("type", "string")
        if spec["type"] not in ("string", "boolean"):
            problems.append(f"{spec['type']!r} is not one of ['string', 'boolean']")
        if spec.get("format", "url") not in ("ssh_private_key", "url"):
            problems.append(f"{spec['format']!r} is not one of ['ssh_private_key', 'url']")
        if "choices" in spec and (not spec["choices"] or len(set(map(str, spec["choices"]))) != len(spec["choices"])):
            problems.append(f"choices of {ident} must be unique, and at least one")
        problems += [f"{key} not allowed for {spec['type']} type ({ident})" for key in ("choices", "multiline", "format", "secret")
                     if key in spec and spec["type"] != "string"]
        if spec.get("ask_at_runtime"):
            problems.append("'ask_at_runtime' is not supported for custom credentials.")
    required = inputs.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        problems.append("required must be a list of strings")
    else:  # the stand-in's own strictness: AWX takes a required input that no field defines
        problems += [f"required names {r!r}, which no field defines" for r in required if r not in ids]
    return problems


class _Filename:
    """``tower.filename`` while an injector's templates are checked: a path for each named file template."""

    def __str__(self) -> str:
        raise UndefinedError("Must define unnamed file injector in order to reference `tower.filename`.")


class _Tower:
    def __init__(self, filename: object):
        self.filename = filename

    def __str__(self) -> str:
        raise UndefinedError("Cannot directly reference reserved `tower` namespace container.")


def injectors_problems(injectors: dict, inputs: dict) -> list[str]:
    """AWX's objections to a custom credential type's injectors, given its (valid) inputs."""
    if set(injectors) - {"file", "env", "extra_vars"}:
        return [f"Additional properties are not allowed ({sorted(set(injectors) - {'file', 'env', 'extra_vars'})} were unexpected)"]
    problems: list[str] = []
    for section, pattern in (("file", FILE_TEMPLATE), ("env", IDENTIFIER), ("extra_vars", IDENTIFIER)):
        values = injectors.get(section, {})
        if not isinstance(values, dict):
            problems.append(f"{section} must be an object")
            continue
        problems += [f"{key!r} does not match {pattern.pattern!r} ({section})" for key in values if not pattern.fullmatch(key)]
        problems += [f"{value!r} is not of type 'string' ({section}.{key})" for key, value in values.items()
                     if not isinstance(value, str)]
    for name, value in injectors.get("env", {}).items():
        if name.startswith("ANSIBLE_"):
            problems.append(f"Environment variable {name} may affect Ansible configuration so its use is not allowed in credentials.")
        elif name in RESERVED_ENV:
            problems.append(f"Environment variable {name} is not allowed to be used in credentials.")
        if isinstance(value, str) and not value.isascii():
            problems.append(f"{value!r} does not match '^[\\x00-\\x7F]*$' (env.{name})")
    if problems:
        return problems
    namespace: dict[str, object] = {spec["id"]: "EXAMPLE" for spec in inputs.get("fields", [])}
    templates = [name for name in injectors.get("file", {}) if name.startswith("template")]
    filename: object = _Filename()
    if "template" in templates:
        filename = "EXAMPLE_FILENAME"
        if len(templates) > 1:
            return ["Must use multi-file syntax when injecting multiple files"]
    for name in templates:
        if name != "template":
            setattr(filename, name.split(".", 1)[1], "EXAMPLE_FILENAME")
    namespace["tower"] = namespace["awx"] = _Tower(filename)
    environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for section, values in injectors.items():
        for key, text in values.items():
            try:
                environment.from_string(text).render(namespace)
            except UndefinedError as error:
                problems.append(f"{key} uses an undefined field ({error})")
            except SecurityError as error:
                problems.append(f"Encountered unsafe code execution: {error}")
            except TemplateSyntaxError as error:
                problems.append(f"Syntax error rendering template for {key} inside of {section} ({error})")
    return problems


# --- the server ------------------------------------------------------------------------------------------------------


class AwxApi:
    def __init__(self, playbooks: list[str]):
        self.store: dict[str, dict[int, dict]] = {endpoint: {} for endpoint in KINDS}
        self.counters = {endpoint: itertools.count(1) for endpoint in KINDS}
        self.unified_ids = itertools.count(1)  # AWX's unified job templates share one table
        self.tokens: dict[int, str] = {}
        self.token_ids = itertools.count(1)
        self.requests: list[tuple[str, str]] = []
        self.statuses: list[int] = []
        self.bodies: list[object] = []  # what each request sent (its JSON, or None)
        self.changes: list[tuple[str, str]] = []  # the writes that changed what the server holds
        self.lock = threading.Lock()
        default = self._insert(ORGANIZATIONS, {"name": "Default"})
        project = self._insert(PROJECTS, {"name": "maestro.conductor", "organization": default["id"], "scm_type": "git",
                                          "scm_url": "https://git.example.com/maestro/conductor.git"})
        project["_playbooks"] = sorted(playbooks)
        self._insert(INVENTORIES, {"name": "maestro", "organization": default["id"]})
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with api.lock:
                    try:
                        status, body, headers = api.answer(self.command, self.path, self.headers, raw)
                    except Exception as error:  # a defect of the stand-in: say so, as AWX says a server error
                        status, body, headers = 500, {"detail": f"stand-in error: {error!r}"}, {}
                    api.requests.append((self.command, self.path))
                    api.statuses.append(status)
                    api.bodies.append(_parsed(raw))
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", "X-API-Product-Name": PRODUCT,
                                    "X-API-Product-Version": VERSION, **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server's names

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def writes(self, since: int = 0) -> list[tuple[str, str]]:
        """The requests (after the first ``since``) that ask for a change, the modules' own tokens aside."""
        return [(m, p) for m, p in self.requests[since:] if m != "GET" and not p.startswith(f"{V2}tokens/")]

    # --- objects -----------------------------------------------------------------------------------------------------

    def _insert(self, kind: Kind, data: dict) -> dict:
        ident = next(self.unified_ids if kind.unified else self.counters[kind.endpoint])
        obj = {"id": ident, "type": kind.type, "url": f"{V2}{kind.endpoint}/{ident}/", "created": STAMP, "modified": STAMP,
               **_defaults(kind), **copy.deepcopy(kind.computed), **data}
        if kind is WORKFLOW_NODES:
            obj.update({link: [] for link in LINKS})
            obj["identifier"] = obj["identifier"] or str(uuid.uuid4())
        self.store[kind.endpoint][ident] = obj
        return obj

    def _get(self, endpoint: str, ident: object) -> dict | None:
        if endpoint == "unified":
            return next((found for k in UNIFIED if (found := self.store[k.endpoint].get(ident))), None)
        return self.store.get(endpoint, {}).get(ident)

    def _kind_of(self, obj: dict) -> Kind:
        return next(k for k in KINDS.values() if k.type == obj["type"])

    def render(self, obj: dict) -> dict:
        """An object as AWX shows it: its fields, and links and names of what it refers to."""
        kind = self._kind_of(obj)
        shown = {key: copy.deepcopy(value) for key, value in obj.items() if not key.startswith("_")}
        related, summary = {}, {}
        for name, spec in kind.fields.items():
            target = self._get(spec.ref, obj.get(name)) if spec.type == "ref" and obj.get(name) is not None else None
            if target is not None:
                related[name] = target["url"]
                summary[name] = {"id": target["id"], "name": target["name"], "type": target["type"]}
        related.update({sub: f"{obj['url']}{sub}/" for sub in kind.subresources})
        shown.update(related=related, summary_fields=summary)
        return shown

    # --- answering ---------------------------------------------------------------------------------------------------

    def answer(self, method: str, raw_path: str, headers, raw: bytes) -> tuple[int, object, dict]:
        parts = urllib.parse.urlsplit(raw_path)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError as error:
            return 400, {"detail": f"JSON parse error - {error}"}, {}
        try:
            return (*self._route(method, parts.path, query, headers, body), {})
        except Refused as refused:
            extra = {"WWW-Authenticate": 'Bearer realm=api authorization_url=/api/o/authorize/'} if refused.status == 401 else {}
            return refused.status, refused.body, extra

    def _route(self, method: str, path: str, query: list[tuple[str, str]], headers, body):
        if path == "/api/" and method == "GET":
            return 200, {"description": "AWX REST API", "current_version": V2, "available_versions": {"v2": V2},
                         "oauth2": "/api/o/", "custom_logo": "", "custom_login_info": "", "login_redirect_override": ""}
        if not path.startswith(V2):
            raise Refused({"detail": "Not found."}, 404)
        segments = [s for s in path[len(V2):].split("/") if s]
        if not segments:
            self._allow(method, "GET")
            return 200, {**{k.endpoint: f"{V2}{k.endpoint}/" for k in KINDS.values() if k.listed},
                         "unified_job_templates": f"{V2}unified_job_templates/", "tokens": f"{V2}tokens/"}
        self._authenticate(headers)
        if method in ("POST", "PATCH") and not isinstance(body, dict):
            raise Refused({"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(body).__name__}."]})
        if segments[0] == "tokens":
            return self._tokens(method, segments[1:], body)
        if segments == ["unified_job_templates"]:
            self._allow(method, "GET")
            items = [obj for k in UNIFIED for obj in self.store[k.endpoint].values()]
            return 200, self._list(items, query, path, {"id", "name", "type", "description", "organization", "status"})
        kind = KINDS.get(segments[0])
        if kind is None:
            raise Refused({"detail": "Not found."}, 404)
        if len(segments) == 1:
            if not kind.listed:
                raise Refused({"detail": "Not found."}, 404)
            self._allow(method, "GET", "POST")
            if method == "GET":
                return 200, self._list(list(self.store[kind.endpoint].values()), query, path, set(kind.fields) | {"id", "type"})
            return 201, self.render(self._create(kind, body, path))
        obj = self._get(kind.endpoint, int(segments[1])) if segments[1].isdigit() else None
        if obj is None:
            raise Refused({"detail": "Not found."}, 404)
        if len(segments) == 2:
            return self._detail(kind, obj, method, body, path)
        if len(segments) == 3 and segments[2] in kind.subresources:
            return self._subresource(kind, obj, segments[2], method, body, query, path)
        raise Refused({"detail": "Not found."}, 404)

    def _authenticate(self, headers) -> None:
        scheme, _space, credential = (headers.get("Authorization") or "").partition(" ")
        if scheme == "Basic":
            try:
                user, _colon, password = base64.b64decode(credential, validate=True).decode().partition(":")
            except ValueError:
                user = password = ""
            if (user, password) != (USER, PASSWORD):
                raise Refused({"detail": "Invalid username/password."}, 401)
        elif scheme != "Bearer" or credential != TOKEN and credential not in self.tokens.values():
            raise Refused({"detail": "Authentication credentials were not provided. To establish a login session, "
                                     "visit /api/login/."}, 401)

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise Refused({"detail": f'Method "{method}" not allowed.'}, 405)

    def _tokens(self, method: str, rest: list[str], body: dict):
        if not rest:
            self._allow(method, "POST")
            unknown = set(body) - {"description", "application", "scope"}
            if unknown:
                raise Refused({key: ["Not a field of a token (this stand-in refuses what AWX ignores)."] for key in unknown})
            if body.get("scope", "write") not in ("read", "write"):
                raise Refused({"scope": ["Must be a simple space-separated string with allowed scopes ['read', 'write']."]})
            ident, token = next(self.token_ids), secrets.token_urlsafe(24)
            self.tokens[ident] = token
            return 201, {"id": ident, "type": "o_auth2_access_token", "url": f"{V2}tokens/{ident}/", "related": {},
                         "summary_fields": {}, "created": STAMP, "modified": STAMP, "description": body.get("description", ""),
                         "user": 1, "token": token, "refresh_token": None, "application": None,
                         "expires": "2027-11-27T00:00:00Z", "scope": body.get("scope", "write")}
        self._allow(method, "DELETE")
        if len(rest) != 1 or not rest[0].isdigit() or int(rest[0]) not in self.tokens:
            raise Refused({"detail": "Not found."}, 404)
        del self.tokens[int(rest[0])]
        return 204, None

    def _list(self, items: list[dict], query: list[tuple[str, str]], path: str, filterable: set[str]) -> dict:
        params = dict(query)
        try:
            page, size = int(params.pop("page", 1)), min(int(params.pop("page_size", PAGE_SIZE)), MAX_PAGE_SIZE)
        except ValueError:
            raise Refused({"detail": "Invalid page."}, 404) from None
        either = {key.removeprefix("or__"): value for key, value in params.items() if key.startswith("or__")}
        every = {key: value for key, value in params.items() if not key.startswith("or__")}
        unknown = sorted((set(either) | set(every)) - filterable)
        if unknown:
            raise Refused({"detail": f"Cannot filter on {', '.join(unknown)}: not a field this stand-in filters by."})
        found = [obj for obj in sorted(items, key=lambda o: o["id"])
                 if all(_matches(obj, key, value) for key, value in every.items())
                 and (not either or any(_matches(obj, key, value) for key, value in either.items()))]
        pages = max(1, -(-len(found) // size))
        if page < 1 or page > pages:
            raise Refused({"detail": "Invalid page."}, 404)

        def link(number: int) -> str:
            return f"{path}?{urllib.parse.urlencode([*[(k, v) for k, v in query if k != 'page'], ('page', number)])}"

        return {"count": len(found), "next": link(page + 1) if page < pages else None,
                "previous": link(page - 1) if page > 1 else None,
                "results": [self.render(obj) for obj in found[(page - 1) * size:page * size]]}

    def _detail(self, kind: Kind, obj: dict, method: str, body: dict, path: str):
        self._allow(method, "GET", "PATCH", "DELETE")
        if method == "GET":
            return 200, self.render(obj)
        if method == "PATCH":
            return 200, self.render(self._update(kind, obj, body, path))
        self._delete(kind, obj)
        self.changes.append((method, path))
        return 204, None

    def _create(self, kind: Kind, body: dict, path: str) -> dict:
        fields = {**_defaults(kind), **self._clean(kind, body, creating=True)}
        self._validate(kind, fields, None)
        obj = self._insert(kind, {**fields, **self._derived(kind, fields)})
        self.changes.append(("POST", path))
        return obj

    def _update(self, kind: Kind, obj: dict, body: dict, path: str) -> dict:
        data = self._clean(kind, body, creating=False)
        merged = {**copy.deepcopy(obj), **data}
        self._validate(kind, merged, obj["id"])
        merged.update(self._derived(kind, merged))
        if merged != obj:
            obj.clear()
            obj.update(merged, modified=STAMP)
            self.changes.append(("PATCH", path))
        return obj

    def _delete(self, kind: Kind, obj: dict) -> None:
        del self.store[kind.endpoint][obj["id"]]
        if kind is WORKFLOW_JOB_TEMPLATES:
            for node in [n for n in self.store[WORKFLOW_NODES.endpoint].values() if n["workflow_job_template"] == obj["id"]]:
                self._delete(WORKFLOW_NODES, node)
        if kind is WORKFLOW_NODES:
            for node in self.store[WORKFLOW_NODES.endpoint].values():
                for link in LINKS:
                    if obj["id"] in node[link]:
                        node[link].remove(obj["id"])
        if kind.unified:
            for schedule in [s for s in self.store[SCHEDULES.endpoint].values() if s["unified_job_template"] == obj["id"]]:
                del self.store[SCHEDULES.endpoint][schedule["id"]]

    def _clean(self, kind: Kind, body: dict, creating: bool) -> dict:
        """The fields a request sets, each checked against its type; unknown fields refused (AWX would ignore them)."""
        errors: dict[str, list[str]] = {}
        data = {}
        for key, value in body.items():
            if key in kind.ignored:
                continue
            spec = kind.fields.get(key)
            problem = f"Not a field of a {kind.label.lower()} (AWX ignores such fields; this stand-in refuses them)." \
                if spec is None else self._field_problem(spec, value)
            if problem:
                errors[key] = [problem]
            else:
                data[key] = copy.deepcopy(value)
        if creating:
            for key, spec in kind.fields.items():
                if spec.required and key not in body:
                    errors.setdefault(key, ["This field is required."])
        if errors:
            raise Refused(errors)
        return data

    def _field_problem(self, spec: F, value: object) -> str | None:
        if value is None:
            return None if spec.null else "This field may not be null."
        if spec.type == "name":
            if not isinstance(value, str):
                return "Not a valid string."
            return "This field may not be blank." if not value.strip() else \
                "Ensure this field has no more than 512 characters." if len(value) > 512 else None
        if spec.type == "ref":
            if not isinstance(value, int) or isinstance(value, bool):
                return f"Incorrect type. Expected pk value, received {type(value).__name__}."
            return None if self._get(spec.ref, value) is not None else f'Invalid pk "{value}" - object does not exist.'
        if spec.type == "choice":
            return None if value in spec.choices and type(value) is type(spec.choices[-1]) else f'"{value}" is not a valid choice.'
        expected, message = {"str": (str, "Not a valid string."), "bool": (bool, "Must be a valid boolean."),
                             "int": (int, "A valid integer is required."),
                             "dict": (dict, f'Expected a dictionary of items but got type "{type(value).__name__}".')}[spec.type]
        if not isinstance(value, expected) or spec.type == "int" and isinstance(value, bool):
            return message
        return None

    def _validate(self, kind: Kind, obj: dict, ident: int | None) -> None:
        """AWX's checks of an object as it would be stored (``obj``: every field), beyond each field's type."""
        errors: dict[str, list[str]] = {}
        if kind is CREDENTIAL_TYPES:
            if obj["kind"] not in ("cloud", "net"):
                errors["kind"] = [f"Must be 'cloud' or 'net', not {obj['kind']}"]
            errors["inputs"] = inputs_problems(obj["inputs"])
            errors["injectors"] = [] if errors["inputs"] else injectors_problems(obj["injectors"], obj["inputs"])
        elif kind is JOB_TEMPLATES:
            project = self._get("projects", obj["project"])
            if project is None:
                errors["project"] = ["Job Templates must have a project assigned."]
            elif not obj["playbook"]:
                errors["playbook"] = ["Must select playbook for project."]
            elif obj["playbook"] not in project["_playbooks"]:
                errors["playbook"] = ["Playbook not found for project."]
            if obj["inventory"] is None and not obj["ask_inventory_on_launch"]:
                errors["inventory"] = ["You must either set a default value or ask to prompt on launch."]
            errors["extra_vars"] = [p for p in [vars_problem(obj["extra_vars"])] if p]
            obj["organization"] = project["organization"] if project else None  # AWX infers it from the project
        elif kind is WORKFLOW_JOB_TEMPLATES:
            errors["extra_vars"] = [p for p in [vars_problem(obj["extra_vars"])] if p]
        elif kind is WORKFLOW_NODES:
            errors.update(self._prompt_errors(self._get("unified", obj["unified_job_template"]), obj))
        elif kind is SCHEDULES:
            template = self._get("unified", obj["unified_job_template"])
            if template is not None and template["type"] == APPROVAL_TEMPLATES.type:
                errors["unified_job_template"] = ["Cannot create schedules for workflow approval templates."]
            errors["rrule"] = rrule_problems(obj["rrule"])[0]
            errors.update(self._prompt_errors(template, obj))
        errors = {key: problems for key, problems in errors.items() if problems}
        if errors:
            raise Refused(errors)
        if kind.unique:
            key = tuple(obj.get(name) for name in kind.unique)
            if any(other["id"] != ident and tuple(other.get(name) for name in kind.unique) == key
                   for other in self.store[kind.endpoint].values()):
                names = " and ".join(name.replace("_", " ").title() for name in kind.unique)
                raise Refused({"__all__": [f"{kind.label} with this {names} already exists."]})

    @staticmethod
    def _derived(kind: Kind, obj: dict) -> dict:
        return rrule_problems(obj["rrule"])[1] if kind is SCHEDULES else {}

    @staticmethod
    def _prompt_errors(template: dict | None, config: dict) -> dict[str, list[str]]:
        """A node's or a schedule's prompts that its template does not take: AWX accepts a prompt only when the template
        asks for it on launch, and extra variables only when it asks for variables or its survey asks for them."""
        if template is None:
            return {}
        errors = {name: ["Field is not configured to prompt on launch."] for name in PROMPTS
                  if config.get(name) is not None and not template.get(ask_field(name))}
        extra = config.get("extra_data") or {}
        if extra and not template.get("ask_variables_on_launch"):
            survey = (template.get("_survey") or {}).get("spec", []) if template.get("survey_enabled") else []
            questions = {question["variable"]: question for question in survey}
            problems = [f"Variables {name} provided, but {template['name']} does not prompt for variables and no survey "
                        f"question asks for {name}." for name in extra if name not in questions]
            problems += [p for name, value in extra.items() if name in questions
                         for p in [answer_problem(questions[name], value)] if p]
            if problems:
                errors["extra_data"] = problems
        return errors

    def _subresource(self, kind: Kind, obj: dict, name: str, method: str, body: dict, query, path: str):
        if name == "survey_spec":
            self._allow(method, "GET", "POST", "DELETE")
            if method == "GET":
                return 200, copy.deepcopy(obj.get("_survey") or {})
            spec = copy.deepcopy(body) if method == "POST" else {}
            error = survey_error(spec) if method == "POST" else None
            if error:
                raise Refused({"error": error})
            if spec != (obj.get("_survey") or {}):
                obj["_survey"] = spec
                self.changes.append((method, path))
            return 200, None
        if name == "playbooks":
            self._allow(method, "GET")
            return 200, list(obj["_playbooks"])
        if name == "workflow_nodes":
            self._allow(method, "GET")
            nodes = [n for n in self.store[WORKFLOW_NODES.endpoint].values() if n["workflow_job_template"] == obj["id"]]
            return 200, self._list(nodes, query, path, set(WORKFLOW_NODES.fields) | {"id"})
        if name == "create_approval_template":
            self._allow(method, "GET", "POST")
            if method == "GET":
                return 200, {"timeout": 0, "name": "", "description": ""}
            return 201, self.render(self._create_approval(obj, body, path))
        self._allow(method, "GET", "POST")
        if method == "GET":
            linked = [self.store[WORKFLOW_NODES.endpoint][i] for i in obj[name]]
            return 200, self._list(linked, query, path, set(WORKFLOW_NODES.fields) | {"id"})
        return self._link(obj, name, body, path)

    def _create_approval(self, node: dict, body: dict, path: str) -> dict:
        fields = {**_defaults(APPROVAL_TEMPLATES), **self._clean(APPROVAL_TEMPLATES, body, creating=True)}
        self._validate(APPROVAL_TEMPLATES, fields, None)
        before = self._get("unified", node["unified_job_template"])
        if before is not None and before["type"] == APPROVAL_TEMPLATES.type:  # AWX removes the one the node leaves
            self._delete(APPROVAL_TEMPLATES, before)
        approval = self._insert(APPROVAL_TEMPLATES, fields)
        node["unified_job_template"] = approval["id"]
        self.changes.append(("POST", path))
        return approval

    def _link(self, node: dict, relation: str, body: dict, path: str):
        unknown = set(body) - {"id", "disassociate"}
        if unknown or "id" not in body:
            raise Refused({key: ["This stand-in links nodes that exist: {\"id\": N}, and \"disassociate\": true to unlink."]
                           for key in unknown or {"id"}})
        child = self._get(WORKFLOW_NODES.endpoint, body["id"])
        if child is None:
            raise Refused({"detail": "Not found."})
        if body.get("disassociate"):
            if child["id"] in node[relation]:
                node[relation].remove(child["id"])
                self.changes.append(("POST", path))
            return 204, None
        if child["workflow_job_template"] != node["workflow_job_template"]:
            raise Refused({"msg": "Related Workflow Job Template does not match the parent node's."})
        if child["id"] == node["id"]:
            raise Refused({"Error": "Cycle detected."})
        if any(child["id"] in node[other] for other in LINKS if other != relation):
            raise Refused({"Error": "Relationship not allowed."})
        if child["id"] in node[relation]:
            return 204, None
        node[relation].append(child["id"])
        if self._has_cycle(node["workflow_job_template"]):
            node[relation].remove(child["id"])
            raise Refused({"Error": "Cycle detected."})
        self.changes.append(("POST", path))
        return 204, None

    def _has_cycle(self, workflow: int) -> bool:
        nodes = {n["id"]: n for n in self.store[WORKFLOW_NODES.endpoint].values() if n["workflow_job_template"] == workflow}
        state: dict[int, str] = {}

        def visit(ident: int) -> bool:
            state[ident] = "open"
            for child in (c for link in LINKS for c in nodes[ident][link]):
                if state.get(child) == "open" or child not in state and visit(child):
                    return True
            state[ident] = "done"
            return False

        return any(visit(ident) for ident in nodes if ident not in state)


def _parsed(raw: bytes) -> object:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def _defaults(kind: Kind) -> dict:
    return {name: copy.deepcopy(spec.default) for name, spec in kind.fields.items()}


def _matches(obj: dict, key: str, value: str) -> bool:
    """A query parameter's value against a field, as AWX's filters compare them (exact; types by their text)."""
    have = obj.get(key)
    if key == "type":
        return have in value.split(",")
    if isinstance(have, bool):
        return value.lower() in (("true", "1") if have else ("false", "0"))
    return have is not None and str(have) == value
