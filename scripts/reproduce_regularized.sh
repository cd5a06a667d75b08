#!/usr/bin/env bash
# The regularizer's effect at an equal budget: for each backbone, the
# regularized model (α = the paper's) and the plain backbone trained from the
# same seed for the same steps at four λ, with several seeds per arm, each
# evaluated on Kodak through real files:
#   results/kodak/regularized-<backbone>-seed<S>.json            regularized
#   results/kodak/regularized-<backbone>-seed<S>-baseline.json   plain
# then the BD-rate table of regularized vs plain per seed and its spread:
#   python -m tfc_repro.figures regularized
# The plain arm is the regularized program with --alpha 0: the same model,
# data, source model and two optimizers, only the term's weight is zero, so
# the training time difference is the term's own cost (the source model is
# trained in both arms; see results/README.md for the overhead measured
# against the plain backbone program).
# Settings come from the environment:
#   STEPS      (default 600: the whole experiment, 2 backbones x 4 λ x 2
#              seeds x 2 arms = 32 models, then fits in about 2.5 hours on
#              2 CPU cores)
#   SEEDS      (default "1 2")
#   BACKBONES  (default "bmshj2018-meanscale lee2019")
#   QUALITIES  (default "1 2 3 4": the backbone's quality levels)
#   TRAIN_GLOB (default $TFC_REPRO_DATA/train when TFC_REPRO_DATA is set)
# Re-running resumes an interrupted training; finished models are kept.
source "$(dirname "$0")/env.sh"
steps=${STEPS:-600}
seeds=${SEEDS:-"1 2"}
backbones=${BACKBONES:-"bmshj2018-meanscale lee2019"}
qualities=${QUALITIES:-"1 2 3 4"}
train_glob=${TRAIN_GLOB:-}
if [ -z "$train_glob" ] && [ -n "${TFC_REPRO_DATA:-}" ]; then
  train_glob="$TFC_REPRO_DATA/train"
fi
flags=(--profile quick --metric mse --steps "$steps")
[ -n "$train_glob" ] && flags+=(--train_glob "$train_glob")
for backbone in $backbones; do
  for seed in $seeds; do
    for arm in regularized baseline; do
      alpha=()
      suffix=""
      if [ "$arm" = baseline ]; then alpha=(--alpha 0); suffix="-baseline"; fi
      name="regularized-$backbone-seed$seed$suffix"
      models=()
      for quality in $qualities; do
        model="models/$name/q$quality"
        if [ ! -f "$model/saved_model.pb" ]; then
          python -m tfc_repro.regularized --model_path "$model" train \
            --backbone "$backbone" --quality "$quality" --seed "$seed" \
            "${alpha[@]}" "${flags[@]}"
        fi
        models+=(--model_path "$model")
      done
      python -m tfc_repro.regularized evaluate "${models[@]}" --images kodak \
        --name "$name" --output "results/kodak/$name.json"
    done
  done
done
python -m tfc_repro.figures regularized
