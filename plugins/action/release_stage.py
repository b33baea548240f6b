# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_stage: copy only what the host's release cache lacks, then let the module check and run it.

The module is asked first; a host whose cache already holds the release (the usual rollback) costs one
module run. Otherwise the missing files go from ``src`` on the controller to a temporary directory on
the host, and the module is asked again: it copies them into the cache and hashes everything there.
When the host is this controller (plugin_utils/_controller.py), the core runs here and copies them from ``src``.
"""

from __future__ import annotations

import os
import stat

from ansible.errors import AnsibleActionFail

from ansible_collections.maestro.conductor.plugins.module_utils._names import check_relative_path
from ansible_collections.maestro.conductor.plugins.module_utils._task_stage import ENTRY
from ansible_collections.maestro.conductor.plugins.plugin_utils._controller import ControllerAction, runs_here

_MODULE = "maestro.conductor.release_stage"


def _source_file(src: str, relpath: str) -> str:
    """The controller's copy of ``relpath`` under ``src``: a regular single-link file reached without a symlink."""
    reason = check_relative_path(relpath)
    if reason:
        raise AnsibleActionFail(f"release_stage: the host asked for {relpath!r}, whose path {reason}")
    base = os.path.realpath(src)
    full = os.path.join(base, relpath)
    if os.path.realpath(full) != full:
        raise AnsibleActionFail(f"release_stage: {relpath} in {src} is reached through a symlink: a release directory holds no symlinks")
    try:
        info = os.lstat(full)
    except FileNotFoundError as exc:
        raise AnsibleActionFail(f"release_stage: {relpath} is missing from {src}, the release directory on the controller") from exc
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        raise AnsibleActionFail(f"release_stage: {relpath} in {src} is not a regular file with one link (hard links and special files "
                                "are refused in a release directory)")
    return full


class ActionModule(ControllerAction):
    TRANSFERS_FILES = False  # only when the host lacks files: a temporary directory is made then, not on every run
    MODULE = _MODULE
    ENTRY = ENTRY

    def _module(self, args: dict, task_vars: dict) -> dict:
        src = args.pop("src", None)
        args.pop("incoming", None)
        first = super()._module(args, task_vars)
        missing = first.get("missing") or []
        if first.get("failed") or not missing or self._task.check_mode or args.get("state", "present") == "absent":
            return first
        if not src:
            raise AnsibleActionFail(f"release_stage: the host's release cache lacks {', '.join(missing)}; give src, the verified release "
                                    "directory on the controller, to copy them from")
        sources = {relpath: _source_file(src, relpath) for relpath in missing}
        if runs_here(self, task_vars):  # the cache is on this machine: the core copies from the release directory itself
            return {**super()._module({**args, "incoming": sources}, task_vars), "missing": missing}
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        try:
            incoming = {}
            for number, (relpath, local) in enumerate(sorted(sources.items())):
                incoming[relpath] = self._transfer_file(local, self._connection._shell.join_path(tmpdir, f"artifact-{number}"))
            self._fixup_perms2([tmpdir, *incoming.values()], execute=False)
            second = super()._module({**args, "incoming": incoming}, task_vars)
        finally:
            self._remove_tmp_path(tmpdir)
        return {**second, "missing": missing}
