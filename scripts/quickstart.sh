#!/usr/bin/env bash
# The main job on the embedded default: trains bls2017 with the quick CPU
# profile on the photos shipped inside scikit-image, exports the SavedModel,
# compresses and decompresses the 24 Kodak images through real files, and
# writes bls2017.json (its RD point), an RD figure beside the committed
# curves, the decoded images and a table against JPEG into the folder
# $OUTPUT (default: quickstart/, ignored by git; printed at the end). The
# committed results/quickstart/ is regenerated only on purpose, with
# OUTPUT=results/quickstart. About 14 minutes on 2 CPU cores (plus the first
# installation).
#
# The trained model goes to $MODEL_DIR/<system> (default models/quickstart,
# ignored by git), replaced by each run.
#
# bls2017 is trained at λ = $LAMBDA (default LAMBDA_DEFAULT below): the
# rate at which a model trained for this budget beats JPEG in PSNR and
# MS-SSIM on held-out photos (scripts/sweep_quickstart.sh, results/README.md
# "Quickstart"); at TFC's default λ = 0.01 it trails JPEG by about 1 dB.
# LAMBDA applies to bls2017 only; LAMBDA= (empty) trains at bls2017's own
# default λ.
#
# Kodak is read from $TFC_REPRO_DATA/kodak when that is set, else downloaded
# once (with checksums) into ~/.cache/tfc_repro. Extra arguments go to
# `train` (e.g. --steps 200 for a faster smoke run).
#
# SYSTEM=bmshj2018, lee2019 or hcae (any name of `python -m
# tfc_repro.systems`) runs the same job with that system's quick profile
# instead (its default quality).
source "$(dirname "$0")/env.sh"
LAMBDA_DEFAULT=0.0025
system=${SYSTEM:-bls2017}
python -m tfc_repro.systems "$system"
lmbda=${LAMBDA-$LAMBDA_DEFAULT}
rate=()
if [ "$system" = bls2017 ] && [ -n "$lmbda" ]; then
  rate=(--lambda "$lmbda")
fi
set -x
model=${MODEL_DIR:-models/quickstart}/$system
out=${OUTPUT:-quickstart}
# A new run each time: drop a previous model and its resume checkpoints.
rm -rf "$model" "$model.train"
python -m "tfc_repro.$system" --model_path "$model" train --profile quick \
  --seed 1 ${rate[@]+"${rate[@]}"} "$@"
python -m "tfc_repro.$system" --model_path "$model" evaluate --images kodak \
  --output "$out/$system.json" --reconstructions "$out/reconstructions"
python -m tfc_repro.figures "$system" --output "$out" --add "$out/$system.json"
set +x
echo
for codec in jpeg webp; do
  echo "Kodak, $system (quick profile) against $codec (results/kodak/$codec.json):"
  python -m tfc_repro.bdrate --at_rate "results/kodak/$codec.json" \
    "$out/$system.json"
  echo
done
echo "Outputs (RD point, figure, decoded images) are in $out/"
