# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX job a task runs in, read from the variables AWX gives every job (awx_*, and their older tower_* names)."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils._ledger import JOB_VARIABLES


def job_of(task_vars: dict) -> dict:
    """The AWX job (id, template, workflow, schedule, who launched it) these variables describe; {} outside AWX."""
    job = {}
    for field, name in JOB_VARIABLES.items():
        value = task_vars.get(f"awx_{name}", task_vars.get(f"tower_{name}"))
        if value not in (None, ""):
            job[field] = value
    return job if "id" in job else {}
