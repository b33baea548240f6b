# maestro.conductor: every command an operator or CI needs, on top of the playbooks.
# User values (TAG, REPO, ...) reach ansible-playbook as JSON built from the
# environment, never through a shell or ansible's key=value parser.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

# Only what the user gives is passed on; defaults (the embedded demo under
# .demo/) come from the inventory, so AWX and make resolve them the same way.
DEMO_DIR ?= $(CURDIR)/.demo
INVENTORY ?= $(CURDIR)/inventories/local/hosts.yml
# exported only when set: an empty TAG in the environment would override a compose .env
$(foreach v,TAG REPO RELEASE_DIR ALLOWED_SIGNERS EXPECTED_COMMIT DEMO_DIR TEARDOWN,$(if $(value $(v)),$(eval export $(v))))

COLLECTION_LINK := .collections/ansible_collections/maestro/conductor
SANITY_ROOT := .build/ansible_collections/maestro/conductor

# $(call extra_vars,name=ENVVAR ...): the named, non-empty environment variables as one YAML flow mapping, each value
# tagged !unsafe: ansible-core loads command-line extra vars as trusted templates, and a REASON="page shows {{ price }}"
# is text, never a template to render.
extra_vars = "$$($(PY) -c 'import json, os, sys; print("{" + ", ".join(f"{json.dumps(k)}: !unsafe {json.dumps(os.environ[v])}" for k, v in (a.split("=", 1) for a in sys.argv[1:]) if os.environ.get(v)) + "}")' $(1))"
# What a playbook target prints: a line per step with its duration, the procedure's own summaries, failures in full and
# the recap (plugins/callback/steps.py; with -v in PLAYBOOK_ARGS it prints what Ansible's default does); V=1 gives
# Ansible's own output, every task and every result; an ANSIBLE_STDOUT_CALLBACK of the user's own is kept.
STDOUT_CALLBACK := $(or $(ANSIBLE_STDOUT_CALLBACK),$(if $(filter 1,$(V)),ansible.builtin.default,maestro.conductor.steps))
# PLAYBOOK_ARGS="--check --diff" (or -v, --limit ...) passes through to every playbook target
playbook = ANSIBLE_STDOUT_CALLBACK=$(STDOUT_CALLBACK) $(BIN)/ansible-playbook -i $(INVENTORY) $(PLAYBOOK_ARGS)

.PHONY: help
help:
	@echo "make demo                          demo releases and proxy, a broken release live, then the rollback"
	@echo "make demo-watch                    the demo watched: Prometheus and Alertmanager on loopback, the verification alert"
	@echo "                                   firing while a tampered release is live, resolved after the rollback"
	@echo "make demo-down                     stop the demo: its blue and green stacks, its restore drill, nginx and HAProxy"
	@echo "make test                          unit, sanity, lint and molecule side by side, then integration tests"
	@echo "                                   every target prints a line per step with its duration; V=1 Ansible's full output"
	@echo "make deploy TAG=...                verify, deploy to the idle colour, flip, confirm, record"
	@echo "make rollback [TAG=...]            the same back to TAG, or to the prior healthy tag"
	@echo "make unlock [FORCE=true]           break the environment lock of a run that died (names it; a live one only forced)"
	@echo "make verify-release TAG=...        verify a release   [REPO=... RELEASE_DIR=... ALLOWED_SIGNERS=...]"
	@echo "make verify-release-strict TAG=... verify strictly: signed, tag not moved   [EXPECTED_COMMIT=... ALLOW_UNSIGNED=true]"
	@echo "make restore-drill TAG=...         restore a release from its artifacts onto the drill hosts, timed"
	@echo "                                   [TEARDOWN=true takes the stack down after]"
	@echo "make protect-tags REPO=...         protect release tags on the git server's bare repository REPO"
	@echo "make protect-tags BACKEND=github PROJECT=owner/name   ... or on GitHub, GitLab, Gitea [API_URL=...]"
	@echo "                                   [ACTORS=a,b PATTERNS=v* STATE=absent]; token in MAESTRO_TAG_PROTECTION_TOKEN"
	@echo "make check-drift [REMOTE=...]      release tags moved, deleted or re-created; branches not at the release; the running"
	@echo "                                   commit off the live tag; red on any, and on what it cannot check [BRANCHES=main,release"
	@echo "                                   FAIL_ON_DRIFT=false ALLOW_MISSING_REPOSITORY=true ALLOW_UNKNOWN_RUNNING_COMMIT=true]"
	@echo "make watch                         the post-GA watch: the live release verified, proven running, available, no drift;"
	@echo "                                   metrics for node_exporter's textfile collector (.demo/metrics) or a Pushgateway"
	@echo "make metrics-remove                an environment out of service: its metrics files and Pushgateway groups removed"
	@echo "make status                        one screen: live release, last verification, pass rate, time-to-green, drift, alerts"
	@echo "make incident REASON=\"...\"         open an incident: freeze deploys, archive the evidence, roll back to the last green"
	@echo "                                   tag, notify every sink, write the post-mortem [TAG=... SEVERITY=... NEW=true]"
	@echo "make incident-ack INCIDENT=...     acknowledged: no further escalation (make incident-escalate runs on a schedule)"
	@echo "make incident-close INCIDENT=...   closed: notifications resolved, the post-mortem's timeline completed"
	@echo "make unfreeze INCIDENT=...         deploys allowed again, once the post-mortem's action items are filled in"
	@echo "make eda                           the incident rulebook: Alertmanager's webhook on 127.0.0.1:19500/alerts -> make incident"
	@echo "                                   [OVERRIDE=true OVERRIDE_REASON=\"...\", recorded]"
	@echo "make daily-verify                  the live release and the rollback target strictly, every host's copies re-hashed"
	@echo "make weekly-validation             every release in the audit window: hashes, signature, provenance, pipeline, regenerated"
	@echo "make retention                     the audit window kept: the release store, the ledger, GitHub Actions' retention"
	@echo "make retention-set                 ... with GitHub Actions' artifact and log retention set to the audit window first"
	@echo "make prune-releases [TAGS=a,b]     remove releases nothing holds (evidence archived first); --check says why each stays"
	@echo "make security-updates              app hosts in batches: out of rotation, security updates, reboot if required, the live"
	@echo "                                   release restarted and proven on the host, back in rotation; a red host stays out"
	@echo "make schedules                     the schedules as systemd timers [SCHEDULES_STATE=absent]"
	@echo "make awx-configure CONTROLLER_HOST=...  the job templates, surveys, workflow, credential types and schedules in AWX"
	@echo "make ee                            the execution environment for AWX (meta/execution-environment.yml), built with docker"
	@echo "any playbook target: PLAYBOOK_ARGS=\"--check --diff\" for a dry run"
	@echo "make build                         build the collection tarball"
	@echo "make bench                         run the benchmarks in bench/"
	@echo "make test-molecule                 the restore drill into a clean Debian container (part of make test)"

$(VENV)/.installed: requirements.in constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.in -c constraints.txt
	touch $@

# committed, so a plain clone resolves the collection; recreated if a checkout lost it
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

.PHONY: setup services
setup: $(VENV)/.installed $(COLLECTION_LINK)

# nginx, HAProxy, a docker engine and compose v2, installed and started when missing
services: setup
	VENV=$(VENV) bash scripts/services.sh all

.PHONY: demo
demo: services
	$(playbook) demo/main.yml

.PHONY: demo-watch
demo-watch: services
	$(playbook) demo/watch.yml

# the demo's blue and green stacks, the restore drill's service and the proxies stopped; its files under .demo/ stay,
# and make demo starts afresh
.PHONY: demo-down
demo-down:
	environment="$${DEMO_ENVIRONMENT:-demo}"; for project in "$$environment-blue" "$$environment-green" "drill-$$environment"; do \
	  docker compose --project-name "$$project" down --timeout 5; done
	demo="$${DEMO_DIR:-$(CURDIR)/.demo}"; \
	  if [ -f "$$demo/nginx/nginx.pid" ]; then nginx -c "$$demo/nginx/nginx.conf" -s quit || true; fi; \
	  for pid in "$$demo"/haproxy/*.pid; do [ -f "$$pid" ] && pkill --pidfile "$$pid" haproxy || true; done; \
	  if [ -d "$$demo/monitoring/run" ]; then MONITORING_DIR="$$demo/monitoring/run" bash scripts/monitoring.sh stop; fi

.PHONY: deploy rollback
deploy: services
	@test -n "$${TAG:-}" || { echo "TAG is required: make deploy TAG=v1.2.3" >&2; exit 2; }
	$(playbook) playbooks/deploy.yml -e $(call extra_vars,tag=TAG)

rollback: services
	$(playbook) playbooks/rollback.yml -e $(call extra_vars,tag=TAG)

# the lock of a run that is gone (its process ended on this controller, or its lease ran out); a live one with FORCE=true
.PHONY: unlock
unlock: setup
	$(playbook) playbooks/unlock.yml -e $(call extra_vars,force=FORCE)

.PHONY: restore-drill
restore-drill: services
	@test -n "$${TAG:-}" || { echo "TAG is required: make restore-drill TAG=v1.2.3" >&2; exit 2; }
	$(playbook) playbooks/restore_drill.yml -e $(call extra_vars,tag=TAG restore_drill_teardown=TEARDOWN)

# protecting only: the same playbook's drift play is make check-drift (red when it cannot check, which is
# no reason to call a protection that was applied a failure)
.PHONY: protect-tags
protect-tags: setup
	$(playbook) playbooks/tag_protection.yml --skip-tags drift \
	  -e $(call extra_vars,backend=BACKEND repo=REPO project=PROJECT api_url=API_URL allowed_actors=ACTORS patterns=PATTERNS state=STATE)

.PHONY: check-drift
check-drift: setup
	$(playbook) playbooks/tag_protection.yml --tags drift \
	  -e $(call extra_vars,drift_remote=REMOTE protected_branches=BRANCHES fail_on_drift=FAIL_ON_DRIFT \
	                       drift_allow_missing_repository=ALLOW_MISSING_REPOSITORY drift_allow_unknown_running_commit=ALLOW_UNKNOWN_RUNNING_COMMIT)

.PHONY: watch
watch: setup
	$(playbook) playbooks/watch.yml

# the daily verification (docs/maintenance.md): both releases strictly, every host's copies re-hashed, a report
.PHONY: daily-verify
daily-verify: setup
	$(playbook) playbooks/daily_verify.yml

# the weekly deep validation (docs/maintenance.md): every release in the audit window, a report and a page per release
.PHONY: weekly-validation
weekly-validation: setup
	$(playbook) playbooks/weekly_validation.yml

# the audit window kept (docs/maintenance.md): the store, the ledger, GitHub Actions' retention; retention-set sets it first
.PHONY: retention retention-set
retention: setup
	$(playbook) playbooks/retention.yml

retention-set: setup
	$(playbook) playbooks/retention.yml -e maintenance_retention_set=true

# pruning by reference (docs/maintenance.md): TAGS=a,b only those; PLAYBOOK_ARGS="--check --diff" says what would go and why
.PHONY: prune-releases
prune-releases: setup
	$(playbook) playbooks/prune_releases.yml -e $(call extra_vars,prune_tags=TAGS)

# security updates host by host (docs/maintenance.md): each batch out of rotation, updated, rebooted when required, the live
# release restarted and proven on it, put back; PLAYBOOK_ARGS="--check --diff" says what would be applied
.PHONY: security-updates
security-updates: setup
	$(playbook) playbooks/security_updates.yml

# the AWX objects of awx/controller/ (docs/awx.md) applied to a controller: CONTROLLER_HOST=https://..., with
# CONTROLLER_OAUTH_TOKEN or CONTROLLER_USERNAME and CONTROLLER_PASSWORD in the environment (awx.awx reads them)
.PHONY: awx-configure
awx-configure: setup
	@test -n "$${CONTROLLER_HOST:-}" || { echo "CONTROLLER_HOST is required: make awx-configure CONTROLLER_HOST=https://awx.example.com" >&2; exit 2; }
	$(playbook) playbooks/awx_configure.yml

# the execution environment of meta/execution-environment.yml (docs/awx.md), built with ansible-builder and docker from a
# staging directory shaped like the collection's root: the definition, its requirement files, the collection's tarball
# and its dependencies' (rebuilt from the bundled `ansible` package: Galaxy cannot be reached), the wheels pip installs
# there (no index is reachable from the build), on a base image made here
EE_IMAGE ?= maestro-conductor-ee:latest
EE_STAGE := .build/ee
.PHONY: ee
ee: services
	bash scripts/drill_host_image.sh
	rm -rf $(EE_STAGE) && mkdir -p $(EE_STAGE)/meta $(EE_STAGE)/collections
	cp meta/execution-environment.yml $(EE_STAGE)/
	cp meta/ee-collections.yml meta/ee-requirements.txt meta/ee-bindep.txt $(EE_STAGE)/meta/
	$(BIN)/ansible-galaxy collection build --force --output-path $(EE_STAGE)/collections . >/dev/null
	mv $(EE_STAGE)/collections/maestro-conductor-*.tar.gz $(EE_STAGE)/collections/maestro-conductor.tar.gz
	$(PY) scripts/collection_tarballs.py --unversioned $(EE_STAGE)/collections \
	  $$($(PY) -c 'import yaml; print(" ".join(yaml.safe_load(open("galaxy.yml"))["dependencies"]))') >/dev/null
	$(BIN)/pip wheel --quiet --disable-pip-version-check --wheel-dir $(EE_STAGE)/wheels -r meta/ee-build-wheels.txt -c constraints.txt
	$(BIN)/ansible-builder build --container-runtime docker --file $(EE_STAGE)/execution-environment.yml \
	  --context $(EE_STAGE)/context --tag $(EE_IMAGE)

# the schedules as systemd timers (docs/maintenance.md); SCHEDULES_STATE=absent removes them
.PHONY: schedules
schedules: setup
	$(playbook) playbooks/schedules.yml -e $(call extra_vars,schedules_state=SCHEDULES_STATE)

# an environment taken out of service: its metrics removed from the textfile directory and the Pushgateway
.PHONY: metrics-remove
metrics-remove: setup
	$(playbook) playbooks/metrics_remove.yml

.PHONY: status
status: setup
	$(playbook) playbooks/status.yml

# incident response: open, freeze, archive, roll back, notify, post-mortem (docs/incident.md)
.PHONY: incident incident-close incident-ack unfreeze incident-escalate
incident: services
	@test -n "$${REASON:-}" || { echo 'REASON is required: make incident REASON="checkout answers 500" [TAG=v1.2.3]' >&2; exit 2; }
	$(playbook) playbooks/incident.yml \
	  -e $(call extra_vars,incident_reason=REASON incident_tag=TAG incident_severity=SEVERITY incident_expected=EXPECTED \
	                       incident_seen=SEEN incident_allow_second=NEW)

incident-close incident-ack unfreeze: setup
	@test -n "$${INCIDENT:-}" || { echo "INCIDENT is required: make $@ INCIDENT=demo-20261128T162501Z-a3f9" >&2; exit 2; }
	$(playbook) playbooks/$(subst -,_,$@).yml \
	  -e $(call extra_vars,incident_id=INCIDENT incident_override=OVERRIDE incident_override_reason=OVERRIDE_REASON)

incident-escalate: setup
	$(playbook) playbooks/incident_escalate.yml

# Event-Driven Ansible: a Java runtime (Debian's openjdk-17-jre-headless) and ansible-rulebook, installed when missing
.PHONY: eda eda-setup
eda-setup: setup
	VENV=$(VENV) bash scripts/eda.sh install

# the incident rulebook in the foreground: Alertmanager's webhook on 127.0.0.1:19500/alerts runs the incident
# procedure for the alerting environment (extensions/eda/vars/incident.yml; docs/eda.md)
eda: services
	VENV=$(VENV) EDA_INVENTORY=$(dir $(INVENTORY)) bash scripts/eda.sh run

.PHONY: verify-release verify-release-strict
verify-release verify-release-strict: setup
	@test -n "$${TAG:-}" || { echo "TAG is required: make $@ TAG=v1.2.3" >&2; exit 2; }
	$(playbook) playbooks/verify_release.yml \
	  -e $(call extra_vars,tag=TAG repo=REPO release_dir=RELEASE_DIR allowed_signers=ALLOWED_SIGNERS expected_commit=EXPECTED_COMMIT \
	                       allow_unsigned=ALLOW_UNSIGNED) \
	  -e '{"strict": $(if $(filter verify-release-strict,$@),true,false)}'

# the committed renders of the monitoring code: docs/metrics.md and the role's default dashboard (a test checks they match)
.PHONY: monitoring-files
monitoring-files: setup
	PYTHONPATH=.collections $(PY) -c 'from ansible_collections.maestro.conductor.plugins.module_utils import _alert_rules as a, _dashboard as d; \
	  open("docs/metrics.md", "w").write(a.metrics_markdown()); \
	  open("roles/monitoring/files/maestro-release-health.json", "w").write(d.dashboard_json(d.dashboard()))'

.PHONY: build
build: setup
	$(BIN)/ansible-galaxy collection build --force --output-path .build

.PHONY: schemas
schemas: setup
	PYTHONPATH=.collections $(PY) docs/schemas/generate.py docs/schemas

.PHONY: test test-unit test-sanity test-lint test-integration test-molecule
# The checks side by side, each one's output printed whole when it ends: sanity and lint keep about one core busy and
# molecule mostly waits on docker, so on two cores they take about half as long together as one after the other.
# Then the integration tests, which keep both cores busy on their own.
test: services
	$(MAKE) --no-print-directory -j 4 --output-sync=target test-unit test-sanity test-lint test-molecule
	$(MAKE) --no-print-directory test-integration

# a file per worker, one worker per CPU (pytest-xdist): a file's fixtures stay in one process
test-unit: services
	$(BIN)/pytest -q -n auto --dist loadfile tests/unit

# ansible-test wants the collection at ansible_collections/NS/NAME: test a copy of the tracked files.
test-sanity: setup
	@mkdir -p $(HOME)/.ansible/test/cache
	@test -f $(HOME)/.ansible/test/cache/get_pip_24_2.py || cp tests/sanity/get_pip_standin.py $(HOME)/.ansible/test/cache/get_pip_24_2.py
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	git ls-files -co --exclude-standard -z -- . ':!.collections' | xargs -0 cp --parents -t $(SANITY_ROOT)
	# its own git index, or ansible-test would see the outer checkout, where .build is ignored
	cd $(SANITY_ROOT) && git init -q && git add -A && $(BIN)/ansible-test sanity --venv --python 3.11 --color no

test-lint: setup
	$(BIN)/ansible-lint

# three files at a time (pytest-xdist): most of a test's time is waiting on docker, nginx, health checks and Ansible's
# own start, so three streams fit the 2-core CI machine (two streams: 22.7 min against 31 one after the other, before
# the AWX, execution environment and packaging tests); each module keeps its own ports, names and directories, so they
# never meet
test-integration: services eda-setup
	$(BIN)/pytest -q -n 3 --dist loadfile --durations=30 tests/integration

# The restore drill into a clean Debian container (extensions/molecule/default, the collection's one scenario): the host image
# and the demo releases it restores are made first, in .cache/ (kept: speed-ups only).
DRILL_DEMO_DIR := $(CURDIR)/.cache/drill-demo
test-molecule: services
	bash scripts/drill_host_image.sh
	DEMO_DIR=$(DRILL_DEMO_DIR) $(playbook) demo/make_releases.yml
	DRILL_DEMO_DIR=$(DRILL_DEMO_DIR) DRILL_APT_CACHE=$(CURDIR)/.cache/drill-apt $(BIN)/molecule test

.PHONY: bench bench-verify bench-tags bench-rollback bench-drill bench-noop bench-watch bench-incident bench-weekly
bench: bench-verify bench-tags bench-rollback bench-drill bench-watch bench-incident bench-weekly

# its own demo environments under .cache/bench (nginx 18380-18382, HAProxy 18390-18392) and a fleet of app hosts
bench-rollback: services
	$(PY) bench/bench_rollback.py

# the drill host image and releases as test-molecule makes them
bench-drill: services
	bash scripts/drill_host_image.sh
	DEMO_DIR=$(DRILL_DEMO_DIR) $(playbook) demo/make_releases.yml
	DRILL_DEMO_DIR=$(DRILL_DEMO_DIR) $(PY) bench/bench_drill.py

# its own demo environment under .cache/bench-incident, with its monitoring and ansible-rulebook (ports 19540-19549)
bench-incident: services eda-setup
	$(PY) bench/bench_incident.py

# its own demo environment under .cache/bench-watch (nginx 18370-18372) with a live release of 2 GiB
bench-watch: services
	$(PY) bench/bench_watch.py

# its own release store under .cache/bench-weekly: 100 signed releases, 10 GiB
bench-weekly: setup
	$(PY) bench/bench_weekly.py

bench-verify: setup
	$(PY) bench/bench_verify.py

bench-tags: setup
	$(PY) bench/bench_tags.py

# the peer bench_verify.py times `make verify-release-strict` against
bench-noop: setup
	$(playbook) bench/noop.yml
