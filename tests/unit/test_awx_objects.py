"""The AWX controller objects (awx/controller/*.yml, in the layout infra.aap_configuration reads) checked against the awx.awx
modules that apply them: each object's keys, types and choices from the installed modules' own argument specs (read by
running each module's main() up to where it builds its ControllerAPIModule, not copied), and AWX's rules for injectors."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml

from ansible_collections.awx.awx.plugins.module_utils import controller_api

ROOT = Path(__file__).resolve().parents[2]
CONTROLLER = ROOT / "awx" / "controller"
# what each infra.aap_configuration variable is applied with
MODULES = {"controller_credential_types": "credential_type", "controller_templates": "job_template",
           "controller_workflows": "workflow_job_template", "controller_schedules": "schedule"}
# AWX's survey question types
QUESTION_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")
_TYPES = {"str": str, "dict": dict, "list": list, "bool": bool, "int": int, "raw": object, "json": (dict, list, str), "path": str}


class Unsafe(str):
    """A string the file marks !unsafe: Ansible never renders it; AWX does, when a job starts."""


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: Unsafe(loader.construct_scalar(node)))


class _Spec(Exception):
    def __init__(self, spec: dict):
        super().__init__("argument spec read")
        self.spec = spec


def awx_spec(name: str) -> dict:
    """The argument spec awx.awx.``name`` builds, with the controller's connection options its base class adds."""
    module = importlib.import_module(f"ansible_collections.awx.awx.plugins.modules.{name}")

    def capture(_self, argument_spec=None, *_args, **_kwargs):
        raise _Spec({**controller_api.ControllerModule.AUTH_ARGSPEC, **(argument_spec or {})})
    original = controller_api.ControllerAPIModule.__init__
    controller_api.ControllerAPIModule.__init__ = capture
    try:
        module.main()
    except _Spec as found:
        return found.spec
    finally:
        controller_api.ControllerAPIModule.__init__ = original
    raise AssertionError(f"awx.awx.{name} built no ControllerAPIModule")


def objects() -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted(CONTROLLER.glob("*.yml")):
        for variable, items in (yaml.load(path.read_text(), Loader=_Loader) or {}).items():  # noqa: S506 - SafeLoader with !unsafe
            found.setdefault(variable, []).extend(items)
    return found


def problems(item: dict, spec: dict) -> list[str]:
    """What of ``item`` the module would refuse: unknown options, wrong types, values outside the choices."""
    found = []
    for key, value in item.items():
        option = spec.get(key)
        if option is None:
            found.append(f"{key}: no option of the module")
            continue
        wanted = _TYPES.get(option.get("type", "str"), object)
        if not isinstance(value, wanted):
            found.append(f"{key}: {type(value).__name__}, the module takes {option.get('type', 'str')}")
        if option.get("choices") and value not in option["choices"]:
            found.append(f"{key}: {value!r} is none of {option['choices']}")
    found += [f"{key}: required" for key, option in spec.items() if option.get("required") and key not in item]
    return found


def templates_in(value) -> list[str]:
    """Every string under ``value`` that AWX renders (holds '{{')."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in templates_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in templates_in(v)]
    return [value] if isinstance(value, str) and "{{" in value else []


def test_every_object_is_one_the_awx_module_takes():
    found = objects()
    assert set(found) <= set(MODULES), f"objects of no known variable: {sorted(set(found) - set(MODULES))}"
    for variable, module in MODULES.items():
        spec = awx_spec(module)
        assert "name" in spec and "injectors" in spec or module != "credential_type"  # the spec was read, not guessed
        for item in found.get(variable, []):
            assert problems(item, spec) == [], f"{variable} {item.get('name')}: {problems(item, spec)}"


def test_the_spec_reader_would_see_a_bad_object():
    spec = awx_spec("credential_type")
    assert problems({"name": "x", "kind": "vault2", "inputs": []}, spec) == [
        "kind: 'vault2' is none of ['ssh', 'vault', 'net', 'scm', 'cloud', 'insights']", "inputs: list, the module takes dict"]
    assert problems({"name": "x", "injector": {}}, spec) == ["injector: no option of the module"]


def test_credential_types_inject_only_declared_secret_fields_with_templates_ansible_never_renders():
    for item in objects()["controller_credential_types"]:
        fields = {field["id"]: field for field in item["inputs"]["fields"]}
        assert all(field.get("secret") for field in fields.values()), f"{item['name']}: every input is a secret"
        assert set(item["inputs"].get("required") or []) <= set(fields)
        rendered = templates_in(item["injectors"])
        assert rendered and all(isinstance(text, Unsafe) for text in rendered), f"{item['name']}: injector templates must be !unsafe"
        used = {name for text in rendered for name in fields if f"{{{{ {name} }}}}" in text}
        assert used == set(fields), f"{item['name']}: inputs {sorted(set(fields) - used)} are never injected"


def test_every_injected_variable_is_read_by_the_collection():
    code = [path.read_text() for folder in ("roles", "plugins", "playbooks") for path in (ROOT / folder).rglob("*.*")
            if path.suffix in (".yml", ".py")]
    injected = [(item["name"], variable) for item in objects()["controller_credential_types"]
                for kind in ("env", "extra_vars") for variable in (item["injectors"].get(kind) or {})]
    assert len(injected) >= 6
    for name, variable in injected:
        assert any(variable in text for text in code), f"{name}: {variable} is injected but nothing reads it"


def surveys() -> list[tuple[str, dict, str]]:
    """(template name, survey question, playbook) of every job template and workflow."""
    found = []
    for variable in ("controller_templates", "controller_workflows"):
        for item in objects()[variable]:
            found += [(item["name"], question, item.get("playbook", "")) for question in (item.get("survey_spec") or {}).get("spec", [])]
    return found


def test_surveys_follow_awx_s_rules():
    assert surveys()
    for name, question, _playbook in surveys():
        where = f"{name}: {question.get('variable')}"
        assert {"question_name", "variable", "type", "required"} <= set(question), where
        assert question["type"] in QUESTION_TYPES, where
        if question["type"] in ("multiplechoice", "multiselect"):
            assert isinstance(question["choices"], str), f"{where}: choices are one newline-joined string, as AWX stores them"
            assert "default" in question and str(question["default"]) in question["choices"].split("\n"), f"{where}: default among the choices"
        elif "default" in question and question["type"] in ("text", "textarea", "password"):
            assert question.get("min", 0) <= len(str(question["default"])) <= question.get("max", 1024), where
        # a secret is never asked in a survey (it would be a password question at least): it comes from a credential
        assert not any(word in question["variable"] for word in ("token", "password", "secret", "routing_key")), where


def _playbook_text(playbook: str) -> str:
    """The playbook, the playbooks it imports and the roles it names (with their defaults, tasks and argument specs)."""
    text, seen, pending = "", set(), [ROOT / playbook]
    while pending:
        path = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        body = path.read_text()
        text += body
        pending += [ROOT / "playbooks" / name for name in re.findall(r"import_playbook:\s*(\S+\.yml)", body)]
        for role in re.findall(r"maestro\.conductor\.([a-z_]+)\b", body):
            pending += sorted((ROOT / "roles" / role).rglob("*.yml"))
    return text


def test_every_survey_variable_is_used_by_its_playbook():
    for name, question, playbook in surveys():
        if not playbook:  # a workflow's survey: every node's playbook gets it
            continue
        assert (ROOT / playbook).is_file(), f"{name}: {playbook}"
        assert re.search(rf"(?<![\w.]){re.escape(question['variable'])}(?!\w)", _playbook_text(playbook)), \
            f"{name}: {question['variable']} is read by nothing {playbook} runs"


def test_every_template_runs_a_playbook_of_the_collection_and_every_variable_a_playbook_requires_is_asked():
    # what each playbook refuses to run without (its first task's assert, or make's "is required")
    required = {"playbooks/verify_release.yml": "tag", "playbooks/deploy.yml": "tag", "playbooks/incident.yml": "incident_reason"}
    templates = {item["name"]: item for item in objects()["controller_templates"]}
    assert {item["playbook"] for item in templates.values()} >= {"playbooks/" + p for p in (
        "verify_release.yml", "deploy.yml", "rollback.yml", "restore_drill.yml", "tag_protection.yml", "watch.yml", "incident.yml",
        "daily_verify.yml", "weekly_validation.yml", "security_updates.yml", "prune_releases.yml")}
    for item in templates.values():
        asked = {q["variable"] for q in (item.get("survey_spec") or {}).get("spec", []) if q.get("required")} | set(item.get("extra_vars") or {})
        need = required.get(item["playbook"])
        assert need is None or need in asked, f"{item['name']}: {item['playbook']} requires {need}"


def test_the_workflow_goes_verify_approve_deploy_watch_and_to_an_incident_on_failure():
    [workflow] = objects()["controller_workflows"]
    nodes = {node["identifier"]: node for node in workflow["workflow_nodes"]}
    templates = {item["name"] for item in objects()["controller_templates"]}
    step = {name: [n["identifier"] for n in (node.get("related") or {}).get("success_nodes", [])] for name, node in nodes.items()}
    assert step["verify"] == ["approve"] and step["approve"] == ["deploy"] and step["deploy"] == ["watch"]
    # an incident rolls the live release back: only when the watch finds the new release, live, red; a verification or a
    # deploy that failed left the live release serving
    failures = {name for name, node in nodes.items() if {"identifier": "incident"} in (node.get("related") or {}).get("failure_nodes", [])}
    assert failures == {"watch"}
    assert nodes["approve"]["unified_job_template"]["type"] == "workflow_approval"
    for node in nodes.values():
        job = node["unified_job_template"]
        assert job["type"] == "workflow_approval" or job["name"] in templates, job
    for schedule in objects()["controller_schedules"]:
        assert schedule["unified_job_template"] in templates


# ---------------------------------------------------------------------------------------------- what a job hands on

def _handed_on() -> dict[str, str]:
    """Every set_stats key of the roles and playbooks, with the file that sets it."""
    keys = {}
    for path in sorted(ROOT.glob("roles/*/tasks/*.yml")) + sorted(ROOT.glob("playbooks/*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            if "ansible.builtin.set_stats" in task:
                for key in task["ansible.builtin.set_stats"]["data"]:
                    keys[key] = str(path.relative_to(ROOT))
    return keys


def _tasks(items: list):
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        yield item
        for section in ("tasks", "block", "rescue", "always", "pre_tasks", "post_tasks", "handlers"):
            yield from _tasks(item.get(section) or [])


def _inputs() -> set[str]:
    """Every variable a role, a playbook, a template or the inventories reads as an input."""
    names = set()
    for path in ROOT.glob("roles/*/defaults/main.yml"):
        names |= set(yaml.safe_load(path.read_text()) or {})
    for path in ROOT.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(path.read_text())["argument_specs"].values():
            names |= set(entry.get("options") or {})
    for path in ROOT.glob("playbooks/*.yml"):
        for play in yaml.safe_load(path.read_text()) or []:
            names |= set(play.get("vars") or {})
    for path in ROOT.glob("inventories/**/*.yml"):
        data = yaml.safe_load(path.read_text()) or {}
        names |= set(data) if "group_vars" in str(path) else set()
    for path in ROOT.glob("roles/*/vars/main.yml"):
        names |= set(yaml.safe_load(path.read_text()) or {})
    for template in objects()["controller_templates"] + objects()["controller_workflows"]:
        names |= set(template.get("extra_vars") or {})
        names |= {q["variable"] for q in (template.get("survey_spec") or {}).get("spec", [])}
    # and every name an expression reads (a variable read only through `| default` or `is defined` declares nothing)
    for path in list(ROOT.glob("roles/**/*.yml")) + list(ROOT.glob("playbooks/*.yml")) + list(ROOT.glob("inventories/**/*.yml")):
        for expression in _expressions(yaml.load(path.read_text(), Loader=_Loader)):
            names |= set(_NAME.findall(expression))
    return names


_NAME = re.compile(r"(?<![.\w'\"])([a-z_][a-z0-9_]*)")
_CONDITIONS = ("when", "that", "until", "changed_when", "failed_when")


def _expressions(node, key: str = ""):
    """Every Jinja expression of a loaded YAML document: what is inside {{ }} and {% %}, and every condition."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _expressions(value, str(name))
    elif isinstance(node, list):
        for value in node:
            yield from _expressions(value, key)
    elif isinstance(node, str):
        if key in _CONDITIONS:
            yield node
        yield from (inside or statement for inside, statement in re.findall(r"{{(.*?)}}|{%(.*?)%}", node, re.S))


def test_every_outcome_is_handed_on_under_a_name_no_procedure_reads():
    """AWX passes a job's artifacts to every later job of a workflow as extra variables, the strongest there are: an
    artifact named like a role's input would override it (a rollback node run as the deploy before it)."""
    handed_on = _handed_on()
    assert {"verify_release_ok", "switch_ok", "drill_ok", "tag_protection_ok", "drift_ok", "watch_ok", "maestro_incident",
            "daily_verify_ok", "weekly_validation_ok", "retention_ok", "security_updates_ok", "prune_releases_ok"} <= set(handed_on)
    clashes = {key: path for key, path in handed_on.items() if key in _inputs()}
    assert not clashes, f"artifacts named like inputs: {clashes}"
