# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_metrics: a procedure's metrics, for node_exporter's textfile collector or a Pushgateway."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils import _metrics
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import WRITERS
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry

SPEC = {
    "argument_spec": {
        "writer": {"type": "str", "required": True, "choices": list(WRITERS)},
        "environment": {"type": "str", "required": True},
        "gauges": {"type": "list", "elements": "dict", "default": [], "options": {
            "name": {"type": "str", "required": True},
            "labels": {"type": "dict", "default": {}},
            "value": {"type": "float", "required": True},
        }},
        "increments": {"type": "list", "elements": "dict", "default": [], "options": {
            "name": {"type": "str", "required": True},
            "labels": {"type": "dict", "default": {}},
            "by": {"type": "float", "default": 1},
        }},
        "keep": {"type": "list", "elements": "str", "default": []},
        "textfile_dir": {"type": "path"},
        "pushgateway_url": {"type": "str"},
        "pushgateway_username": {"type": "str"},
        "pushgateway_password": {"type": "str", "no_log": True},
        "timeout": {"type": "int", "default": 10},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    },
    "required_one_of": [("textfile_dir", "pushgateway_url")],
    "required_by": {"pushgateway_username": "pushgateway_url", "pushgateway_password": ("pushgateway_url", "pushgateway_username")},
}

ENTRY = Entry(SPEC, _metrics.run)
