#!/usr/bin/env bash
# How the quickstart's λ was chosen: the quickstart's training (bls2017,
# quick profile, the photos embedded in scikit-image, seed 1) at several λ,
# each model evaluated through real files on held-out photos that neither
# training nor Kodak contains (by default 8 lossless Wikipedia photos of
# $TFC_REPRO_DATA/train), beside JPEG 4:2:0 and WebP on the same photos.
# Prints, per λ, the model's point against each codec at the same rate: the
# codec's PSNR and MS-SSIM there, the differences (positive = the model is
# better) and the rate differences at equal quality.
# Settings from the environment: LAMBDAS (default "0.01 0.005 0.0025"),
# HELD_OUT (a glob), OUT (default models/sweep-quickstart).
source "$(dirname "$0")/env.sh"
: "${TFC_REPRO_DATA:?set TFC_REPRO_DATA to the folder holding train/}"
lambdas=${LAMBDAS:-"0.01 0.005 0.0025"}
held_out=${HELD_OUT:-"$TFC_REPRO_DATA/train/wikipedia_photos/00[1-8].png"}
out=${OUT:-models/sweep-quickstart}
mkdir -p "$out"
for codec in jpeg webp; do
  [ -f "$out/$codec.json" ] || python -m tfc_repro.codecs --codec "$codec" \
    --images "$held_out" --output "$out/$codec.json" --quiet
done
for lmbda in $lambdas; do
  model="$out/bls2017-lambda$lmbda"
  if [ ! -f "$model/saved_model.pb" ]; then
    python -m tfc_repro.bls2017 --model_path "$model" train --profile quick \
      --seed 1 --lambda "$lmbda" --cache_gib 0 > "$model.log" 2>&1
  fi
  [ -f "$model.json" ] || python -m tfc_repro.bls2017 --model_path "$model" \
    evaluate --images "$held_out" --output "$model.json" >> "$model.log" 2>&1
  for codec in jpeg webp; do
    echo "== λ=$lmbda against $codec (held-out photos)"
    python -m tfc_repro.bdrate --at_rate "$out/$codec.json" "$model.json"
  done
done
