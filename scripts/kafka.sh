#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft) on loopback, for the integration
# tests. Needs java (17+) and, for the first fetch, mvn.
#
#   scripts/kafka.sh fetch                   fetch the broker jars (once)
#   scripts/kafka.sh start [--dir D] [--owner PID]
#                                            start a broker; prints host:port
#   scripts/kafka.sh stop [--dir D]          stop it and remove its files
#
# D holds the broker's config, data, log (server.log) and pid file; it
# defaults to $TMPDIR/leads-kafka. With --owner, the broker is also stopped
# once process PID has exited (a test binary that did not stop it).
#
# Environment:
#   LEADS_KAFKA_CACHE   where the jars go (default ~/.cache/leads/kafka-<version>)
#   KAFKA_HEAP_OPTS     JVM heap options (default -Xms256m -Xmx768m)
#   KAFKA_START_TIMEOUT seconds to wait for the broker (default 120)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/../test/kafka/pom.xml"
version="$(grep -A1 "<artifactId>kafka_2.13</artifactId>" "$pom" | sed -n "s:.*<version>\(.*\)</version>.*:\1:p")"
cache="${LEADS_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leads/kafka-${version:-unknown}}"
lib="$cache/lib"

die() { echo "kafka.sh: $*" >&2; exit 1; }
say() { echo "kafka.sh: $*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed: $2"
}

fetch() {
  if [[ -f "$cache/fetched" ]] && compgen -G "$lib/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  need mvn "the broker's jars are fetched with Maven (Debian: apt-get install -y maven)"
  [[ -n "$version" ]] || die "no kafka_2.13 version in $pom"
  mkdir -p "$cache"
  local tmp
  tmp="$(mktemp -d "$cache/lib.XXXXXX")"
  say "fetching Apache Kafka $version into $lib"
  # Maven's own output goes to stderr, so stdout stays for the address.
  if ! mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DoutputDirectory="$tmp" \
    -Dmdep.overWriteIfNewer=true >&2; then
    rm -rf "$tmp"
    die "mvn could not fetch the broker (is Maven Central reachable?)"
  fi
  rm -rf "$lib"
  mv "$tmp" "$lib"
  echo "$version" >"$cache/fetched"
}

# free_port prints a loopback port nothing listens on now, below the
# kernel's ephemeral range so that no outgoing connection holds it.
free_port() {
  local p i lo=10000 hi=32767 eph
  if eph="$(cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)"; then
    eph="${eph%%[[:space:]]*}"
    if ((eph > lo + 1000)); then hi=$((eph - 1)); fi
  fi
  for i in $(seq 1 50); do
    p=$((lo + RANDOM % (hi - lo)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free loopback port found"
}

# show_failure prints the errors of a broker log and its last lines.
show_failure() {
  {
    grep -E "ERROR|Exception" "$1" | head -n 10 || true
    echo "... last lines of $1:"
    tail -n 15 "$1" || true
  } >&2
}

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# stop_dir stops the broker of a directory and removes the directory.
stop_dir() {
  local dir="$1" pid=""
  [[ -d "$dir" ]] || return 0
  [[ -f "$dir/kafka.pid" ]] && pid="$(cat "$dir/kafka.pid")"
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      alive "$pid" || break
      sleep 0.2
    done
    if alive "$pid"; then
      say "broker $pid did not stop within 20 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # Remove only what start created.
  if [[ -f "$dir/server.properties" ]]; then
    rm -rf "$dir"
  fi
}

# launch writes the config, formats the log directory and starts the
# broker in dir, then waits until it serves; on failure it sets
# launch_error and returns 1 with the broker stopped.
launch_error=""
launch() {
  local dir="$1" port cport uuid pid
  port="$(free_port)"
  cport="$(free_port)"
  while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
# As in production, topics are created on purpose, not by producing.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests use short session timeouts so a stopped member's partitions move
# quickly; the default minimum is 6 s.
group.min.session.timeout.ms=500
group.initial.rebalance.delay.ms=0
EOF
  uuid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
  if ! java -cp "$lib/*" kafka.tools.StorageTool format -t "$uuid" -c "$dir/server.properties" \
    >"$dir/server.log" 2>&1; then
    launch_error="formatting the log directory failed"
    return 1
  fi

  # The broker and the watchdog get no terminal and no pipes: a caller
  # reading start's output must not wait for them.
  # shellcheck disable=SC2086
  setsid java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m} -XX:+UseG1GC -Djava.awt.headless=true \
    -cp "$lib/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >"$dir/server.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/kafka.pid"
  echo "127.0.0.1:$port" >"$dir/bootstrap"

  local timeout="${KAFKA_START_TIMEOUT:-120}" waited=0
  until grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null &&
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! alive "$pid"; then
      launch_error="the broker exited while starting"
      return 1
    fi
    if ((waited >= timeout * 5)); then
      launch_error="the broker was not ready within ${timeout} s"
      kill -KILL "$pid" 2>/dev/null || true
      return 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
}

start() {
  local dir="" owner=""
  while (($#)); do
    case "$1" in
      --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
      --owner) owner="${2:?--owner needs a pid}"; shift 2 ;;
      *) die "start: unknown argument $1" ;;
    esac
  done
  dir="${dir:-${TMPDIR:-/tmp}/leads-kafka}"
  need java "the broker runs on Java 17 or later (Debian: apt-get install -y openjdk-17-jre-headless)"
  fetch
  if [[ -f "$dir/kafka.pid" ]] && alive "$(cat "$dir/kafka.pid")"; then
    die "a broker already runs from $dir (pid $(cat "$dir/kafka.pid")); stop it first"
  fi
  mkdir -p "$dir"
  [[ -z "$(ls -A "$dir")" ]] || die "$dir is not empty"
  dir="$(cd "$dir" && pwd)"

  local attempt port pid
  for attempt in 1 2 3; do
    if launch "$dir"; then
      break
    fi
    # Another process may have taken a port between the check and the
    # bind: try again on new ones.
    if ((attempt < 3)) && grep -q "Address already in use" "$dir/server.log" 2>/dev/null; then
      say "a port was taken meanwhile; retrying on others"
      find "$dir" -mindepth 1 -delete
      continue
    fi
    show_failure "$dir/server.log"
    stop_dir "$dir"
    die "$launch_error (log above)"
  done
  port="$(cat "$dir/bootstrap")"
  port="${port##*:}"
  pid="$(cat "$dir/kafka.pid")"

  if [[ -n "$owner" ]]; then
    setsid bash -c '
      while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
      exec "$3" stop --dir "$4"' watchdog "$owner" "$pid" "$here/kafka.sh" "$dir" \
      </dev/null >/dev/null 2>&1 &
  fi
  say "Apache Kafka $version (pid $pid) ready at 127.0.0.1:$port; files in $dir"
  echo "127.0.0.1:$port"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  fetch) fetch; say "Apache Kafka $version jars in $lib" ;;
  start) start "$@" ;;
  stop)
    dir="${TMPDIR:-/tmp}/leads-kafka"
    while (($#)); do
      case "$1" in
        --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
        *) die "stop: unknown argument $1" ;;
      esac
    done
    stop_dir "$dir"
    ;;
  *) die "usage: kafka.sh fetch | start [--dir DIR] [--owner PID] | stop [--dir DIR]" ;;
esac
