#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_stage
short_description: Run one colour of a verified release on an app host and prove it runs exactly that release
version_added: 0.2.0
description:
  - Copies the release's files from O(src) on the controller into a per-host release cache (only the files the cache
    lacks), then hashes every cached file against the verified manifest's sha256 (O(artifacts)) in one pass on the host.
    A symlink, a hard link or a file of another digest is refused, set aside under C(CACHE_ROOT/.rejected/), and nothing
    is started.
  - Makes the docker engine hold every image of O(images) by image id, loading it from the checked tarball when absent
    (never pulling), and points each of the image's names at that id, so that a same-named local image never runs.
  - Starts the colour with C(docker compose up) on the checked bytes of the compose file (given to compose on stdin, so
    the bytes hashed are the bytes used), waits until every container is running and healthy, then proves that every
    container of the colour runs a recorded image id, and that the service answers O(health_path) and reports O(commit)
    on O(version_path) (a second witness, never the proof).
  - A colour that already runs exactly the release is reused as it runs when O(reuse=true) - its containers run the
    recorded image ids, are running and healthy, and are the very containers this module started from the same checked
    compose file and variables (their ids, kept in a root-only record beside the cache; labels a container carries
    are a claim anyone who can run a container can copy). Anything else is created afresh (C(--force-recreate)).
  - When a step fails after this task started containers, the colour is taken down again; a colour it did not start
    is left as it was.
  - With O(state=checked), changes nothing on the engine nor in the cache (a wrong file is named, not set aside; a stray one
    is not removed; it may copy files the cache lacks) and fails unless the colour already runs exactly the release, as above
    (the check of a colour that serves traffic).
  - With O(state=absent), takes the colour down (C(docker compose down) by project name).
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  action:
    support: full
    description: An action plugin copies the files the host's cache lacks from O(src) on the controller.
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  state:
    description: V(present) runs and proves the colour; V(checked) only proves it; V(absent) takes it down.
    type: str
    choices: [present, checked, absent]
    default: present
  environment:
    description: The environment; the colour's compose project is C(ENVIRONMENT-COLOUR).
    type: str
    required: true
  colour:
    description: The colour to run the release on.
    type: str
    choices: [blue, green]
    required: true
  tag:
    description: The release tag. Required with O(state=present).
    type: str
  commit:
    description: The commit the tag peels to, as verification found it. Required with O(state=present).
    type: str
  artifacts:
    description:
      - Every artifact of the verified manifest, each with C(path), C(size) and C(sha256), as
        M(maestro.conductor.release_verify) returns them. Required with O(state=present).
    type: list
    elements: dict
    default: []
  images:
    description:
      - Every image of the release, each with C(artifact) (its tarball), C(id) and C(repo_tags), as
        M(maestro.conductor.release_verify) returns them. Every container of the colour must run one of these ids.
    type: list
    elements: dict
    default: []
  src:
    description:
      - The verified release directory on the controller, from which the files the host's cache lacks are copied.
        Symlinks and hard links in it are refused.
    type: path
  cache_root:
    description: The host's release cache; each release is kept in C(CACHE_ROOT/ENVIRONMENT/TAG). Created with mode 0700.
    type: path
    default: /var/lib/maestro/releases
  compose_file:
    description: The compose file, an artifact of the release.
    type: str
    default: compose.yaml
  port:
    description: The colour's port on the host, given to compose as C(PORT) (with C(TAG) and C(COLOUR)).
    type: int
  compose_env:
    description: More variables for compose's interpolation (names of letters, digits and C(_), one-line values).
    type: dict
    default: {}
  probe_address:
    description: The address on the host at which the colour's port answers.
    type: str
    default: 127.0.0.1
  health_path:
    description: Path that must answer 200 on the colour's port.
    type: str
    default: /healthz
  version_path:
    description: 'Path on the colour''s port that must report O(commit) (JSON C({"commit": ...}) or the bare id).'
    type: str
    default: /version
  timeout:
    description: Seconds for the colour to turn healthy and answer.
    type: int
    default: 60
  reuse:
    description: Reuse a colour that already runs exactly this release, without a compose step.
    type: bool
    default: true
  incoming:
    description: Set by the action plugin, never by hand - each cached file's path, and where on the host it was copied to.
    type: dict
    default: {}
  cache_check:
    description:
      - How the cached files are checked. V(digests) hashes every one against the verified manifest.
      - V(sizes), only with O(state=checked) (a frequent check of a colour that serves, such as the watch's), hashes the
        compose file and checks every other file's size and that it is a regular single-link file; what runs is then proven
        by the containers' image ids, health and commit as always. Nothing in the cache is changed (a wrong file is named, not
        set aside; a stray one is not removed). A copy changed to the same size goes unnoticed until a switch re-hashes it.
    type: str
    choices: [digests, sizes]
    default: digests
    version_added: 0.3.0
  run_id:
    description: Returned as given (RV(run_id)), so that a caller can tell this run's result from an earlier one's.
    type: str
    default: ""
requirements:
  - the docker CLI and the compose v2 plugin on the host
"""

EXAMPLES = r"""
- name: Run the verified release on the idle colour of every app host
  maestro.conductor.release_stage:
    environment: production
    colour: green
    tag: "{{ verified.tag }}"
    commit: "{{ verified.commit }}"
    artifacts: "{{ verified.artifacts }}"
    images: "{{ verified.images }}"
    src: /srv/releases/{{ verified.tag }}
    port: 18082
    compose_env:
      BIND_ADDRESS: 0.0.0.0

- name: Take the green colour down
  maestro.conductor.release_stage:
    state: absent
    environment: production
    colour: green
"""

RETURN = r"""
project:
  description: The colour's compose project.
  returned: always
  type: str
run_id:
  description: O(run_id), as given.
  returned: always
  type: str
cache_root:
  description: O(cache_root), where the release was cached (and the record of what this tool started is kept).
  returned: with O(state=present) or O(state=checked)
  type: str
missing:
  description: Files the host's cache lacked (copied from O(src), or to be copied in check mode).
  returned: success
  type: list
  elements: str
copied:
  description: Files copied into the host's cache.
  returned: success
  type: list
  elements: str
removed:
  description: Files in the cache the manifest does not list, removed.
  returned: success
  type: list
  elements: str
loaded:
  description: Image tarballs loaded because the engine lacked their image id.
  returned: success
  type: list
  elements: str
named:
  description: Image names pointed at the release's image id (C(NAME -> ID (was OTHER))).
  returned: success
  type: list
  elements: str
started:
  description: Whether this task created or restarted containers of the colour (in check mode, whether it would).
  returned: always
  type: bool
reused:
  description: Whether the colour already ran exactly this release and was reused as it runs.
  returned: success
  type: bool
stopped:
  description: Whether the colour was taken down (after a failure of this task, or with O(state=absent)).
  returned: always
  type: bool
containers:
  description: Each container of the colour with its name, service, image name, image id, status and health.
  returned: success, outside check mode
  type: list
  elements: dict
image_ids:
  description: The image ids the colour's containers run (each one recorded by the release).
  returned: success, outside check mode
  type: list
  elements: str
health:
  description: What the health path answered.
  returned: success, outside check mode
  type: str
version:
  description: What the version path answered.
  returned: success, outside check mode
  type: str
steps:
  description: Seconds each step took (check, images, up, healthy, probe).
  returned: always
  type: dict
seconds:
  description: Seconds the task took on the host.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_stage import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
