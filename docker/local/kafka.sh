#!/usr/bin/env bash
# A local Apache Kafka broker for tests and manual runs: one combined KRaft node on 127.0.0.1.
#
#   docker/local/kafka.sh fetch    download the broker jars from Maven Central (cached)
#   docker/local/kafka.sh up       fetch if needed, format storage once, start, wait until it
#                                  answers; prints the bootstrap address as the LAST line
#                                  (idempotent: already running -> just prints the address)
#   docker/local/kafka.sh down     stop it and delete its data directory
#   docker/local/kafka.sh stop     stop it, keeping its data (same node, same topics, offsets)
#   docker/local/kafka.sh start    start a stopped broker again from its kept data
#   docker/local/kafka.sh status   say whether it runs (exit 0) or not (exit 3)
#
# Environment:
#   KAFKA_PORT             client port (default 19092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default 19093)
#   KAFKA_SASL_SSL_PORT    also a SASL_SSL listener on this port (default: none), set when the
#                          broker is first set up ('up'): a test CA and broker certificate for
#                          "localhost" made with the JDK's keytool, SCRAM-SHA-256/512 and PLAIN
#                          users admin, streamlearn and producer (random passwords), and ACLs
#                          enforced (StandardAuthorizer; admin and the PLAINTEXT listener are
#                          super users). Everything a client needs is in $KAFKA_DIR/secure:
#                          bootstrap (localhost:PORT), ca.pem, <user>.password
#   KAFKA_DIR              config, data, logs and pid file (default <repo>/var/kafka)
#   KAFKA_VERSION          org.apache.kafka:kafka_2.13 version (default 4.1.1)
#   KAFKA_HEAP             JVM heap (default 512m)
#   KAFKA_JAVA_OPTS        JVM tuning options, word-split (default: serial GC, C1 JIT only,
#                          which halves start-up on a small machine; a test broker needs no C2)
#   KAFKA_READY_TIMEOUT    seconds to wait for readiness (default 90)
#   STREAMLEARN_CACHE      cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/streamlearn)
#   PYTHON                 a python with kafka-python (default $VENV/bin/python, .venv, python3)
#
# Progress goes to stderr; stdout gets only the bootstrap address (so ADDR=$(kafka.sh up) works).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_DIR="${KAFKA_DIR:-$ROOT/var/kafka}"
KAFKA_HEAP="${KAFKA_HEAP:-512m}"
KAFKA_READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-90}"
KAFKA_JAVA_OPTS="${KAFKA_JAVA_OPTS--XX:+UseSerialGC -XX:TieredStopAtLevel=1}"
CACHE_ROOT="${STREAMLEARN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/streamlearn}"
CACHE="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$CACHE/libs"
POM="$HERE/kafka/pom.xml"
LOG4J_CONF="$HERE/kafka/log4j2.properties"

CONF="$KAFKA_DIR/server.properties"
DATA="$KAFKA_DIR/data"
LOGS="$KAFKA_DIR/logs"
PIDFILE="$KAFKA_DIR/kafka.pid"
ADDRFILE="$KAFKA_DIR/bootstrap"
MARKER="$KAFKA_DIR/.streamlearn-kafka"
SECURE="$KAFKA_DIR/secure"
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-}"
SASL_USERS=(admin streamlearn producer)

say() { echo "kafka.sh: $*" >&2; }
die() { echo "kafka.sh: error: $*" >&2; exit 1; }

pick_python() {
    if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"; return; fi
    if [[ -n "${VENV:-}" && -x "$VENV/bin/python" ]]; then echo "$VENV/bin/python"; return; fi
    if [[ -x "$ROOT/.venv/bin/python" ]]; then echo "$ROOT/.venv/bin/python"; return; fi
    command -v python3 || die "no python found (set PYTHON to a python with kafka-python)"
}

# --- fetch -----------------------------------------------------------------------------------

# The cache is valid when its stamp names the same pom (by content) and Kafka version.
cache_key() { echo "$KAFKA_VERSION $(sha256sum "$POM" | cut -d' ' -f1)"; }

cmd_fetch() {
    local stamp="$CACHE/.complete" key
    key="$(cache_key)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn (Maven) is needed to fetch the Kafka jars"
    command -v java >/dev/null || die "java (17+) is needed to run Kafka"
    mkdir -p "$CACHE"
    # One fetch at a time per cache folder (parallel test sessions share it).
    exec 9>"$CACHE/.lock"
    flock 9
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
        exec 9>&-
        return 0
    fi
    say "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its dependencies into $LIBS"
    local tmp="$CACHE/libs.tmp.$$"
    rm -rf "$tmp"
    if ! mvn -q -B -Dstyle.color=never -f "$POM" package -Dkafka.version="$KAFKA_VERSION" \
        -Dkafka.libs.dir="$tmp" >"$CACHE/mvn.log" 2>&1; then
        sed 's/\x1b\[[0-9;]*m//g' "$CACHE/mvn.log" >&2
        rm -rf "$tmp"
        die "Maven could not fetch the Kafka jars (see above)"
    fi
    [[ -n "$(ls "$tmp"/kafka_2.13-*.jar 2>/dev/null)" ]] || die "no kafka_2.13 jar in $tmp after mvn package"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    echo "$key" >"$stamp"
    exec 9>&-
    say "cached $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
}

# --- process state -----------------------------------------------------------------------------

running_pid() {
    # Prints the broker's pid when the pid file names a live kafka.Kafka process of this dir.
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF" || return 1
    echo "$pid"
}

bootstrap() { cat "$ADDRFILE"; }

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

check_ports() {
    if port_in_use "$1"; then
        die "port $1 is already taken by another process (set KAFKA_PORT, or KAFKA_DIR for another set-up)"
    fi
    if port_in_use "$2"; then
        die "controller port $2 is already taken by another process (set KAFKA_CONTROLLER_PORT)"
    fi
    if [[ -n "${3:-}" ]] && port_in_use "$3"; then
        die "SASL_SSL port $3 is already taken by another process (set KAFKA_SASL_SSL_PORT)"
    fi
}

# --- the SASL_SSL listener: certificates and users ---------------------------------------------

random_secret() { head -c 18 /dev/urandom | base64 | tr -d '/+=\n'; }

# A test CA, and the broker's certificate for "localhost" signed by it (the JDK's keytool only:
# nothing else is needed). The CA's certificate goes to ca.pem for the clients.
make_certificates() {
    command -v keytool >/dev/null || die "keytool (from the JDK) is needed for the SASL_SSL listener"
    local pass
    pass="$(random_secret)"
    (umask 077 && mkdir -p "$SECURE" && echo "$pass" >"$SECURE/store.password")
    local kt=(keytool -J-XX:TieredStopAtLevel=1 -storetype PKCS12 -storepass "$pass")
    "${kt[@]}" -genkeypair -keystore "$SECURE/ca.p12" -alias ca -keyalg EC -groupname secp256r1 \
        -dname "CN=streamlearn test CA" -ext bc:c -validity 3650 >/dev/null 2>&1 ||
        die "keytool could not make the test CA"
    "${kt[@]}" -exportcert -rfc -keystore "$SECURE/ca.p12" -alias ca -file "$SECURE/ca.pem" >/dev/null 2>&1
    "${kt[@]}" -genkeypair -keystore "$SECURE/broker.p12" -alias broker -keyalg EC \
        -groupname secp256r1 -dname "CN=localhost" -validity 3650 >/dev/null 2>&1 ||
        die "keytool could not make the broker key"
    "${kt[@]}" -certreq -keystore "$SECURE/broker.p12" -alias broker -file "$SECURE/broker.csr" >/dev/null 2>&1
    "${kt[@]}" -gencert -keystore "$SECURE/ca.p12" -alias ca -infile "$SECURE/broker.csr" \
        -outfile "$SECURE/broker.crt" -rfc -ext "SAN=dns:localhost" -validity 3650 >/dev/null 2>&1 ||
        die "keytool could not sign the broker certificate"
    "${kt[@]}" -importcert -noprompt -keystore "$SECURE/broker.p12" -alias ca -file "$SECURE/ca.pem" >/dev/null 2>&1
    "${kt[@]}" -importcert -keystore "$SECURE/broker.p12" -alias broker -file "$SECURE/broker.crt" >/dev/null 2>&1 ||
        die "keytool could not import the broker certificate"
    rm -f "$SECURE/broker.csr"
    local user
    for user in "${SASL_USERS[@]}"; do
        (umask 077 && random_secret >"$SECURE/$user.password")
    done
    echo "localhost:$KAFKA_SASL_SSL_PORT" >"$SECURE/bootstrap"
}

secure_config() {
    local user plain="" pass
    pass="$(cat "$SECURE/store.password")"
    for user in "${SASL_USERS[@]}"; do
        plain+=" user_$user=\"$(cat "$SECURE/$user.password")\""
    done
    cat <<EOF

# A SASL_SSL listener (docker/local/kafka.sh, KAFKA_SASL_SSL_PORT): TLS with a test CA, SASL
# PLAIN and SCRAM users, ACLs enforced. The PLAINTEXT listener (ANONYMOUS) and admin are super
# users: the test harness sets up topics and ACLs through them.
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
ssl.keystore.type=PKCS12
ssl.keystore.location=$SECURE/broker.p12
ssl.keystore.password=$pass
ssl.key.password=$pass
ssl.client.auth=none
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin
EOF
}

# --add-scram arguments of the storage tool (NUL-separated): every user, both SCRAM mechanisms.
scram_args() {
    local user mech
    for user in "${SASL_USERS[@]}"; do
        for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
            printf '%s\0%s\0' --add-scram "$mech=[name=$user,password=$(cat "$SECURE/$user.password")]"
        done
    done
}

write_config() {
    mkdir -p "$DATA" "$LOGS"
    : >"$MARKER"
    local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT" advertised="PLAINTEXT://127.0.0.1:$KAFKA_PORT"
    if [[ -n "$KAFKA_SASL_SSL_PORT" ]]; then
        make_certificates
        listeners+=",SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT"
        advertised+=",SASL_SSL://localhost:$KAFKA_SASL_SSL_PORT"
    fi
    cat >"$CONF" <<EOF
# Written by docker/local/kafka.sh: a single combined KRaft node for tests, on loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA

# One node: every internal topic has one replica, and few partitions (fast to create).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
default.replication.factor=1
min.insync.replicas=1
num.partitions=1
auto.create.topics.enable=true
delete.topic.enable=true

# Quick group joins in tests.
group.initial.rebalance.delay.ms=0

# Small segments and few threads: a test broker on a small machine.
log.segment.bytes=8388608
log.retention.hours=24
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
EOF
    if [[ -n "$KAFKA_SASL_SSL_PORT" ]]; then
        secure_config >>"$CONF"
    else
        echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT" >>"$CONF"
    fi
    echo "127.0.0.1:$KAFKA_PORT" >"$ADDRFILE"
}

format_storage() {
    local cluster_id
    # A cluster id is a uuid as 22 characters of url-safe base64 without padding.
    # It must not start with '-': the storage tool would read it as an option (1 run in 64).
    cluster_id="-"
    while [[ "$cluster_id" == -* ]]; do
        cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    say "formatting KRaft storage in $DATA (cluster $cluster_id)"
    local scram=()
    if [[ -d "$SECURE" ]]; then
        mapfile -d '' scram < <(scram_args)
    fi
    java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$LOGS" \
        kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$CONF" "${scram[@]}" \
        >"$LOGS/format.out" 2>&1 || {
        cat "$LOGS/format.out" >&2
        die "formatting the KRaft storage failed"
    }
}

wait_ready() {
    local pid="$1" addr="$2" python
    python="$(pick_python)"
    "$python" - "$addr" "$pid" "$KAFKA_READY_TIMEOUT" <<'PY'
"""Wait until the broker answers a metadata request that lists it (or its process dies)."""

import logging
import os
import sys
import time

addr, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
logging.disable(logging.CRITICAL)  # kafka-python logs every refused connection
try:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaConfigurationError
except ImportError:
    sys.exit(f"kafka-python is not installed for {sys.executable} (set PYTHON)")

deadline = time.monotonic() + timeout
last = "no answer yet"
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("the broker process exited during start-up")
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=addr, request_timeout_ms=5000, bootstrap_timeout_ms=5000
        )
        try:
            cluster = admin.describe_cluster()
            admin.list_topics()
        finally:
            admin.close()
        if cluster.get("brokers"):
            sys.exit(0)
        last = "metadata lists no broker yet"
    except (KafkaConfigurationError, TypeError) as exc:  # our bug, not the broker's state
        sys.exit(f"readiness check is misconfigured: {exc}")
    except Exception as exc:  # any other failure means "not ready yet"
        last = f"{type(exc).__name__}: {exc}"
    time.sleep(0.5)
sys.exit(f"the broker at {addr} did not answer within {timeout:.0f} s (last: {last})")
PY
}

log_tail() {
    local f
    for f in "$LOGS/kafka.out" "$LOGS/broker.log"; do
        if [[ -s "$f" ]]; then
            echo "----- last lines of $f -----" >&2
            tail -n 40 "$f" >&2
        fi
    done
}

start_broker() {
    local addr t0 pid
    addr="$(bootstrap)"
    check_ports "${addr##*:}" "$(sed -n 's/^controller.quorum.bootstrap.servers=.*://p' "$CONF")"
    t0=$(date +%s%3N)
    say "starting Kafka $KAFKA_VERSION at $addr (dir $KAFKA_DIR)"
    # setsid: its own session, so a Ctrl-C in the calling terminal does not kill it half-way;
    # the shell writes its own pid, then execs java (the pid file names the JVM itself).
    # shellcheck disable=SC2086,SC2016 # KAFKA_JAVA_OPTS is word-split; $$ is the inner shell's
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
        java -Xms128m -Xmx"$KAFKA_HEAP" -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true $KAFKA_JAVA_OPTS \
        -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$LOGS" \
        -cp "$LIBS/*" kafka.Kafka "$CONF" \
        </dev/null >>"$LOGS/kafka.out" 2>&1 &
    for _ in $(seq 50); do [[ -s "$PIDFILE" ]] && break; sleep 0.1; done
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ -n "$pid" ]] || die "the broker did not start (no pid file)"
    if ! wait_ready "$pid" "$addr"; then
        log_tail
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$PIDFILE"
        die "Kafka did not become ready (see the log tail above; logs in $LOGS)"
    fi
    local ms=$(($(date +%s%3N) - t0))
    say "ready in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s (pid $pid)"
}

# --- commands ----------------------------------------------------------------------------------

cmd_up() {
    if running_pid >/dev/null; then
        say "already running (pid $(running_pid))"
        bootstrap
        return 0
    fi
    cmd_fetch
    if [[ -f "$DATA/meta.properties" && -f "$CONF" ]]; then
        say "reusing the existing data in $KAFKA_DIR"
    else
        check_ports "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_SSL_PORT"
        rm -rf "$DATA" "$SECURE"
        write_config
        format_storage
    fi
    start_broker
    bootstrap
}

cmd_start() {
    if running_pid >/dev/null; then
        say "already running (pid $(running_pid))"
        bootstrap
        return 0
    fi
    [[ -f "$DATA/meta.properties" && -f "$CONF" ]] ||
        die "no broker data in $KAFKA_DIR to start from (use 'up')"
    cmd_fetch
    start_broker
    bootstrap
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PIDFILE"
        say "not running"
        return 0
    fi
    say "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do
        [[ -d "/proc/$pid" ]] || break
        sleep 0.1
    done
    if [[ -d "/proc/$pid" ]]; then
        say "still alive after 30 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do [[ -d "/proc/$pid" ]] || break; sleep 0.1; done
    fi
    rm -f "$PIDFILE"
}

cmd_down() {
    cmd_stop
    if [[ -d "$KAFKA_DIR" ]]; then
        # Only ever delete a directory this script set up.
        if [[ -f "$MARKER" ]]; then
            rm -rf "$KAFKA_DIR"
            say "removed $KAFKA_DIR"
        else
            say "left $KAFKA_DIR alone (not made by kafka.sh)"
        fi
    fi
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running: pid $pid, bootstrap $(bootstrap), dir $KAFKA_DIR"
        return 0
    fi
    if [[ -f "$DATA/meta.properties" ]]; then
        echo "stopped: data kept in $KAFKA_DIR (start with: $0 start)"
    else
        echo "not set up (dir $KAFKA_DIR)"
    fi
    return 3
}

case "${1:-}" in
    fetch) cmd_fetch; echo "$LIBS" ;;
    up) cmd_up ;;
    down) cmd_down ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 up|down|start|stop|status|fetch" >&2
        exit 2
        ;;
esac
