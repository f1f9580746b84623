#!/bin/sh
# Install condafarm on a Linux or macOS worker host for every job user.
#
# Customer-managed fleets: run once per host as root (sudo sh install_condafarm.sh).
# Service-managed fleets (Linux): paste this file as the fleet's host configuration script
#   (Deadline Cloud console: Fleet > Configurations > Worker configuration > Host configuration script).
#
# It creates a virtual environment at $CONDAFARM_HOME (default /opt/condafarm), pip-installs
# $CONDAFARM_PIP_SPEC into it (default: condafarm; a wheel path or URL works too), links `condafarm` and
# `condafarm-worker` into $CONDAFARM_BIN (default /usr/local/bin) so job users find them on PATH, and runs
# both once. Re-running upgrades in place. Needs Python 3.10+ (installs python3.11 with dnf if missing).
set -eu

CONDAFARM_HOME="${CONDAFARM_HOME:-/opt/condafarm}"
CONDAFARM_BIN="${CONDAFARM_BIN:-/usr/local/bin}"
CONDAFARM_PIP_SPEC="${CONDAFARM_PIP_SPEC:-condafarm}"

say() { printf 'install_condafarm: %s\n' "$*"; }

find_python() {
    for candidate in "${CONDAFARM_PYTHON:-}" python3.13 python3.12 python3.11 python3.10 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

PYTHON="$(find_python || true)"
if [ -z "$PYTHON" ] && command -v dnf >/dev/null 2>&1; then
    say "no Python 3.10+ found; installing python3.11 with dnf"
    dnf install -y -q python3.11
    PYTHON="$(find_python || true)"
fi
if [ -z "$PYTHON" ]; then
    say "error: Python 3.10 or newer is needed; install it (or set CONDAFARM_PYTHON) and run this again" >&2
    exit 1
fi

say "using $PYTHON ($("$PYTHON" --version 2>&1)); installing $CONDAFARM_PIP_SPEC into $CONDAFARM_HOME"
[ -x "$CONDAFARM_HOME/bin/python" ] || "$PYTHON" -m venv "$CONDAFARM_HOME"
# shellcheck disable=SC2086  # CONDAFARM_PIP_ARGS is a list of extra pip flags (e.g. --no-index --find-links DIR)
"$CONDAFARM_HOME/bin/python" -m pip install --quiet --upgrade ${CONDAFARM_PIP_ARGS:-} pip
"$CONDAFARM_HOME/bin/python" -m pip install --quiet --upgrade ${CONDAFARM_PIP_ARGS:-} "$CONDAFARM_PIP_SPEC"
chmod -R a+rX "$CONDAFARM_HOME"

mkdir -p "$CONDAFARM_BIN"
for tool in condafarm condafarm-worker; do
    ln -sf "$CONDAFARM_HOME/bin/$tool" "$CONDAFARM_BIN/$tool"
done

"$CONDAFARM_BIN/condafarm" --version
"$CONDAFARM_BIN/condafarm-worker" --version
say "done: job users run $CONDAFARM_BIN/condafarm and $CONDAFARM_BIN/condafarm-worker"
