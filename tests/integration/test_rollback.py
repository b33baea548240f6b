"""Deploy and rollback end to end: real git, a real docker daemon with compose v2, a real nginx
and a real HAProxy.

One environment ("itest", its own ports and directory, behind nginx) is built once for the module;
each test leaves v1.1.0 live, as the first one makes it. A second ("itest-haproxy") is the same
demo behind HAProxy, switched through its runtime API.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.integration.demo_env import ENVIRONMENT, ROOT, Env, haproxy_states, make_demo, out, tear_down


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`make demo` in its own directory, environment and ports: v1.1.0, then the broken v1.2.0, then the rollback."""
    env = make_demo(Env(tmp_path_factory.mktemp("itest")))
    yield env
    tear_down(env)


@pytest.fixture(scope="module")
def haproxy_demo(tmp_path_factory):
    """The same demo behind HAProxy (DEMO_PROXY=haproxy)."""
    env = make_demo(Env(tmp_path_factory.mktemp("itest-haproxy"), "itest-haproxy", "haproxy"))
    yield env
    tear_down(env)


def test_demo_rolls_back_from_the_broken_release_to_the_prior_healthy_one(demo):
    text = out(demo.demo_run)
    assert demo.demo_run.returncode == 0, text[-3000:]
    assert "before the rollback: " + demo.url + " serves: demo service v1.2.0" in text and "checkout BROKEN" in text
    assert "rollback itest: v1.2.0 -> v1.1.0" in text and "quarantined: v1.2.0" in text and "time-to-green: " in text
    # blue still ran v1.1.0 when traffic left it: the rollback is a verified flip back to it
    assert "deploy: blue already ran v1.1.0 (its image ids, and the containers this tool started from it): reused as it runs, not started again" in text
    assert f"host localhost: blue v1.1.0 {demo.commit('v1.1.0')[:12]} image sha256:" in text
    assert "after the rollback: " + demo.url + " serves: demo service v1.1.0" in text
    assert demo.served() == demo.commit("v1.1.0")
    # a line per step and the procedure's own summaries (the make targets' output), not every task's every result
    assert len(demo.demo_run.stdout.splitlines()) < 220 and "TASK [" not in demo.demo_run.stdout
    assert "Validating arguments" not in demo.demo_run.stdout
    last = demo.ledger()[-2:]
    assert [(r["event"], r["tag"]) for r in last] == [("rollback", "v1.1.0"), ("quarantine", "v1.2.0")]
    assert last[0]["from_tag"] == "v1.2.0" and last[0]["verdict"] == "green" and last[0]["durations"]["time_to_green"] > 0
    assert [(h["host"], h["colour"], h["reused"]) for h in last[0]["hosts"]] == [("localhost", "blue", True)]


def test_demo_releases_are_signed_verified_and_made_once(demo):
    strict = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "verify-release-strict", "TAG=v1.0.0"], env=demo.env(),
                            capture_output=True, text=True, timeout=600, check=False)
    assert strict.returncode == 0 and "release v1.0.0 (strict): VERIFIED" in strict.stdout
    assert "PASS signature: signed by releaser@demo.invalid" in strict.stdout
    tags = subprocess.run(["git", "-C", str(demo.root / "repo"), "tag", "--sort=-creatordate"], capture_output=True, text=True,
                          check=True).stdout.split()
    assert tags == ["v1.2.0", "v1.1.0", "v1.0.0"]
    again = demo.playbook("demo/make_releases.yml")
    assert again.returncode == 0 and "changed=0" in again.stdout.split("PLAY RECAP")[-1]


def test_rollback_to_the_tag_already_live_changes_nothing(demo):
    before = len(demo.ledger())
    done = demo.rollback("-e", '{"tag": "v1.1.0"}')
    assert done.returncode == 0, out(done)[-3000:]
    assert "was already live on blue, proven on 1 app hosts (image ids, the containers started from it, health); nothing to do" in out(done)
    assert "changed=0" in done.stdout.split("PLAY RECAP")[-1]
    assert len(demo.ledger()) == before and demo.served() == demo.commit("v1.1.0")


def test_rollback_to_the_release_the_idle_colour_still_runs_is_a_flip(demo):
    away = demo.rollback("-e", '{"tag": "v1.0.0"}')
    assert away.returncode == 0, out(away)[-3000:]
    assert "reused as it runs" not in away.stdout, "green did not run v1.0.0: it had to be started"
    blue = demo.started("blue")
    assert blue, "blue keeps running v1.1.0 after traffic left it"
    back = demo.rollback("-e", '{"tag": "v1.1.0"}')
    assert back.returncode == 0, out(back)[-3000:]
    assert "deploy: blue already ran v1.1.0 (its image ids, and the containers this tool started from it): reused as it runs, not started again" in out(back)
    assert demo.started("blue") == blue, "the same containers, not started again"
    assert demo.served() == demo.commit("v1.1.0")
    assert demo.ledger()[-2]["event"] == "rollback" and demo.ledger()[-2]["tag"] == "v1.1.0"
    # and without reuse, the same rollback runs compose on the colour (which converges it: nothing differs to recreate)
    demo.rollback("-e", '{"tag": "v1.0.0"}')
    again = demo.rollback("-e", '{"tag": "v1.1.0", "release_switch_reuse_idle": false}')
    # later tests look for containers of v1.0.0 as a sign of a deploy: leave green running none
    subprocess.run(["docker", "compose", "--project-name", f"{demo.environment}-green", "down", "--timeout", "0"], capture_output=True,
                   check=True)
    assert again.returncode == 0 and "reused as it runs" not in again.stdout, out(again)[-3000:]
    last = [record for record in demo.ledger() if record["event"] == "rollback"][-1]
    assert (last["tag"], last["hosts"][0]["reused"]) == ("v1.1.0", False) and demo.served() == demo.commit("v1.1.0")


def test_check_mode_shows_the_flip_and_changes_nothing(demo):
    include = demo.root / "nginx" / "upstream.conf"
    before = (include.read_text(), len(demo.ledger()), demo.running("green"))
    done = demo.rollback("-e", '{"tag": "v1.0.0"}', "--check", "--diff")
    assert done.returncode == 0, out(done)[-3000:]
    assert f"-    server 127.0.0.1:{demo.blue};" in done.stdout and f"+    server 127.0.0.1:{demo.green};" in done.stdout
    assert "rollback itest (check mode: nothing was changed): v1.1.0 -> v1.0.0" in out(done)
    assert (include.read_text(), len(demo.ledger()), demo.running("green")) == before
    assert demo.served() == demo.commit("v1.1.0")


def test_unknown_tag_names_the_nearest_and_moves_nothing(demo):
    done = demo.rollback("-e", '{"tag": "v1.1.1"}')
    assert done.returncode != 0
    assert "tag v1.1.1 does not exist in repository" in out(done) and "nearest existing tags: v1." in out(done)
    assert "Traffic was not moved: it stays on blue (v1.1.0)" in out(done)
    assert demo.served() == demo.commit("v1.1.0")


def test_tag_with_shell_metacharacters_never_reaches_a_shell(demo, tmp_path):
    marker = tmp_path / "pwned"
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "rollback", f"TAG=v1;touch {marker}"],
                          env=demo.env(), capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode != 0 and "tag must be empty (the prior healthy tag) or a release tag name" in out(done)
    assert not marker.exists() and demo.served() == demo.commit("v1.1.0")


def test_release_that_fails_verification_deploys_nothing(demo):
    sbom = demo.root / "releases" / "v1.0.0" / "sbom.spdx.json"
    original = sbom.read_bytes()
    sbom.write_bytes(original.replace(b"SPDX-2.3", b"SPDX-6.6"))
    before = demo.containers()
    try:
        done = demo.rollback("-e", '{"tag": "v1.0.0"}')
    finally:
        sbom.write_bytes(original)
    assert done.returncode != 0
    assert "failed at 'Verify the release strictly'" in out(done) and "artifact sbom.spdx.json: sha256 is" in out(done)
    # nothing deployed: the environment's containers are the ones it had, none of them runs v1.0.0
    after = demo.containers()
    assert after == before and not any(line.endswith(":v1.0.0") for line in after)
    assert demo.served() == demo.commit("v1.1.0")


def test_idle_colour_that_never_turns_healthy_is_torn_down(demo):
    demo.add_release("v1.0.0-unhealthy", image_from="v1.0.0", compose="""services:
  web:
    image: "maestro-demo/web:v1.0.0"
    pull_policy: never
    stop_signal: SIGKILL
    ports: ["127.0.0.1:${PORT}:8080"]
    healthcheck:
      test: ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/no-such-page"]
      interval: 1s
      retries: 2
""")
    done = demo.rollback("-e", '{"tag": "v1.0.0-unhealthy", "release_switch_deploy_timeout": 8}')
    assert done.returncode != 0
    assert "localhost: v1.0.0-unhealthy on itest-green failed at healthy: container itest-green-web-1 is unhealthy" in out(done)
    assert "The colour this run started was stopped on localhost" in out(done)
    assert not demo.running("green") and demo.served() == demo.commit("v1.1.0")


def test_a_compose_file_naming_an_image_the_release_does_not_carry_never_serves(demo):
    """The release carries v1.0.0's image, its compose file names v1.2.0's (which this engine holds): not the release's."""
    demo.add_release("v1.0.0-wrong-image", image_from="v1.0.0", compose="""services:
  web:
    image: "maestro-demo/web:v1.2.0"
    pull_policy: never
    stop_signal: SIGKILL
    ports: ["127.0.0.1:${PORT}:8080"]
""")
    done = demo.rollback("-e", '{"tag": "v1.0.0-wrong-image"}')
    text = out(done)
    assert done.returncode != 0
    assert "localhost: v1.0.0-wrong-image on itest-green failed at image ids: container itest-green-web-1 runs image" in text
    assert "(maestro-demo/web:v1.2.0), not the release's sha256:" in text
    assert "Traffic was not moved: it stays on blue (v1.1.0)" in text
    assert not demo.running("green") and demo.served() == demo.commit("v1.1.0")


def test_nginx_config_failing_nginx_t_keeps_the_previous_config(demo):
    include = demo.root / "nginx" / "upstream.conf"
    before = include.read_text()
    # an upstream name the server block does not use: proxy_pass then names an unknown host and `nginx -t` fails
    done = demo.rollback("-e", '{"tag": "v1.0.0", "maestro_nginx_upstream": "not_the_upstream"}')
    assert done.returncode != 0
    assert "nginx -t rejected the configuration with the green upstream, previous file put back" in out(done)
    assert include.read_text() == before and demo.served() == demo.commit("v1.1.0")
    assert not demo.running("green")


def test_unreachable_docker_daemon(demo, tmp_path):
    done = demo.rollback("-e", '{"tag": "v1.0.0"}', DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock")
    assert done.returncode != 0
    text = out(done)
    assert "localhost: v1.0.0 on itest-green failed at images: docker image ls --all failed" in text
    assert "Traffic was not moved: it stays on blue (v1.1.0)" in text
    assert demo.served() == demo.commit("v1.1.0")


def test_a_second_rollback_while_one_runs_fails_clearly(demo):
    first = subprocess.Popen([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(ROOT / "inventories" / "local" / "hosts.yml"),
                              str(ROOT / "playbooks" / "rollback.yml"), "-e", '{"tag": "v1.0.0"}'],
                             env=demo.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock = demo.root / "locks" / f"{ENVIRONMENT}.lock"
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lock.exists(), "the first rollback never took the lock"
    second = demo.rollback("-e", '{"tag": "v1.2.0"}')
    first_out = first.communicate(timeout=600)[0]
    assert second.returncode != 0 and "is held by" in out(second) and "another run is in progress" in out(second)
    assert first.returncode == 0, first_out[-3000:]
    assert demo.served() == demo.commit("v1.0.0")
    back = demo.rollback("-e", '{"tag": "v1.1.0"}')
    assert back.returncode == 0 and demo.served() == demo.commit("v1.1.0")


def test_a_torn_last_ledger_line_does_not_block_a_rollback(demo):
    """A crash mid-append leaves a torn last line: the next rollback reads on, warns, and sets the torn bytes aside."""
    ledger = demo.root / "ledger" / f"{ENVIRONMENT}.jsonl"
    torn = b'{"environment":"itest","event":"quarantine","tag":"v1.'
    with open(ledger, "ab") as handle:
        handle.write(torn)
    done = demo.rollback("-e", '{"tag": "v1.0.0"}')
    text = out(done)
    assert done.returncode == 0, text[-3000:]
    assert "is corrupt (not JSON" in text and "a torn last line (an append that never finished), skipped" in text
    assert [path.read_bytes() for path in ledger.parent.glob(ledger.name + ".corrupt-*")] == [torn + b"\n"]
    assert [r for r in demo.ledger() if r["event"] == "rollback"][-1]["tag"] == "v1.0.0" and demo.served() == demo.commit("v1.0.0")
    back = demo.rollback("-e", '{"tag": "v1.1.0"}')
    assert back.returncode == 0 and demo.served() == demo.commit("v1.1.0"), out(back)[-3000:]


def test_demo_through_haproxy_rolls_back_with_the_runtime_api(haproxy_demo):
    env = haproxy_demo
    assert env.demo_run.returncode == 0, out(env.demo_run)[-3000:]
    text = out(env.demo_run)
    assert f"before the rollback: {env.url} serves: demo service v1.2.0" in text
    assert "rollback itest-haproxy: v1.2.0 -> v1.1.0" in text and "confirmed through localhost (haproxy)" in text
    assert f"after the rollback: {env.url} serves: demo service v1.1.0" in text
    assert env.served() == env.commit("v1.1.0")
    assert haproxy_states(env) == {"blue": "ready", "green": "maint"}
    last = env.ledger()[-1]
    assert (last["event"], last["tag"]) == ("quarantine", "v1.2.0")


def test_haproxy_failure_before_the_flip_leaves_the_server_states(haproxy_demo):
    env = haproxy_demo
    before = haproxy_states(env)
    done = env.rollback("-e", '{"tag": "v1.0.0", "release_switch_deploy_timeout": 8}', DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert done.returncode != 0 and "Traffic was not moved: it stays on blue (v1.1.0)" in out(done)
    assert haproxy_states(env) == before and env.served() == env.commit("v1.1.0")


def test_haproxy_rollback_to_a_named_tag_and_back(haproxy_demo):
    env = haproxy_demo
    done = env.rollback("-e", '{"tag": "v1.0.0"}')
    assert done.returncode == 0, out(done)[-3000:]
    assert haproxy_states(env) == {"blue": "maint", "green": "ready"} and env.served() == env.commit("v1.0.0")
    back = env.rollback("-e", '{"tag": "v1.1.0"}')
    assert back.returncode == 0, out(back)[-3000:]
    assert haproxy_states(env) == {"blue": "ready", "green": "maint"} and env.served() == env.commit("v1.1.0")
