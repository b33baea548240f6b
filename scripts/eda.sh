#!/usr/bin/env bash
# Event-Driven Ansible for the incident rulebook (extensions/eda/rulebooks/incident.yml): ansible-rulebook in the
# virtualenv (pinned in requirements.in and constraints.txt) and the Java runtime its rules engine needs (Debian's
# openjdk-17-jre-headless), each installed only when missing; then, with `run`, the rulebook itself in the
# foreground: Alertmanager's webhook on 127.0.0.1:19500/alerts (extensions/eda/vars/incident.yml) runs the
# incident procedure for the alerting environment.
# Idempotent; installing needs root. Usage: eda.sh [install|run]
#
#   VENV           the virtualenv (default .venv)
#   JAVA_HOME      default /usr/lib/jvm/java-17-openjdk-amd64
#   EDA_INVENTORY  the inventory directory the playbook runs against (default inventories/local; a directory, so
#                  its group_vars travel with it: ansible-rulebook copies the inventory into a temporary directory)
#   EDA_VARS       the rulebook's variables (default extensions/eda/vars/incident.yml)
#   DEMO_DIR       the local inventory's demo directory (default .demo)
#   MAESTRO_EDA_TOKEN  a bearer token the webhook must carry (optional on loopback)
set -euo pipefail

VENV=${VENV:-.venv}
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}
EDA_INVENTORY=${EDA_INVENTORY:-$PWD/inventories/local}
EDA_VARS=${EDA_VARS:-$PWD/extensions/eda/vars/incident.yml}
JAVA_PACKAGE=openjdk-17-jre-headless

die() { echo "eda: $*" >&2; exit 2; }

install_missing() {
  if ! command -v java >/dev/null 2>&1 || [ ! -x "$JAVA_HOME/bin/java" ]; then
    echo "eda: installing $JAVA_PACKAGE"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$JAVA_PACKAGE" >/dev/null
  fi
  [ -x "$JAVA_HOME/bin/java" ] || die "JAVA_HOME is '$JAVA_HOME', which holds no bin/java: expected Java 17 ($JAVA_PACKAGE)"
  if [ ! -x "$VENV/bin/ansible-rulebook" ]; then
    [ -x "$VENV/bin/pip" ] || die "no virtualenv at $VENV: run make setup first"
    echo "eda: installing ansible-rulebook into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check ansible-rulebook -c constraints.txt
  fi
  "$VENV/bin/ansible-rulebook" --version >/dev/null || die "ansible-rulebook in $VENV does not start"
}

run() {
  [ -d "$EDA_INVENTORY" ] || die "EDA_INVENTORY is '$EDA_INVENTORY': expected an inventory directory"
  [ -f "$EDA_VARS" ] || die "EDA_VARS is '$EDA_VARS': expected the rulebook's variables file"
  # ansible-rulebook looks for ansible-galaxy on PATH (the venv's first), and finds the collection's rulebook,
  # source and playbook through ansible.cfg's collections_path
  PATH="$(cd "$VENV/bin" && pwd):$PATH"
  export PATH
  export ANSIBLE_CONFIG=${ANSIBLE_CONFIG:-$PWD/ansible.cfg}
  # the local inventory finds .demo relative to itself, which its temporary copy cannot
  export DEMO_DIR=${DEMO_DIR:-$PWD/.demo}
  exec ansible-rulebook -r maestro.conductor.incident -i "$EDA_INVENTORY" -e "$EDA_VARS" -v
}

case "${1:-install}" in
  install) install_missing ;;
  run) install_missing; run ;;
  *) echo "usage: $0 [install|run]" >&2; exit 2 ;;
esac
