#!/usr/bin/env bash
# The TFC comparison: `bmshj2018 --variant tfc` in the configuration compared with
# TFC's models/bmshj2018.py (N = M = 128, λ = 0.01, Adam 1e-4, batch 8, 128²
# crops, 800 steps), trained with the quick profile's learning-rate decay
# (what a --lr given alone gets: ×0.1 for the last 20 % of the steps) and
# without it (TFC's constant rate), same seed and data; Kodak through files:
#   results/tfc-peer/bmshj2018-tfc-{decay,const}-seed<S>.json
# Settings from the environment: ARMS (default "const decay"), SEED (1),
# STEPS (800), TRAIN_GLOB (default $TFC_REPRO_DATA/train), MODELS (models).
source "$(dirname "$0")/env.sh"
seed=${SEED:-1}
steps=${STEPS:-800}
models_dir=${MODELS:-models}
train_glob=${TRAIN_GLOB:-${TFC_REPRO_DATA:+$TFC_REPRO_DATA/train}}
# The quick profile's recipe as it was when these results were recorded
# (before the CPU recipe): a step schedule, no warm-up, no clipping, noise.
flags=(--variant tfc --num_filters 128 --lambda 0.01 --lr 1e-4
       --patchsize 128 --batchsize 8 --steps "$steps" --seed "$seed"
       --cache_gib 0 --lr_schedule step --lr_decay_factor 0.1
       --warmup_steps 0 --clip_norm 0 --quantization noise)
[ -n "$train_glob" ] && flags+=(--train_glob "$train_glob")
mkdir -p results/tfc-peer
for arm in ${ARMS:-const decay}; do
  decay=()
  [ "$arm" = const ] && decay=(--lr_decay_steps "")
  model="$models_dir/tfc-peer/tfc-$arm-seed$seed"
  if [ ! -f "$model/saved_model.pb" ]; then
    python -m tfc_repro.bmshj2018 --model_path "$model" train "${flags[@]}" \
      "${decay[@]}"
  fi
  python -m tfc_repro.bmshj2018 --model_path "$model" evaluate \
    --images kodak --output "results/tfc-peer/bmshj2018-tfc-$arm-seed$seed.json" \
    --name "bmshj2018 --variant tfc, Adam 1e-4 ($arm), $steps steps, seed $seed"
done
