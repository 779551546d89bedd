#!/usr/bin/env bash
# The Caprese paper's accuracy table and sparsity sweep on the arithmetic model (issue 12), from scratch:
# Caprese adapters trained as the paper does (stage 1 then stage 2, on synthetic problems the dense model solves
# itself), then eval-math on the held-out test split for every row, then `caprese math-report`.
#
#   scripts/math-table.sh [OUT]        OUT defaults to bench/results/math-arith-3m-$(date +%F)
#
# Sizes (environment): N_TRAIN problems for each adapter's training (the paper: 20K), N_TABLE test problems per table
# row, N_SWEEP per sweep point, N_JUDGE problems labelled for the judge head, LEVELS the sweep's sparsities, N_GSM8K GSM8K problems for the dense row. Every run is
# greedy and seeded, so the same commit reproduces the same numbers on the same backend.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/math-arith-3m-$(date +%F)}
MODEL=${MODEL:-models/arith-3m}
TEST=${TEST:-$MODEL/data/test.jsonl}
N_TRAIN=${N_TRAIN:-2000}
N_TABLE=${N_TABLE:-500}
N_SWEEP=${N_SWEEP:-200}
N_GSM8K=${N_GSM8K:-200}
N_JUDGE=${N_JUDGE:-300}
LEVELS=${LEVELS:-"0.25 0.5 0.75 0.9"}
MAX_TOKENS=${MAX_TOKENS:-200}
CLI=${CAPRESE_CLI:-"dotnet src/Caprese.Cli/bin/Release/net10.0/caprese.dll"}
work=$OUT/work
mkdir -p "$OUT" "$work/adapters"
log() { printf '\n== %s  %s\n' "$(date +%T)" "$*" >&2; }

# Problems for adapter training: the generator's train split under another seed than the model's own training data,
# with the held-out test questions excluded.
[ -f "$work/adapter-train.jsonl" ] || $CLI gen-math --split train --seed 1 --count "$N_TRAIN" --exclude "$TEST" --out "$work/adapter-train.jsonl"

layers_of() { [ "$1" = griffin ] && echo first-half || echo all; }

# Adapters: one per method and sparsity, each on the same problems (the dense answers are regenerated per run).
for method in griffin cats; do
  for s in $LEVELS; do
    a=$work/adapters/$method-$s.safetensors
    [ -f "$a" ] && continue
    log "distill $method $s"
    $CLI distill -m "$MODEL" --problems "$work/adapter-train.jsonl" --samples "$N_TRAIN" --continuation-tokens "$MAX_TOKENS" \
      --sparsity-method "$method" --sparsity "$s" --sparse-layers "$(layers_of "$method")" --eval-tokens 0 --out "$a"
  done
done

# A judge head for judge decoding: deviations of the GRIFFIN 50% draft, labelled by the arithmetic checker.
judge=$work/judge-griffin-0.5.safetensors
[ -f "$judge" ] || { log "judge-train"; $CLI judge-train -m "$MODEL" --problems "$work/adapter-train.jsonl" --limit "$N_JUDGE" --tokens "$MAX_TOKENS" \
  --sparsity-method griffin --sparsity 0.5 --sparse-layers first-half --out "$judge"; }

evaluate() { # name limit [eval-math options...]
  local name=$1 limit=$2; shift 2
  [ -f "$OUT/$name.json" ] && return
  log "eval-math $name"
  $CLI eval-math -m "$MODEL" --data "$TEST" --limit "$limit" --max-tokens "$MAX_TOKENS" --json "$OUT/$name.json" "$@" >/dev/null
}

evaluate table-1-full "$N_TABLE"
evaluate table-2-griffin "$N_TABLE" --sparsity-method griffin --sparsity 0.5 --sparse-layers first-half
evaluate table-3-caprese-griffin "$N_TABLE" --adapter "$work/adapters/griffin-0.5.safetensors"
evaluate table-4-cats "$N_TABLE" --sparsity-method cats --sparsity 0.5 --sparse-layers all
evaluate table-5-caprese-cats "$N_TABLE" --adapter "$work/adapters/cats-0.5.safetensors"
evaluate table-6-sirius "$N_TABLE" --sparsity-method griffin --sparsity 0.5 --sparse-layers first-half --decode sirius
evaluate table-7-judge "$N_TABLE" --sparsity-method griffin --sparsity 0.5 --sparse-layers first-half --decode judge --judge "$judge"

for method in griffin cats; do
  for s in $LEVELS; do
    evaluate "sweep-$method-$s-sparse" "$N_SWEEP" --sparsity-method "$method" --sparsity "$s" --sparse-layers "$(layers_of "$method")"
    evaluate "sweep-$method-$s-caprese" "$N_SWEEP" --adapter "$work/adapters/$method-$s.safetensors"
  done
done

# GSM8K for completeness: a 3M-parameter model trained on synthetic arithmetic is expected to score near zero.
if [ -f ../shared/data/gsm8k/test.jsonl ] && [ ! -f "$OUT/gsm8k-full.json" ]; then
  log "eval-math gsm8k"
  $CLI eval-math -m "$MODEL" --data ../shared/data/gsm8k/test.jsonl --limit "$N_GSM8K" --max-tokens "$MAX_TOKENS" --json "$OUT/gsm8k-full.json" >/dev/null
fi

$CLI math-report --results "$OUT" --out "$OUT.md" --plot "$OUT.png" --title "arith-3m, synthetic test split"
