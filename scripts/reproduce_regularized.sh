#!/usr/bin/env bash
# The regularizer's effect at an equal budget: for each backbone, the
# regularized model (α = the paper's) and the plain backbone trained from the
# same seed with the same data, steps and schedule at four λ, with several
# seeds, each evaluated through real files on Kodak and on an out-of-domain
# set (scikit-image's scientific images: microscopy, retina, astronomy):
#   results/<set>/regularized-<backbone>-seed<S>.json            regularized
#   results/<set>/regularized-<backbone>-seed<S>-baseline.json   plain
# then the BD-rate tables of regularized vs plain per seed, their mean and
# spread, beside the paper's: python -m tfc_repro.figures regularized
# The plain arm is the backbone's own program (bmshj2018 --model meanscale,
# lee2019): the regularized model builds the backbone first from the same
# seed, so both arms start from the same weights and see the same crops; the
# source model is the only addition. (`regularized --alpha 0` trains the
# source model alongside without its term, for a cost-matched arm.)
# Settings come from the environment:
#   STEPS      (default 300)
#   SEEDS      (default "1 2")
#   BACKBONES  (default "bmshj2018-meanscale"; add lee2019 for the
#              autoregressive backbone)
#   QUALITIES  (default "1 2 3 4": the backbone's quality levels)
#   SETS       evaluation sets (default "kodak scientific")
#   ARMS       (default "baseline regularized"; one arm per process lets two
#              cores train one seed's two arms at once)
#   TRAIN_GLOB (default $TFC_REPRO_DATA/train when TFC_REPRO_DATA is set,
#              else the embedded default photos)
#   MODELS     folder of the trained models (default models)
#   ALPHA      α of the regularized arm (default: the program's, the
#              paper's α of each backbone)
#   SOURCE_SCALE  σ of the source model before training (default: the
#              program's)
# With the defaults (16 models at the quick profile's sizes) the experiment
# takes about 2 hours on 2 CPU cores; run one seed per core with SEEDS=1 and
# SEEDS=2 in parallel. Re-running resumes an interrupted training; finished
# models are kept.
source "$(dirname "$0")/env.sh"
steps=${STEPS:-300}
seeds=${SEEDS:-"1 2"}
backbones=${BACKBONES:-"bmshj2018-meanscale"}
qualities=${QUALITIES:-"1 2 3 4"}
sets=${SETS:-"kodak scientific"}
arms=${ARMS:-"baseline regularized"}
models_dir=${MODELS:-models}
train_glob=${TRAIN_GLOB:-}
if [ -z "$train_glob" ] && [ -n "${TFC_REPRO_DATA:-}" ]; then
  train_glob="$TFC_REPRO_DATA/train"
fi
flags=(--profile quick --metric mse --steps "$steps" --cache_gib 0)
[ -n "$train_glob" ] && flags+=(--train_glob "$train_glob")
for backbone in $backbones; do
  case "$backbone" in
    bmshj2018-meanscale) plain=(bmshj2018 --model meanscale) ;;
    lee2019) plain=(lee2019) ;;
    *) echo "error: unknown backbone $backbone" >&2; exit 1 ;;
  esac
  for seed in $seeds; do
    for arm in $arms; do
      if [ "$arm" = baseline ]; then
        program=(python -m "tfc_repro.${plain[0]}")
        train_flags=("${plain[@]:1}")
        suffix="-baseline"
      else
        program=(python -m tfc_repro.regularized)
        train_flags=(--backbone "$backbone")
        [ -n "${ALPHA:-}" ] && train_flags+=(--alpha "$ALPHA")
        [ -n "${SOURCE_SCALE:-}" ] && train_flags+=(--source_scale "$SOURCE_SCALE")
        suffix=""
      fi
      name="regularized-$backbone-seed$seed$suffix"
      models=()
      for quality in $qualities; do
        model="$models_dir/$name/q$quality"
        if [ ! -f "$model/saved_model.pb" ]; then
          "${program[@]}" --model_path "$model" train "${train_flags[@]}" \
            --quality "$quality" --seed "$seed" "${flags[@]}"
        fi
        models+=(--model_path "$model")
      done
      for set in $sets; do
        mkdir -p "results/$set"
        "${program[@]}" evaluate "${models[@]}" --images "$set" \
          --name "$name ($steps steps)" --output "results/$set/$name.json"
      done
    done
  done
done
python -m tfc_repro.figures regularized
