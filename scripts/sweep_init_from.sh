#!/usr/bin/env bash
# Fine-tuning from a trained neighbour against training from scratch,
# measured on held-out photos (never Kodak): bls2017 at λ = 0.0055 with the
# quick profile (the CPU recipe), the same data (all of $TFC_REPRO_DATA/train
# except the 8 held-out Wikipedia photos 001-008, the validation set), crops,
# batch and seed, two arms:
#   scratch   from random weights, 6000 steps (the reproduction's base-model
#             budget);
#   finetune  from the shipped model of the neighbouring λ, cpu:bls2017-3
#             (λ = 0.0167), for a quarter of those steps (1500).
# Each arm logs its held-out RD loss against its own CPU seconds after every
# epoch (MODEL.train/progress.csv, copied to $RESULTS/bls2017-ARM.csv; the
# parent's CPU time is not in the fine-tuned arm's). Resumable: a finished
# arm is kept, a killed one continues. Settings: OUT (default
# models/sweep-init), RESULTS (default results/init-from). Then:
#   python -m tfc_repro.progress results/init-from --baseline scratch \
#     --table results/init-from/table.md \
#     --figure results/init-from/convergence.png
source "$(dirname "$0")/env.sh"
: "${TFC_REPRO_DATA:?set TFC_REPRO_DATA to the folder holding train/}"
out=${OUT:-models/sweep-init}
results=${RESULTS:-results/init-from}
held_out="$TFC_REPRO_DATA/train/wikipedia_photos/00[1-8].png"
mkdir -p "$out" "$results"
for arm in scratch finetune; do
  case $arm in
    scratch) flags=(--steps 6000) ;;
    finetune) flags=(--steps 1500 --init_from cpu:bls2017-3) ;;
  esac
  model="$out/bls2017-0.0055-$arm"
  if [ ! -f "$model/saved_model.pb" ]; then
    echo "== bls2017 λ 0.0055 $arm" >&2
    python -m tfc_repro.bls2017 --model_path "$model" train --profile quick \
      --lambda 0.0055 --seed 1 --train_glob "$TFC_REPRO_DATA/train" \
      --validation_glob "$held_out" --cache_gib 0 "${flags[@]}" \
      >> "$model.log" 2>&1
  fi
  cp "$model.train/progress.csv" "$results/bls2017-$arm.csv"
done
