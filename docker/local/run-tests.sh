#!/usr/bin/env bash
# What `make test` runs: provision Prometheus and a real Apache Kafka broker, run the whole
# pytest suite (unit, integration and e2e markers) against them, stop what was started.
#
#   VENV=.venv docker/local/run-tests.sh [pytest args...]
#
# STREAMLEARN_TEST_KAFKA=host:port set: that broker is used and none is started (tests that
# restart the broker then need STREAMLEARN_TEST_KAFKA_DIR, its kafka.sh directory, or fail).
# Exits with pytest's status; "no tests collected" (pytest's 5) is a failure too.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
section() { printf '\n===== %s =====\n' "$*"; }
die() { echo "run-tests.sh: error: $*" >&2; exit 1; }

[[ -x "$PY" ]] || die "no python at $PY (run: make install)"

started_dir=""
workdir="$(mktemp -d "${TMPDIR:-/tmp}/streamlearn-tests.XXXXXX")"

cleanup() {
    local rc=$?
    if [[ -n "$started_dir" ]]; then
        echo "stopping the test broker" >&2
        KAFKA_DIR="$started_dir" "$HERE/kafka.sh" down >>"$workdir/kafka-down.log" 2>&1 ||
            echo "run-tests.sh: warning: kafka.sh down failed (see $workdir/kafka-down.log)" >&2
        started_dir=""
    fi
    rm -rf "$workdir"
    return "$rc"
}
pytest_job=""
# shellcheck disable=SC2317 # called from the traps below
on_signal() {
    # Stop pytest first (it runs in the background so that a signal is handled at once),
    # then exit: the EXIT trap stops the broker.
    if [[ -n "$pytest_job" ]]; then
        pkill -TERM -P "$pytest_job" 2>/dev/null || true
        wait "$pytest_job" 2>/dev/null || true
    fi
    exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

section "Prometheus"
prometheus_bin="$("$HERE/prometheus.sh" install)"
echo "prometheus: $prometheus_bin ($("$prometheus_bin" --version 2>&1 | head -n 1))"

section "Kafka"
if [[ -n "${STREAMLEARN_TEST_KAFKA:-}" ]]; then
    echo "using the broker given by STREAMLEARN_TEST_KAFKA=$STREAMLEARN_TEST_KAFKA"
else
    "$HERE/kafka.sh" fetch >/dev/null
    ports="$("$PY" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
')"
    read -r kafka_port controller_port <<<"$ports"
    started_dir="$workdir/kafka"
    t0=$(date +%s)
    addr="$(KAFKA_DIR="$started_dir" KAFKA_PORT="$kafka_port" KAFKA_CONTROLLER_PORT="$controller_port" \
        PYTHON="$PY" "$HERE/kafka.sh" up)"
    echo "broker at $addr (dir $started_dir), up in $(($(date +%s) - t0)) s"
    export STREAMLEARN_TEST_KAFKA="$addr"
    export STREAMLEARN_TEST_KAFKA_DIR="$started_dir"
fi
# Under make test nothing a test needs may be missing: such tests fail instead of skipping.
export STREAMLEARN_TEST_REQUIRE_ALL=1

section "pytest"
color=()
[[ -t 1 ]] && color=(--color=yes)
(
    "$PY" -m pytest "${color[@]}" "$@" 2>&1 | tee "$workdir/pytest.out"
    exit "${PIPESTATUS[0]}"
) &
pytest_job=$!
set +e
wait "$pytest_job"
status=$?
set -e
pytest_job=""
summary="$(sed 's/\x1b\[[0-9;]*m//g' "$workdir/pytest.out" |
    grep -E '(passed|failed|errors?|skipped|deselected|no tests ran).* in [0-9.]+s' | tail -n 1 || true)"

section "done"
cleanup
trap - EXIT
if [[ "$status" == 5 ]]; then
    echo "run-tests.sh: pytest collected no tests: that is a failure" >&2
fi
echo "pytest exit status: $status"
# pytest's closing line last, after the clean-up messages.
[[ -n "$summary" ]] && echo "$summary"
exit "$status"
