# Shared helpers for Cairn's scripts. Sourced, not run.

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# C/C++ dependencies (RocksDB) get no debug info from the release profile
# (debug = false). Do not set CFLAGS/CXXFLAGS here: RocksDB's build script
# reruns, and recompiles all its C++, whenever they differ from the last build.

step() { printf '\n== %s\n' "$*"; }

as_root() {
  if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [[ ${#missing[@]} == 0 ]] && return 0
  echo "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# RocksDB's bindings need libclang (bindgen) and a C++ compiler.
ensure_build_deps() {
  apt_install libclang-dev clang g++ make python3 curl
}

ensure_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
  fi
}

# The explorer's browser test (node/tests/browser.rs) drives Debian's chromium
# with playwright-core (pinned in tests/browser/package-lock.json), which needs
# node 20 or newer. No `playwright install`: it downloads a browser build.
ensure_browser() {
  [[ -x /usr/bin/chromium ]] || apt_install chromium
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if (( major < 20 )); then
    echo "node $(node --version) is too old for playwright-core: install node 20 or newer"
    return 1
  fi
  local dir=tests/browser
  if [[ ! -d $dir/node_modules/playwright-core || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
    npm ci --prefix "$dir" --no-audit --no-fund
  fi
}

# consensus, mempool and types never pull in tokio, libp2p, rocksdb or axum.
check_walls() {
  local crate dep tree bad=0
  for crate in cairn-types cairn-consensus cairn-mempool; do
    tree=$(cargo tree -p "$crate" -e normal --prefix none --locked) || return 1
    for dep in tokio libp2p rocksdb librocksdb-sys axum; do
      if grep -q "^$dep v" <<<"$tree"; then
        echo "$crate depends on $dep"; bad=1
      fi
    done
  done
  [[ $bad == 0 ]] && echo "types, consensus and mempool are free of tokio, libp2p, rocksdb and axum"
  return $bad
}

cairn_bin() { echo "$CARGO_TARGET_DIR/release/cairn"; }

# The common start of the fault scripts: CHAOS_SECONDS (default $2), a fresh
# CHAOS_DIR, CAIRN_STARTING_PORT (default $3), a release build, CAIRN_BIN,
# and the header line with the commit, the date and the work dir.
chaos_prologue() { # NAME DEFAULT_SECONDS DEFAULT_PORT
  export CHAOS_SECONDS=${CHAOS_SECONDS:-$2}
  export CHAOS_DIR=${CHAOS_DIR:-$(mktemp -d "/tmp/cairn-$1.XXXXXX")}
  export CAIRN_STARTING_PORT=${CAIRN_STARTING_PORT:-$3}
  ensure_build_deps
  cargo build --release --locked >&2
  CAIRN_BIN=$(cairn_bin)
  export CAIRN_BIN
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), $(date -u +%Y-%m-%dT%H:%MZ); work dir $CHAOS_DIR"
}
