#!/usr/bin/env bash
# A local Cairn test network on 127.0.0.1.
#   scripts/testnet.sh up       build if needed, generate N validators, start them, wait for blocks
#   scripts/testnet.sh down     stop the nodes this script started (by pid)
#   scripts/testnet.sh status   each node's height
#   scripts/testnet.sh logs [i] follow node i's log (default 0)
# Environment: CAIRN_TESTNET_DIR (default ./testnet), CAIRN_VALIDATORS (default 4),
# CAIRN_STARTING_PORT (default 26656), CARGO_TARGET_DIR (default ./target).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DIR=${CAIRN_TESTNET_DIR:-$PWD/testnet}
VALIDATORS=${CAIRN_VALIDATORS:-4}
PORT=${CAIRN_STARTING_PORT:-26656}
CAIRN=$(cairn_bin)

rpc_urls() {
  python3 -c 'import json,sys; [print(n["rpc_url"]) for n in json.load(open(sys.argv[1]))["nodes"]]' "$DIR/nodes.json"
}
homes() {
  python3 -c 'import json,sys; [print(n["home"]) for n in json.load(open(sys.argv[1]))["nodes"]]' "$DIR/nodes.json"
}
height() {
  curl -s -m 2 "$1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["sync_info"]["latest_block_height"])' 2>/dev/null || true
}

build() {
  ensure_build_deps
  step "building cairn (release)"
  cargo build --release --locked
}

up() {
  build
  if [[ -f $DIR/pids ]] && any_running; then
    echo "testnet.sh: a testnet is already running from $DIR (run down first)"; exit 1
  fi
  mkdir -p "$DIR"
  step "generating $VALIDATORS validators in $DIR"
  "$CAIRN" testnet --validators "$VALIDATORS" --output "$DIR/net" --starting-port "$PORT" --overwrite >"$DIR/testnet.log"
  cp "$DIR/net/nodes.json" "$DIR/nodes.json"
  if ! "$CAIRN" start --help >/dev/null 2>&1; then
    echo "testnet.sh: generated the homes and $DIR/nodes.json, but this build of cairn has no 'start' command yet, so no node was started"
    exit 1
  fi
  step "starting nodes"
  mkdir -p "$DIR/logs"; : >"$DIR/pids"
  local i=0
  while read -r home; do
    nohup "$CAIRN" start --home "$home" >"$DIR/logs/node$i.log" 2>&1 &
    echo $! >>"$DIR/pids"; i=$((i+1))
  done < <(homes)
  step "waiting for blocks"
  local url; url=$(rpc_urls | sed -n 1p)  # sed reads all: head would close the pipe on python
  for ((t=0; t<120; t++)); do
    h=$(height "$url"); [[ -n $h && $h -ge 2 ]] && break; sleep 1
  done
  [[ -n ${h:-} && $h -ge 2 ]] || { echo "testnet.sh: no blocks after 120 s; see $DIR/logs"; exit 1; }
  echo "committing blocks (height $h). Nodes:"
  rpc_urls | while read -r u; do echo "  $u   explorer: $u/explorer"; done
  echo "logs: $DIR/logs   stop: scripts/testnet.sh down"
}

any_running() {
  local pid
  while read -r pid; do kill -0 "$pid" 2>/dev/null && return 0; done <"$DIR/pids"
  return 1
}

down() {
  [[ -f $DIR/pids ]] || { echo "testnet.sh: nothing started from $DIR"; return 0; }
  local pid
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$DIR/pids"
  for ((t=0; t<20; t++)); do any_running || break; sleep 0.5; done
  while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$DIR/pids"
  rm -f "$DIR/pids"
  echo "testnet.sh: stopped"
}

status() {
  [[ -f $DIR/nodes.json ]] || { echo "testnet.sh: no testnet in $DIR"; exit 1; }
  rpc_urls | while read -r u; do echo "$u height=$(height "$u")"; done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  logs) tail -f "$DIR/logs/node${2:-0}.log" ;;
  *) echo "usage: scripts/testnet.sh up|down|status|logs [i]"; exit 2 ;;
esac
