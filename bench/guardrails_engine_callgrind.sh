#!/bin/bash
# Instructions per request of the guardrail engine (bench/guardrails_engine.py), independent of the
# machine's load: callgrind counts only from after start-up (callgrind_control -i on), for 0 and for N
# calls; the difference over N is the engine's cost of one request (input + output scan).
#     bench/guardrails_engine_callgrind.sh [N=300] [--size 1024]
set -euo pipefail
calls=${1:-300}; shift || true
count() {
  local n=$1; shift
  local flag; flag=$(mktemp -u); local log; log=$(mktemp)
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/dev/null \
    .venv/bin/python -m bench.guardrails_engine --calls "$n" --runs 1 --start-file "$flag" "$@" >"$log" 2>&1 &
  local vg=$!
  until grep -q "^ready" "$log"; do sleep 0.5; kill -0 $vg 2>/dev/null || { cat "$log"; exit 1; }; done
  callgrind_control -i on "$(grep -o '^ready [0-9]*' "$log" | cut -d' ' -f2)" >/dev/null 2>&1
  touch "$flag"; wait $vg; rm -f "$flag"
  grep -o "Collected : [0-9]*" "$log" | grep -o "[0-9]*$"; rm -f "$log"
}
base=$(count 0 "$@"); total=$(count "$calls" "$@")
echo "guardrail engine: $(( (total - base) / calls )) instructions per request ($calls calls; $base at idle)"
