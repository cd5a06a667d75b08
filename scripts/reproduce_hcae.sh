#!/usr/bin/env bash
# The HCAE report's claim (Fig. 6: HCAE > BLS > JPEG) at an equal training
# budget: hcae, bls2017 and the bmshj2018 scale hyperprior trained with the
# same data, crop size, batch, steps, learning-rate schedule and seed at the
# same four λ (bpp + λ·MSE on 0..255), each evaluated on Kodak through real
# files as one RD curve: results/kodak/equal-budget-<system>.json.
# Settings come from the environment:
#   STEPS      (default 500)
#   LAMBDAS    (default "0.001 0.004 0.015 0.05": hcae's q2-q5)
#   SYSTEMS    (default "bls2017 bmshj2018 hcae")
#   TRAIN_GLOB (default $TFC_REPRO_DATA/train when TFC_REPRO_DATA is set,
#              else the embedded default photos)
#   MODELS     folder of the trained models (default models/equal-budget)
# Each system uses its quick profile's model size (bls2017 N=64, bmshj2018
# N=64/M=96, hcae F=32); the training recipe is fixed here for all three.
# Re-running resumes an interrupted training; finished models are kept.
source "$(dirname "$0")/env.sh"
steps=${STEPS:-500}
lambdas=${LAMBDAS:-"0.001 0.004 0.015 0.05"}
systems=${SYSTEMS:-"bls2017 bmshj2018 hcae"}
models_dir=${MODELS:-models/equal-budget}
# shellcheck disable=SC2086
python -m tfc_repro.systems $systems
train_glob=${TRAIN_GLOB:-}
if [ -z "$train_glob" ] && [ -n "${TFC_REPRO_DATA:-}" ]; then
  train_glob="$TFC_REPRO_DATA/train"
fi
flags=(--profile quick --metric mse --patchsize 128 --batchsize 8 --cache_gib 0
       --steps "$steps" --lr 1e-3 --lr_decay_steps 0.8 --lr_decay_factor 0.1
       --seed 1)
[ -n "$train_glob" ] && flags+=(--train_glob "$train_glob")
for system in $systems; do
  models=()
  for lmbda in $lambdas; do
    model="$models_dir/$system/lambda-$lmbda"
    if [ ! -f "$model/saved_model.pb" ]; then
      python -m "tfc_repro.$system" --model_path "$model" train \
        --lambda "$lmbda" "${flags[@]}"
    fi
    models+=(--model_path "$model")
  done
  python -m "tfc_repro.$system" evaluate "${models[@]}" --images kodak \
    --name "$system (equal budget, $steps steps)" \
    --output "results/kodak/equal-budget-$system.json"
done
