#!/usr/bin/env bash
# The CPU recipe against the old quick profile, measured on held-out photos
# (never Kodak): each arm trains one system at one λ with the same data (all
# of $TFC_REPRO_DATA/train except the 8 held-out Wikipedia photos 001-008,
# which are the validation set), crops, batch, seed and steps, and logs its
# held-out RD loss against CPU seconds after every epoch
# (MODEL.train/progress.csv, copied to $RESULTS/SYSTEM-ARM.csv). Resumable:
# a finished arm is kept, a killed one continues.
# Settings: SYSTEMS (default "bls2017 bmshj2018 lee2019"), ARMS (default
# "old new"), STEPS (default: each system's quick profile), OUT (default
# models/sweep-recipe), RESULTS (default results/recipe). Arms:
#   old   the quick profile before the CPU recipe (÷10 at 80 % of the
#         steps, no warm-up or clipping, the paper's quantization)
#   new   the CPU recipe, today's quick default: warm-up 100 steps, cosine
#         decay to 1/100, gradients clipped to norm 1, straight-through
#         rounding for the synthesis
#   noise the CPU recipe with the papers' noise for the synthesis
#   ema   the CPU recipe, validating and exporting the weights' moving
#         average (--weight_averaging 0.99)
#   crops the CPU recipe whose last fifth trains on 256² crops, 2 per step
#         (--final_patchsize 256: as many pixels per step)
#   batch4 the CPU recipe on batches of 4 crops for twice the steps (about
#         the same CPU time)
# Every arm spells its recipe out, so that it does not follow the defaults,
# and decodes every training file at every use (--cache_gib 0), as the first
# arms did: the same crops in the same order for every arm.
source "$(dirname "$0")/env.sh"
: "${TFC_REPRO_DATA:?set TFC_REPRO_DATA to the folder holding train/}"
systems=${SYSTEMS:-"bls2017 bmshj2018 lee2019"}
arms=${ARMS:-"old new"}
out=${OUT:-models/sweep-recipe}
results=${RESULTS:-results/recipe}
held_out="$TFC_REPRO_DATA/train/wikipedia_photos/00[1-8].png"
mkdir -p "$out" "$results"
recipe=(--lr_schedule cosine --warmup_steps 100 --lr_decay_factor 0.01
        --clip_norm 1)
for system in $systems; do
  case $system in
    bls2017) quality=(--lambda 0.01) ;;
    *) quality=(--quality 3) ;;
  esac
  profile_steps=$(python -c "from tfc_repro import systems
print(systems.system('$system').profiles['quick']['steps'])")
  paper_quantization=noise
  [ "$system" = lee2019 ] && paper_quantization=ste
  for arm in $arms; do
    case $arm in
      old) flags=(--lr_schedule step --lr_decay_steps 0.8 --lr_decay_factor 0.1
                  --warmup_steps 0 --clip_norm 0
                  --quantization "$paper_quantization") ;;
      new) flags=("${recipe[@]}" --quantization ste) ;;
      noise) flags=("${recipe[@]}" --quantization noise) ;;
      ema) flags=("${recipe[@]}" --quantization ste --weight_averaging 0.99) ;;
      crops) flags=("${recipe[@]}" --quantization ste --final_patchsize 256
                    --final_patchsize_from 0.8) ;;
      batch4) flags=("${recipe[@]}" --quantization ste --batchsize 4
                     --steps $((2 * ${STEPS:-$profile_steps}))) ;;
      *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac
    model="$out/$system-$arm"
    if [ ! -f "$model/saved_model.pb" ]; then
      echo "== $system $arm" >&2
      python -m tfc_repro."$system" --model_path "$model" train \
        --profile quick "${quality[@]}" --seed 1 ${STEPS:+--steps "$STEPS"} \
        --train_glob "$TFC_REPRO_DATA/train" --validation_glob "$held_out" \
        --cache_gib 0 "${flags[@]}" >> "$model.log" 2>&1
    fi
    cp "$model.train/progress.csv" "$results/$system-$arm.csv"
  done
done
