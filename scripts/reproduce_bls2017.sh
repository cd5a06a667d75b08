#!/usr/bin/env bash
# Trains bls2017 at several λ and evaluates them on Kodak as one RD curve:
# results/kodak/bls2017-$PROFILE.json. Settings come from the environment:
#   PROFILE=quick|paper (default quick: minutes per model on a CPU)
#   LAMBDAS="0.0025 0.005 0.01 0.02"
#   TRAIN_GLOB (default $TFC_REPRO_DATA/train/bsds500/*.jpg when
#               TFC_REPRO_DATA is set, else the embedded default photos)
#   STEPS (default: the profile's)
source "$(dirname "$0")/env.sh"
profile=${PROFILE:-quick}
lambdas=${LAMBDAS:-"0.0025 0.005 0.01 0.02"}
train_glob=${TRAIN_GLOB:-}
if [ -z "$train_glob" ] && [ -n "${TFC_REPRO_DATA:-}" ]; then
  train_glob="$TFC_REPRO_DATA/train/bsds500/*.jpg"
fi
flags=(--profile "$profile" --seed 1)
[ -n "$train_glob" ] && flags+=(--train_glob "$train_glob")
[ -n "${STEPS:-}" ] && flags+=(--steps "$STEPS")
models=()
for lmbda in $lambdas; do
  model="models/bls2017-$profile/lambda-$lmbda"
  # Re-running resumes an interrupted training; a finished model is kept.
  if [ ! -f "$model/saved_model.pb" ]; then
    python -m tfc_repro.bls2017 --model_path "$model" train --lambda "$lmbda" "${flags[@]}"
  fi
  models+=(--model_path "$model")
done
python -m tfc_repro.bls2017 evaluate "${models[@]}" --images kodak \
  --name "bls2017-$profile" --output "results/kodak/bls2017-$profile.json"
python -m tfc_repro.bdrate results/kodak/jpeg.json "results/kodak/bls2017-$profile.json"
