# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX job a task runs in, read from the variables AWX gives every job (awx_*, and their older tower_* names)."""

from __future__ import annotations

# the ledger's job field -> the AWX variable that gives it
_VARIABLES = {"id": "job_id", "template": "job_template_name", "workflow_id": "workflow_job_id", "workflow": "workflow_job_name",
              "launched_by": "user_name"}


def job_of(task_vars: dict) -> dict:
    """The AWX job (id, template, workflow, who launched it) these variables describe; {} outside AWX."""
    job = {}
    for field, name in _VARIABLES.items():
        value = task_vars.get(f"awx_{name}", task_vars.get(f"tower_{name}"))
        if value not in (None, ""):
            job[field] = value
    return job if "id" in job else {}
