#!/usr/bin/env bash
# The papers' GDN against TFC's simplified GDN at equal steps: bls2017, quick
# profile (N=64, 128² crops, batch 8, 3500 steps), λ = 0.01, seed 1, trained
# on BSDS500 ($TFC_REPRO_DATA/train/bsds500); each model evaluated through
# real files on Kodak and on 8 held-out photos that training never sees
# ($TFC_REPRO_DATA/train/wikipedia_photos/001-008). Resumable: a finished
# model or evaluation is kept. Settings: FORMS (default "full simplified"),
# STEPS, LAMBDA, OUT (default models/compare-gdn), RESULTS (default
# results/gdn).
source "$(dirname "$0")/env.sh"
: "${TFC_REPRO_DATA:?set TFC_REPRO_DATA to the folder holding train/ and kodak/}"
forms=${FORMS:-"full simplified"}
steps=${STEPS:-3500}
lmbda=${LAMBDA:-0.01}
out=${OUT:-models/compare-gdn}
results=${RESULTS:-results/gdn}
held_out="$TFC_REPRO_DATA/train/wikipedia_photos/00[1-8].png"
mkdir -p "$out" "$results"
for form in $forms; do
  model="$out/bls2017-$form"
  if [ ! -f "$model/saved_model.pb" ]; then
    python -m tfc_repro.bls2017 --model_path "$model" train --profile quick \
      --gdn "$form" --lambda "$lmbda" --steps "$steps" --seed 1 \
      --train_glob "$TFC_REPRO_DATA/train/bsds500" --cache_gib 0 > "$model.log" 2>&1
  fi
  for set in kodak held-out; do
    images=kodak; [ "$set" = held-out ] && images=$held_out
    [ -f "$results/bls2017-$form-$set.json" ] ||
      python -m tfc_repro.bls2017 --model_path "$model" evaluate \
        --images "$images" --name "bls2017 $form GDN" \
        --output "$results/bls2017-$form-$set.json" >> "$model.log" 2>&1
  done
done
