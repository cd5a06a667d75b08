#!/usr/bin/env bash
# Rate-distortion after equal steps of the two convolution types of bmshj2018
# (hyperprior, quick profile, quality 3, 1000 steps, seed 1, trained on
# BSDS500), evaluated on eight held-out photos (train/wikipedia_photos, not
# Kodak). Speed of each type: bench/bench_bmshj2018.py.
source "$(dirname "$0")/env.sh"
: "${TFC_REPRO_DATA:?set TFC_REPRO_DATA to the folder holding train/}"
for conv in signal keras; do
  model="models/conv-$conv"
  python -m tfc_repro.bmshj2018 --model_path "$model" train --conv "$conv" \
    --steps 1000 --seed 1 --train_glob "$TFC_REPRO_DATA/train/bsds500/*.jpg" \
    --cache_gib 0
  python -m tfc_repro.bmshj2018 --model_path "$model" evaluate \
    --images "$TFC_REPRO_DATA/train/wikipedia_photos/00[1-8].png" \
    --output "$model.json"
done
