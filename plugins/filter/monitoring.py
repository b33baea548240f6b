# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The post-GA watch's monitoring files, made from the role's config: the Prometheus alert rules, the Grafana
dashboard and its provisioning file. Each filter is documented in its own file beside this one (alert_rules.yml,
grafana_dashboard.yml, grafana_dashboard_provisioning.yml); the decisions live in plugins/module_utils/_alert_rules.py
and _dashboard.py, where unit tests reach them."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.maestro.conductor.plugins.module_utils import _alert_rules, _dashboard
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


def alert_rules(config: dict, output: str = "dict"):
    try:
        if output == "dict":
            return _alert_rules.rules(config)
        if output == "yaml":
            return _alert_rules.rules_yaml(config)
    except ConductorError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    raise AnsibleFilterError(f"alert_rules: output {output!r} is invalid: expected dict or yaml")


def grafana_dashboard(config: dict | None = None, output: str = "dict"):
    try:
        model = _dashboard.dashboard(config)
    except ConductorError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    if output == "dict":
        return model
    if output == "json":
        return _dashboard.dashboard_json(model)
    raise AnsibleFilterError(f"grafana_dashboard: output {output!r} is invalid: expected dict or json")


def grafana_dashboard_provisioning(path: str, folder: str = "Maestro") -> dict:
    try:
        return _dashboard.provisioning(path, folder)
    except ConductorError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"alert_rules": alert_rules, "grafana_dashboard": grafana_dashboard,
                "grafana_dashboard_provisioning": grafana_dashboard_provisioning}
