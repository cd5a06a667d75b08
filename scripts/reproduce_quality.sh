#!/usr/bin/env bash
# Trains a system with --quality levels at several qualities and evaluates
# them on Kodak as one RD curve: results/kodak/$SYSTEM-$NAME.json.
# Settings come from the environment:
#   SYSTEM=bmshj2018|lee2019|hcae (required; a system with --quality)
#   NAME      curve name (default $METRIC-$PROFILE; e.g. hyperprior-mse-quick)
#   QUALITIES (default "1 2 3 5")
#   METRIC=mse|ms-ssim (default mse)
#   PROFILE=quick|paper (default quick)
#   STEPS     (default: the profile's)
#   TRAIN_GLOB (default $TFC_REPRO_DATA/train when TFC_REPRO_DATA is set,
#              else the embedded default photos)
#   FLAGS     extra train flags (e.g. "--model factorized" for bmshj2018)
# Re-running resumes an interrupted training; finished models are kept.
source "$(dirname "$0")/env.sh"
system=${SYSTEM:?set SYSTEM=bmshj2018, lee2019 or hcae}
python -m tfc_repro.systems "$system"
metric=${METRIC:-mse}
profile=${PROFILE:-quick}
name=${NAME:-$metric-$profile}
qualities=${QUALITIES:-"1 2 3 5"}
train_glob=${TRAIN_GLOB:-}
if [ -z "$train_glob" ] && [ -n "${TFC_REPRO_DATA:-}" ]; then
  train_glob="$TFC_REPRO_DATA/train"
fi
flags=(--profile "$profile" --metric "$metric" --seed 1 --cache_gib 0)
[ -n "$train_glob" ] && flags+=(--train_glob "$train_glob")
[ -n "${STEPS:-}" ] && flags+=(--steps "$STEPS")
# shellcheck disable=SC2206
flags+=(${FLAGS:-})
models=()
for quality in $qualities; do
  model="models/$system-$name/q$quality"
  if [ ! -f "$model/saved_model.pb" ]; then
    python -m "tfc_repro.$system" --model_path "$model" train \
      --quality "$quality" "${flags[@]}"
  fi
  models+=(--model_path "$model")
done
python -m "tfc_repro.$system" evaluate "${models[@]}" --images kodak \
  --name "$system-$name" --output "results/kodak/$system-$name.json"
python -m tfc_repro.bdrate results/kodak/jpeg.json "results/kodak/$system-$name.json"
