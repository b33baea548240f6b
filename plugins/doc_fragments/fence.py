# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """The environment lock a change is fenced by (plugins/module_utils/_lock.py's FENCE_SPEC)."""

    DOCUMENTATION = r"""
options:
  fence:
    description:
      - The run's environment lock, as M(maestro.conductor.release_lock) took it. Right before the first change, the lock is
        checked to be still held by O(fence.holder) with O(fence.generation), and renewed; otherwise the task fails, with
        C(lost) set in its result, and changes nothing. The lock file must be on the host the module runs on. Not checked
        in check mode, or when nothing changes.
    type: dict
    suboptions:
      path:
        description: The lock file.
        type: path
        required: true
      holder:
        description: The run's lock holder.
        type: str
        required: true
      generation:
        description: The generation the run took the lock with.
        type: int
        required: true
"""
