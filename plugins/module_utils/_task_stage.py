# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_stage: one colour of the verified release on this host, proven; or that colour taken down."""

from __future__ import annotations

from dataclasses import asdict

from ansible_collections.maestro.conductor.plugins.module_utils import _stage
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._docker import Docker
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome, TaskFailed

SPEC = {
    "argument_spec": {
        "state": {"type": "str", "default": "present", "choices": ["present", "checked", "absent"]},
        "environment": {"type": "str", "required": True},
        "colour": {"type": "str", "required": True, "choices": list(_stage.COLOURS)},
        "tag": {"type": "str"},
        "commit": {"type": "str"},
        "artifacts": {"type": "list", "elements": "dict", "default": []},
        "images": {"type": "list", "elements": "dict", "default": []},
        "src": {"type": "path"},
        "cache_root": {"type": "path", "default": "/var/lib/maestro/releases"},
        "compose_file": {"type": "str", "default": "compose.yaml"},
        "port": {"type": "int"},
        "compose_env": {"type": "dict", "default": {}},
        "probe_address": {"type": "str", "default": "127.0.0.1"},
        "health_path": {"type": "str", "default": "/healthz"},
        "version_path": {"type": "str", "default": "/version"},
        "timeout": {"type": "int", "default": 60},
        "reuse": {"type": "bool", "default": True},
        "incoming": {"type": "dict", "default": {}},
        "run_id": {"type": "str", "default": ""},
        "cache_check": {"type": "str", "default": "digests", "choices": list(_stage.CACHE_CHECKS)},
    },
    "required_if": [("state", "present", ["tag", "commit", "artifacts", "images", "port"]),
                    ("state", "checked", ["tag", "commit", "artifacts", "images", "port"])],
}


def request(params: dict) -> _stage.StageRequest:
    return _stage.StageRequest(
        environment=params["environment"], colour=params["colour"], tag=params["tag"], commit=params["commit"],
        artifacts=params["artifacts"], images=params["images"], cache_root=params["cache_root"], port=params["port"],
        compose_file=params["compose_file"], compose_env=params["compose_env"], incoming=params["incoming"],
        probe_address=params["probe_address"], health_path=params["health_path"], version_path=params["version_path"],
        timeout=float(params["timeout"]), reuse=params["reuse"],
        cache_check=params["cache_check"])


def run(params: dict, check_mode: bool, _diff: bool) -> Outcome:
    docker = Docker()
    if params["state"] == "absent":
        had = _stage.stop(docker, params["environment"], params["colour"], params["cache_root"], check_mode)
        return Outcome({"changed": had, "stopped": had, "started": False, "project": f"{params['environment']}-{params['colour']}".lower(),
                        "run_id": params["run_id"]})
    try:
        result = _stage.stage(docker, request(params), check_mode, prove_only=params["state"] == "checked")
    except _stage.StageError as exc:
        raise TaskFailed(str(exc), run_id=params["run_id"], **asdict(exc.result)) from exc
    except ConductorError as exc:
        raise TaskFailed(str(exc), run_id=params["run_id"]) from exc
    return Outcome({"changed": result.changed, "run_id": params["run_id"], **asdict(result)})


ENTRY = Entry(SPEC, run)
