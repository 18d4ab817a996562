# Sourced by scripts/test and scripts/bench: the set-up a fresh machine of this kind needs.
# Postgres and Redis answer (started if installed but stopped), a Kafka-protocol broker
# (tansu) is installed once and cached, the Socket.IO clients are installed from npm into the
# cache, build artifacts are cached outside the checkout.

cache="${CHAT_SUITE_CACHE:-$HOME/.cache/chat-suite}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
mkdir -p "$cache" "$CARGO_TARGET_DIR"

# Every checkout of the machine shares the build artifacts, but cargo decides what is up to
# date by comparing file times, with the workspace's paths relative to its root: an artifact
# that a later build in another checkout (a fresh clone, say) made looks up to date here,
# whatever this checkout's sources say. So when another checkout built last, every file of this
# one is made newer than the artifacts, and the workspace's own crates are built again from
# these sources (the dependencies stay cached).
checkout=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
if [ "$(cat "$CARGO_TARGET_DIR/.checkout" 2>/dev/null)" != "$checkout" ]; then
  git -C "$checkout" ls-files -z | (cd "$checkout" && xargs -0 touch -c --)
  printf '%s' "$checkout" >"$CARGO_TARGET_DIR/.checkout"
fi

say() { printf '==> %s\n' "$*"; }

# `stage NAME` ends the stage before it and starts NAME; `stage_times` prints how long each
# took, so a slow run says where its time went.
stage_names=()
stage_starts=()
stage() { say "$*"; stage_names+=("$*"); stage_starts+=("$SECONDS"); }
stage_times() {
  local i next
  say "time per stage"
  for i in "${!stage_names[@]}"; do
    next=${stage_starts[$((i + 1))]:-$SECONDS}
    printf '%5d s  %s\n' $((next - stage_starts[i])) "${stage_names[i]}"
  done
  printf '%5d s  in all\n' "$SECONDS"
}
die() { printf 'scripts/%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

wait_for() { # description, command...
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "$what did not come up within 30 s"
}

ensure_postgres() {
  if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then return; fi
  command -v pg_ctlcluster >/dev/null || die "PostgreSQL is not answering on 127.0.0.1:5432 and is not installed here (see ../shared/SERVICES.md)"
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_for "PostgreSQL" pg_isready -h 127.0.0.1 -p 5432
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then return; fi
  command -v redis-server >/dev/null || die "Redis is not answering on 127.0.0.1:6379 and is not installed here (see ../shared/SERVICES.md)"
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for "Redis" sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
}

# Tests and benchmarks start brokers of their own (each on a free port, so one can be killed).
ensure_tansu() {
  export TANSU_BIN="$cache/tansu/bin/tansu"
  if [ -x "$TANSU_BIN" ]; then return; fi
  say "installing tansu into $cache/tansu (once; several minutes)"
  # No registry this machine reaches offers it built, so it is compiled, at opt-level 1 (its
  # 520 crates in 6 min 18 s on a quiet 2-core machine): a test broker that carries a few
  # thousand messages needs no more.
  CARGO_TARGET_DIR="$cache/tansu-build" CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    cargo install tansu --version 0.6.0 --locked --features dynostore --root "$cache/tansu"
  rm -rf "$cache/tansu-build"
}

# The browser test (services/chat-suite/tests/web) drives the page at / in Debian's chromium
# through chromedriver. When they cannot be installed this only says so: that test then fails,
# naming what is missing, and the other tests still run.
ensure_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return; fi
  say "installing chromium and chromium-driver (once)"
  local install=(apt-get install -y --no-install-recommends chromium chromium-driver)
  if ! command -v apt-get >/dev/null; then
    say "no apt-get here to install chromium and chromium-driver: the browser test will fail"
  elif ! DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null &&
    ! { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null; }; then
    say "could not install chromium and chromium-driver: the browser test will fail"
  fi
}

# The official Socket.IO clients (v4, and v3 as the original service's page loads it) that the
# gateway's tests drive through testkit/socketio/driver.cjs: installed into the cache from the
# committed lock file, again only when that changes. The lock names no registry (this
# machine's npm omits `resolved`), so npm ci fetches from whichever one npm is set up for, and
# checks every package against the lock's integrity hash.
ensure_socketio_clients() {
  npm_ci_into_cache "$(dirname "${BASH_SOURCE[0]}")/../../testkit/socketio" "$cache/socketio-clients" \
    "the Socket.IO clients"
  export SOCKETIO_CLIENTS="$cache/socketio-clients/node_modules"
}

# http_ece, with which the Web Push stand-in (testkit/push/webpush-receiver.cjs, started by the
# notifier's tests through testkit::push::webpush) decrypts what the notifier encrypted: an
# implementation of RFC 8291 independent of ours. Installed into the cache from the committed
# lock file, again only when that changes; PUSH_TOOLS is the node_modules the receiver loads.
ensure_push_tools() {
  npm_ci_into_cache "$(dirname "${BASH_SOURCE[0]}")/../../testkit/push" "$cache/push-tools" \
    "the Web Push stand-in's packages"
  export PUSH_TOOLS="$cache/push-tools/node_modules"
}

# axe-core, which the web client's browser test injects into the page to check it against
# WCAG 2.1 AA (services/chat-suite/tests/web/accessibility.rs): from the committed lock file of
# testkit/axe into the cache, again only when that changes.
ensure_axe() {
  npm_ci_into_cache "$(dirname "${BASH_SOURCE[0]}")/../../testkit/axe" "$cache/axe" "axe-core"
  export AXE_CORE="$cache/axe/node_modules/axe-core/axe.min.js"
}

# npm_ci_into_cache FROM DIR WHAT: the npm project FROM (package.json and its lock), installed
# with npm ci into DIR, once per lock file.
npm_ci_into_cache() {
  local from=$1 dir=$2 what=$3 hash
  command -v node >/dev/null && command -v npm >/dev/null ||
    die "node and npm are needed for $what and are not installed here (apt-get install nodejs npm)"
  hash=$(cat "$from/package.json" "$from/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ -d "$dir/node_modules" ] && [ "$(cat "$dir/.installed" 2>/dev/null)" = "$hash" ]; then return; fi
  say "installing $what into $dir (once per lock file)"
  mkdir -p "$dir"
  rm -f "$dir/.installed"
  cp "$from/package.json" "$from/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci of $what failed in $dir"
  printf '%s' "$hash" >"$dir/.installed"
}

# The delivery benchmark's Socket.IO peer (testkit/socketio-peer): its modules in the cache,
# its scripts where they are.
ensure_socketio_peer() {
  local from
  from="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../testkit/socketio-peer" && pwd)"
  npm_ci_into_cache "$from" "$cache/socketio-peer" "the Socket.IO peer"
  export BENCH_SOCKETIO_PEER="$from" NODE_PATH="$cache/socketio-peer/node_modules"
}

# The end-to-end stage's proxy (scripts/e2e), run by the stage with a configuration of its own:
# ensure_nginx. A failure ends the stage (set -e).
# shellcheck source=scripts/lib/nginx.sh
source "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"
