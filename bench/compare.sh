#!/usr/bin/env bash
# bench/compare.sh: rzone's single payment and etcd's idempotent insert, side
# by side in one run on this machine, and the ratio table.
#
# etcd v3.6.5, 3 members on loopback, fsync on, answers
# Txn If(CreateRevision(key)==0) Then(Put) Else(Get) from bench/etcdtxn;
# rzone, 3 nodes of one standalone zone on loopback, answers
# `rzone bench pay` (one payment per request, then --batch 100). Both are
# built here: etcd from the Go module proxy, rzone from this repository.
#
#   bash bench/compare.sh                      # 15 s per step, clients 1 64 1000
#   DUR=30s CLIENTS="64 1000" bash bench/compare.sh
#
# Environment: DUR (per step), CLIENTS, BATCH_CLIENTS (the --batch 100 step;
# empty skips it), ACCOUNTS (rzone accounts paid on), BEFORE (a git revision
# of rzone measured too, for a before/after table), BENCH_DIR (scratch
# folder; default a new one under /tmp, removed at the end unless KEEP=1),
# BIG (accounts for the size step, e.g. 10000000; empty skips it: seeding
# ten million accounts takes about two minutes here), ALTERNATE (with
# BEFORE: rounds of the alternated step; empty skips it), COALESCE (lanes
# of a second run at each count above 1 with `bench pay --coalesce`, the
# client letting concurrent payments share requests; default 4, empty
# skips it).
#
# The size step runs two fresh clusters of this tree side by side, one with
# ACCOUNTS accounts and one with BIG, and alternates 64-client single-payment
# runs on them (ROUNDS each, --skip-seed after the first seeding), then prints
# the throughput ratio and each node's resident memory (anonymous and file
# mapped, from /proc) of the big one.
#
# The alternated step starts a cluster of this tree and one of BEFORE side
# by side and runs the same load on each in turn at every CLIENTS count,
# ALTERNATE rounds, the order flipped each round, and prints the means: a
# before/after figure that the machine's drift between steps does not bias.
# Progress goes to stderr; the table (markdown) to stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
DUR=${DUR:-15s}
CLIENTS=${CLIENTS:-"1 64 1000"}
BATCH_CLIENTS=${BATCH_CLIENTS-64}
COALESCE=${COALESCE-4}
ACCOUNTS=${ACCOUNTS:-10000}
ETCD_VERSION=v3.6.5
W=${BENCH_DIR:-$(mktemp -d /tmp/rzone-compare.XXXXXX)}
mkdir -p "$W/bin"
say() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

pids=()
stop_all() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_all
  if [ "${KEEP:-0}" != 1 ] && [ -z "${BENCH_DIR:-}" ]; then rm -rf "$W"; fi
}
trap cleanup EXIT

say "building rzone and the etcd load client"
(cd "$ROOT" && go build -o "$W/bin/rzone" ./cmd/rzone)
(cd "$ROOT/bench/etcdtxn" && go build -o "$W/bin/etcdtxn" .)
if [ ! -x "$W/bin/etcd" ]; then
  say "building etcd $ETCD_VERSION from the module proxy"
  mkdir -p "$W/etcdbuild"
  cat > "$W/etcdbuild/tools.go" <<'EOF'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
EOF
  (cd "$W/etcdbuild" && { [ -f go.mod ] || go mod init etcdbuild >/dev/null 2>&1; } &&
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 &&
    go build -o "$W/bin/etcd" go.etcd.io/etcd/server/v3)
fi

# rss PID: resident memory in MiB.
rss() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

# --- etcd -------------------------------------------------------------------
say "starting 3 etcd members"
CL="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
for i in 1 2 3; do
  rm -rf "$W/etcd$i"
  "$W/bin/etcd" --name "e$i" --data-dir "$W/etcd$i" \
    --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
    --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
    --initial-cluster "$CL" --initial-cluster-state new --initial-cluster-token perf \
    --log-level warn --quota-backend-bytes 8589934592 > "$W/etcd$i.log" 2>&1 &
  pids+=($!)
done
etcd_pids=("${pids[@]}")
sleep 3
declare -A E_OPS E_P50 E_P99 R_OPS R_P50 R_P99
for c in $CLIENTS; do
  conns=$(( c < 100 ? c : 100 ))
  say "etcd: $c clients for $DUR"
  line=$("$W/bin/etcdtxn" --endpoints 127.0.0.1:23791 --conns "$conns" --workers "$c" -d "$DUR")
  say "  $line"
  E_OPS[$c]=$(sed -E 's/.* ops\/s=([0-9]+).*/\1/' <<<"$line")
  E_P50[$c]=$(sed -E 's/.* p50=([^ ]+).*/\1/' <<<"$line")
  E_P99[$c]=$(sed -E 's/.* p99=([^ ]+).*/\1/' <<<"$line")
done
E_RSS=""
for p in "${etcd_pids[@]}"; do E_RSS="$E_RSS $(rss "$p")"; done
stop_all

# --- rzone ------------------------------------------------------------------
ADDRS=127.0.0.1:27071,127.0.0.1:27072,127.0.0.1:27073
bench() { "$W/bin/rzone" bench pay --addr "$ADDRS" --accounts "$ACCOUNTS" --time "$DUR" "$@"; }
declare -A R_OPS R_P50 R_P99 B_OPS B_P50 B_P99 R_COPS R_CP50 R_CP99 B_COPS B_CP50 B_CP99

# run_rzone BIN PREFIX: start 3 nodes of one standalone zone from server
# binary BIN, run the steps with this tree's bench client, record the
# figures under PREFIX (R: this tree, B: the BEFORE revision).
run_rzone() {
  local bin=$1 pre=$2 label=$3
  say "$label: starting 3 nodes (one standalone zone)"
  for i in 1 2 3; do
    rm -rf "$W/rzone$i"
    local extra=(--bootstrap)
    [ "$i" != 1 ] && extra=(--join 127.0.0.1:27071)
    "$bin" server --insecure --node-id "n$i" --data-dir "$W/rzone$i" \
      --raft-addr "127.0.0.1:2700$i" --http-addr "127.0.0.1:2707$i" --log-level warn "${extra[@]}" \
      > "$W/rzone$i.$pre.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do "$W/bin/rzone" healthcheck --addr "127.0.0.1:2707$i" >/dev/null 2>&1 && break; sleep 0.2; done
  done
  local c out row ops p50 p99
  for c in $CLIENTS; do
    say "$label: $c clients for $DUR"
    # As many requests in flight as clients, as etcd's load client has
    # (its workers share at most 100 HTTP/2 connections, each carrying
    # many requests at once): HTTP/1.1 carries one at a time, so a
    # connection per client.
    out=$(bench --clients "$c" --conns "$c" 2>>"$W/progress.log")
    row=$(grep -A1 '^clients' <<<"$out" | tail -1)
    say "  $row"
    MEM="$(grep '^resident memory' <<<"$out")"
    say "  $MEM"
    read -r _ _ _ ops p50 p99 _ <<<"$row"
    eval "${pre}_OPS[$c]=${ops%.*}; ${pre}_P50[$c]=$p50; ${pre}_P99[$c]=$p99"
    if [ -n "$COALESCE" ] && [ "$c" -gt 1 ]; then
      say "$label: $c clients for $DUR, coalescing (--coalesce $COALESCE)"
      out=$(bench --clients "$c" --conns "$c" --coalesce "$COALESCE" 2>>"$W/progress.log")
      row=$(grep -A1 '^clients' <<<"$out" | tail -1)
      say "  $row"
      read -r _ _ _ ops p50 p99 _ <<<"$row"
      eval "${pre}_COPS[$c]=${ops%.*}; ${pre}_CP50[$c]=$p50; ${pre}_CP99[$c]=$p99"
    fi
  done
  if [ -n "$BATCH_CLIENTS" ]; then
    say "$label: $BATCH_CLIENTS clients x batch 100 for $DUR"
    out=$(bench --clients "$BATCH_CLIENTS" --batch 100 2>>"$W/progress.log")
    row=$(grep -A1 '^clients' <<<"$out" | tail -1)
    say "  $row"
    eval "${pre}_BROW=\"\$row\""
    MEM="$(grep '^resident memory' <<<"$out")"
  fi
  stop_all
}

run_rzone "$W/bin/rzone" R "rzone"
R_MEM=${MEM:-}
if [ -n "${BEFORE:-}" ]; then
  say "building rzone at $BEFORE"
  rm -rf "$W/before"
  git -C "$ROOT" worktree add -q --detach "$W/before" "$BEFORE"
  (cd "$W/before" && go build -o "$W/bin/rzone-before" ./cmd/rzone)
  git -C "$ROOT" worktree remove --force "$W/before"
  run_rzone "$W/bin/rzone-before" B "rzone $BEFORE"
fi

# ratio A B: A / B as "1.23×", "-" when either is 0.
ratio() { awk -v r="$1" -v e="$2" 'BEGIN { if (e > 0 && r > 0) printf "%.2f×", r / e; else print "-" }'; }

# --- size: the same load over ACCOUNTS and over BIG accounts ---------------
# start3 BIN HTTPBASE RAFTBASE DIR: 3 nodes of one standalone zone, HTTP on
# HTTPBASE+1..3 and Raft on RAFTBASE+1..3; their PIDs go to SIZE_PIDS.
start3() {
  local bin=$1 hb=$2 rb=$3 dir=$4 i
  for i in 1 2 3; do
    rm -rf "$dir/n$i"
    local extra=(--bootstrap)
    [ "$i" != 1 ] && extra=(--join "127.0.0.1:$((hb + 1))")
    "$bin" server --insecure --node-id "n$i" --data-dir "$dir/n$i" \
      --raft-addr "127.0.0.1:$((rb + i))" --http-addr "127.0.0.1:$((hb + i))" --log-level warn "${extra[@]}" \
      > "$dir.n$i.log" 2>&1 &
    pids+=($!)
    SIZE_PIDS+=($!)
    for _ in $(seq 100); do "$W/bin/rzone" healthcheck --addr "127.0.0.1:$((hb + i))" >/dev/null 2>&1 && break; sleep 0.2; done
  done
}
# mem PID: "RSS (anon + file) MiB" of one process.
mem() { awk '/^VmRSS/ { r = $2 } /^RssAnon/ { a = $2 } /^RssFile/ { f = $2 } END { printf "%.0f (%.0f + %.0f)", r / 1024, a / 1024, f / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
SIZE_ROWS=""
if [ -n "${BIG:-}" ]; then
  ROUNDS=${ROUNDS:-2}
  SIZE_PIDS=()
  start3 "$W/bin/rzone" 27080 27010 "$W/small"
  small_pids=("${SIZE_PIDS[@]}")
  SIZE_PIDS=()
  start3 "$W/bin/rzone" 27090 27020 "$W/big"
  big_pids=("${SIZE_PIDS[@]}")
  SMALL=127.0.0.1:27081,127.0.0.1:27082,127.0.0.1:27083
  LARGE=127.0.0.1:27091,127.0.0.1:27092,127.0.0.1:27093
  say "size: seeding $ACCOUNTS and $BIG accounts"
  seed_small=$("$W/bin/rzone" bench pay --addr "$SMALL" --accounts "$ACCOUNTS" --clients 64 --time 1s 2>>"$W/progress.log" | grep '^seeded')
  seed_big=$("$W/bin/rzone" bench pay --addr "$LARGE" --accounts "$BIG" --clients 64 --time 1s 2>>"$W/progress.log" | grep '^seeded')
  say "  $seed_small"
  say "  $seed_big"
  sum_s=0; sum_b=0
  for r in $(seq "$ROUNDS"); do
    for which in small big; do
      if [ $which = small ]; then a=$SMALL; n=$ACCOUNTS; else a=$LARGE; n=$BIG; fi
      say "size: round $r, 64 clients over $n accounts for $DUR"
      row=$("$W/bin/rzone" bench pay --addr "$a" --accounts "$n" --skip-seed --clients 64 --time "$DUR" 2>>"$W/progress.log" | grep -A1 '^clients' | tail -1)
      say "  $row"
      read -r _ _ _ ops _ <<<"$row"
      if [ $which = small ]; then sum_s=$((sum_s + ${ops%.*})); else sum_b=$((sum_b + ${ops%.*})); fi
    done
  done
  bm=""
  for p in "${big_pids[@]}"; do bm="$bm $(mem "$p");"; done
  SIZE_ROWS="| accounts | seeding (batch endpoint) | payments/s at 64 clients (mean of $ROUNDS) | ratio |
|---|---|---|---|
| $ACCOUNTS | ${seed_small#seeded } | $((sum_s / ROUNDS)) | 1 |
| $BIG | ${seed_big#seeded } | $((sum_b / ROUNDS)) | $(ratio "$sum_b" "$sum_s") |

resident memory of the $BIG-account nodes after the runs, MiB (anonymous + file mapped):$bm"
  stop_all
fi

# --- alternate: BEFORE and this tree side by side, the load alternating ------
# Run-to-run noise on a shared machine can exceed a change's effect; two
# clusters started together and measured in turn (the order flipped every
# round) see the same noise.
ALT_ROWS=""
if [ -n "${BEFORE:-}" ] && [ -n "${ALTERNATE:-}" ]; then
  SIZE_PIDS=()
  start3 "$W/bin/rzone" 27180 27110 "$W/alt-now"
  start3 "$W/bin/rzone-before" 27190 27120 "$W/alt-before"
  NOW=127.0.0.1:27181,127.0.0.1:27182,127.0.0.1:27183
  BEF=127.0.0.1:27191,127.0.0.1:27192,127.0.0.1:27193
  for a in "$NOW" "$BEF"; do
    "$W/bin/rzone" bench pay --addr "$a" --accounts "$ACCOUNTS" --clients 64 --time 1s >/dev/null 2>>"$W/progress.log"
  done
  declare -A A_NOW A_BEF A_NOW50 A_BEF50
  for r in $(seq "$ALTERNATE"); do
    for c in $CLIENTS; do
      order="now before"
      [ $((r % 2)) = 0 ] && order="before now"
      for which in $order; do
        if [ "$which" = now ]; then a=$NOW; else a=$BEF; fi
        say "alternate: round $r, $which, $c clients for $DUR"
        row=$("$W/bin/rzone" bench pay --addr "$a" --accounts "$ACCOUNTS" --skip-seed --clients "$c" --conns "$c" --time "$DUR" 2>>"$W/progress.log" | grep -A1 '^clients' | tail -1)
        say "  $row"
        read -r _ _ _ ops p50 _ <<<"$row"
        if [ "$which" = now ]; then
          A_NOW[$c]=$(( ${A_NOW[$c]:-0} + ${ops%.*} )); A_NOW50[$c]="${A_NOW50[$c]:-}${A_NOW50[$c]:+ }$p50"
        else
          A_BEF[$c]=$(( ${A_BEF[$c]:-0} + ${ops%.*} )); A_BEF50[$c]="${A_BEF50[$c]:-}${A_BEF50[$c]:+ }$p50"
        fi
      done
    done
  done
  ALT_ROWS="| clients | rzone $BEFORE (mean of $ALTERNATE) | rzone (mean of $ALTERNATE) | now / before | p50 of each round, before; now |
|---|---|---|---|---|"
  for c in $CLIENTS; do
    ALT_ROWS="$ALT_ROWS
| $c | $((A_BEF[$c] / ALTERNATE))/s | $((A_NOW[$c] / ALTERNATE))/s | $(ratio "${A_NOW[$c]}" "${A_BEF[$c]}") | ${A_BEF50[$c]}; ${A_NOW50[$c]} |"
  done
  stop_all
fi

# --- table ------------------------------------------------------------------
if [ -n "${BEFORE:-}" ]; then
  echo "| clients | etcd idempotent insert | rzone $BEFORE | rzone | ratio to etcd (before → now) | p50 etcd / before / now | p99 etcd / before / now |"
  echo "|---|---|---|---|---|---|---|"
  for c in $CLIENTS; do
    echo "| $c | ${E_OPS[$c]}/s | ${B_OPS[$c]}/s | ${R_OPS[$c]}/s | $(ratio "${B_OPS[$c]}" "${E_OPS[$c]}") → $(ratio "${R_OPS[$c]}" "${E_OPS[$c]}") | ${E_P50[$c]} / ${B_P50[$c]} / ${R_P50[$c]} | ${E_P99[$c]} / ${B_P99[$c]} / ${R_P99[$c]} |"
  done
  if [ -n "${R_BROW:-}" ]; then
    read -r bc _ _ bops bp50 bp99 _ <<<"$B_BROW"
    read -r _ _ _ rops rp50 rp99 _ <<<"$R_BROW"
    echo "| $bc × batch 100 | – | ${bops%.*} payments/s | ${rops%.*} payments/s | – | – / $bp50 / $rp50 | – / $bp99 / $rp99 |"
  fi
else
  echo "| clients | etcd idempotent insert | rzone bench pay | ratio | p50 etcd / rzone | p99 etcd / rzone |"
  echo "|---|---|---|---|---|---|"
  for c in $CLIENTS; do
    echo "| $c | ${E_OPS[$c]}/s | ${R_OPS[$c]}/s | $(ratio "${R_OPS[$c]}" "${E_OPS[$c]}") | ${E_P50[$c]} / ${R_P50[$c]} | ${E_P99[$c]} / ${R_P99[$c]} |"
  done
  for c in $CLIENTS; do
    [ -n "${R_COPS[$c]:-}" ] || continue
    echo "| $c, coalescing | ${E_OPS[$c]}/s | ${R_COPS[$c]}/s | $(ratio "${R_COPS[$c]}" "${E_OPS[$c]}") | ${E_P50[$c]} / ${R_CP50[$c]} | ${E_P99[$c]} / ${R_CP99[$c]} |"
  done
  if [ -n "${R_BROW:-}" ]; then
    read -r bc _ _ bops bp50 bp99 _ <<<"$R_BROW"
    echo "| $bc × batch 100 | – | ${bops%.*} payments/s | – | – / $bp50 | – / $bp99 |"
  fi
fi
echo
echo "resident memory after the run: etcd members (MiB)${E_RSS}; rzone ${R_MEM#resident memory: }"
if [ -n "$SIZE_ROWS" ]; then echo; echo "$SIZE_ROWS"; fi
if [ -n "$ALT_ROWS" ]; then echo; echo "alternated, side by side:"; echo "$ALT_ROWS"; fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(go version | awk '{print $3}'), $(uname -sr); step length $DUR"
