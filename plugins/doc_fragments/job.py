# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """The AWX job a ledger record names."""

    DOCUMENTATION = r"""
options:
  job:
    description:
      - The job runner's job that writes the record, kept in it as C(job). Under AWX it is filled in from the variables AWX
        gives every job (C(awx_job_id), C(awx_job_template_name), C(awx_workflow_job_id), C(awx_workflow_job_name),
        C(awx_schedule_id), C(awx_schedule_name), C(awx_user_name)) unless the task sets it; elsewhere the record has none.
      - Ids are positive whole numbers, names at most 512 characters without control characters.
    type: dict
    suboptions:
      id:
        description: The job id (required when O(job) is given).
        type: int
      template:
        description: The job template's name.
        type: str
      workflow_id:
        description: The workflow job it ran in.
        type: int
      workflow:
        description: That workflow's name.
        type: str
      schedule_id:
        description: The schedule that launched it.
        type: int
      schedule:
        description: That schedule's name.
        type: str
      launched_by:
        description: Who launched it.
        type: str
"""
