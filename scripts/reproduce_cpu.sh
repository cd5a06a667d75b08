#!/usr/bin/env bash
# The CPU-budget reproduction of every paper's Kodak evaluation: for each
# system, one RD curve of four λ at the quick profile's sizes and recipe,
# the same data (all of $TFC_REPRO_DATA/train except the 8 held-out
# Wikipedia photos 001-008, the validation set), crops, batch, seed and steps
# for every system. The highest-rate point trains from scratch (BASE_STEPS),
# the three others are fine-tuned from it (--init_from, FINETUNE_STEPS), as
# CompressAI's model zoo was trained. Every model is evaluated on Kodak
# through real files; each curve is results/kodak/cpu/NAME.json (each model's
# steps and CPU seconds are in its metadata, MODEL/…, and in
# MODEL.train/progress.csv).
#
# Each trained model is shipped (python -m tfc_repro.zoo pack) as
# cpu:NAME-Q, Q = 4 (the highest rate, from scratch) down to 1, in
# tfc_repro/zoo/cpu/; Kodak is evaluated on the shipped models (their
# weights rounded to float16 where exact enough, rebuilt on first use), so
# that the results are those of the models a user gets. A point already
# shipped is not trained again: from a clean checkout with the models
# shipped, the script only evaluates what is missing.
#
# Resumable at any point: a killed training continues, a finished model is
# never trained again, a finished evaluation is kept; a rerun with every
# model present only evaluates what is missing.
#
# Settings from the environment: CURVES (default: all, in the order below),
# ARMS (the regularizer's arms to train, default "regularized plain-a
# plain-b"; two runs at once share their points, below), BASE_STEPS
# (default 6000), FINETUNE_STEPS (default 2000), OUT (default models/cpu).
source "$(dirname "$0")/env.sh"
: "${TFC_REPRO_DATA:?set TFC_REPRO_DATA to the folder holding train/ and kodak/}"
base_steps=${BASE_STEPS:-6000}
finetune_steps=${FINETUNE_STEPS:-2000}
out=${OUT:-models/cpu}
zoo=tfc_repro/zoo/cpu
results=results/kodak/cpu
# The regularizer's arm models are not shipped: each is evaluated as it
# finishes training, on Kodak and, out of the training domain, on the
# scientific set (scikit-image's microscopy, retina and astronomy images),
# into results/SET/cpu/points/ARM-qQ.json (kept: a point once evaluated on
# Kodak is never trained again), and an arm's four points are merged into
# its curve, results/SET/cpu/ARM.json.
point_dir=$results/points
arm_sets="kodak scientific"
arm_results() { echo "results/$1/cpu"; }
held_out="$TFC_REPRO_DATA/train/wikipedia_photos/00[1-8].png"
# Every file decoded at every use (--cache_gib 0), as the first curves were
# trained: the same crops in the same order for every system.
common=(--seed 1 --train_glob "$TFC_REPRO_DATA/train"
        --validation_glob "$held_out" --cache_gib 0)
mkdir -p "$results"

# name | module | flags shared by the four points | the four points' λ
# flags, highest rate first (all four points share one architecture, so
# that each fine-tunes from the first).
CURVE_TABLE="
bls2017|bls2017||--lambda 0.05;--lambda 0.0167;--lambda 0.0055;--lambda 0.0018
bmshj2018-factorized|bmshj2018|--model factorized --num_filters 64 --num_latents 96|--lambda 0.0932;--lambda 0.025;--lambda 0.0067;--lambda 0.0018
bmshj2018-hyperprior|bmshj2018|--model hyperprior --num_filters 64 --num_latents 96|--lambda 0.0932;--lambda 0.025;--lambda 0.0067;--lambda 0.0018
bmshj2018-meanscale|bmshj2018|--model meanscale --num_filters 64 --num_latents 96|--lambda 0.0932;--lambda 0.025;--lambda 0.0067;--lambda 0.0018
lee2019|lee2019||--quality 5;--quality 3;--quality 2;--quality 1
hcae|hcae||--quality 5;--quality 4;--quality 3;--quality 2
"
# The regularizer (python -m tfc_repro.regularized) on a backbone curve, as a
# paired comparison: at each of the curve's four λ, three arms fine-tune the
# shipped backbone model cpu:CURVE-Q for FINETUNE_STEPS steps: the
# regularized arm (α below, data order 1), the plain arm (α = 0, data order
# 1: the same crops in the same order) and a second plain arm (α = 0, data
# order 2), whose difference from the first is the noise floor of the
# comparison. Each arm model's points are kept (above). Results:
# results/{kodak,scientific}/cpu/regularized-BACKBONE.json, -plain-a and
# -plain-b.
#
# α: the paper's 0.1 on the mean-scale hyperprior. On lee2019 the paper's α
# (1, for its autoregressive backbone) does not train at this budget: from
# cpu:lee2019-4 it took the held-out PSNR from 24.6 dB to 15.4 dB in 100
# steps. The term pulls the MSE towards about 2.2·α/λ′ (MSE on 0..255, λ′
# the weight of the MSE in the loss) until q_θ learns to predict x from its
# causal context, which these short runs leave no time for: at α = 1 and
# lee2019's λ′ of 0.001-0.0073 that is 300-2200, far above the backbone's
# MSE (68-151 on Kodak). lee2019 runs at the paper's hyperprior α, 0.1,
# which pulls as hard as on the mean-scale arm at equal λ′ (30-220: above
# the MSE at the lowest rate, as on the mean-scale arm's 122 at λ 0.0018).
# name | backbone curve | backbone flags | α
REGULARIZED_TABLE="
regularized-bmshj2018-meanscale|bmshj2018-meanscale|--backbone bmshj2018-meanscale --num_filters 64 --num_latents 96|0.1
regularized-lee2019|lee2019|--backbone lee2019|0.1
"
arms=${ARMS:-"regularized plain-a plain-b"}
curves=${CURVES:-"bls2017 bmshj2018-factorized bmshj2018-hyperprior bmshj2018-meanscale lee2019 hcae regularized-bmshj2018-meanscale regularized-lee2019"}

backbone_curve() {
  local name module shared points i zoo_name model flags base shipped
  IFS='|' read -r name module shared points <<< "$1"
  IFS=';' read -r -a point_flags <<< "$points"
  shipped=()
  base=""
  for i in "${!point_flags[@]}"; do
    # Quality 4 (highest rate) first, down to 1.
    zoo_name="$name-$((${#point_flags[@]} - i))"
    model="$out/$name/p$((i + 1))"
    # shellcheck disable=SC2206
    flags=(--profile quick $shared ${point_flags[$i]})
    if [ ! -f "$zoo/$zoo_name/model.json" ]; then
      if [ ! -f "$model/saved_model.pb" ]; then
        mkdir -p "$out/$name"
        if [ -z "$base" ]; then
          echo "== $name point $((i + 1)) from scratch ($base_steps steps)" >&2
          python -m "tfc_repro.$module" --model_path "$model" train \
            "${common[@]}" "${flags[@]}" --steps "$base_steps" \
            >> "$model.log" 2>&1
        else
          echo "== $name point $((i + 1)) from $base ($finetune_steps steps)" >&2
          python -m "tfc_repro.$module" --model_path "$model" train \
            "${common[@]}" "${flags[@]}" --init_from "$base" \
            --steps "$finetune_steps" >> "$model.log" 2>&1
        fi
      fi
      python -m tfc_repro.zoo pack "$model" "$zoo_name" -- "${flags[@]}" >&2
    fi
    [ -z "$base" ] && base=cpu:$zoo_name
    shipped+=(--model_path "cpu:$zoo_name")
  done
  if [ ! -f "$results/$name.json" ]; then
    python -m "tfc_repro.$module" evaluate "${shipped[@]}" --images kodak \
      --name "$name (CPU, $base_steps + $finetune_steps steps)" \
      --output "$results/$name.json"
    python -m tfc_repro.zoo record "$results/$name.json"
  fi
}

# Stops unless the point file $1 was trained at α $2 (a point of an earlier
# run at another α is not this arm's).
check_alpha() {
  python - "$1" "$2" <<'EOF'
import json, sys
path, alpha = sys.argv[1], float(sys.argv[2])
with open(path) as f:
  trained = json.load(f)["points"][0]["metadata"]["config"]["alpha"]
if trained != alpha:
  sys.exit(f"{path} was trained at α {trained}, this arm at α {alpha}: "
           "remove it (and its model) to train the point again")
EOF
}

# Two runs share the regularizer's points (one per core, e.g. both with the
# default ARMS): each point is claimed by the run that trains it, through a
# lock on MODEL.lock that is held as long as its training or evaluation runs
# (and released when they die), and the other run goes on to the next point.
# Without flock(1) (macOS) points are not claimed: run one script at a time.
claim() {
  command -v flock > /dev/null || return 0
  exec {lock_fd}> "$1.lock"
  flock -n "$lock_fd" && return 0
  exec {lock_fd}>&-
  return 1
}
release() {
  command -v flock > /dev/null || return 0
  exec {lock_fd}>&-
}

regularized_arms() {
  local name curve shared alpha points i q model flags arm seed arm_alpha
  local set point_file point_files missing done_sets
  IFS='|' read -r name curve shared alpha <<< "$1"
  points=$(printf '%s\n' "$CURVE_TABLE" | grep "^$curve|" | cut -d'|' -f4)
  IFS=';' read -r -a point_flags <<< "$points"
  for arm in $arms; do
    case $arm in
      regularized) arm="" seed=1 arm_alpha=$alpha ;;
      plain-a) arm=-plain-a seed=1 arm_alpha=0 ;;
      plain-b) arm=-plain-b seed=2 arm_alpha=0 ;;
      *) echo "unknown arm $arm (ARMS: regularized plain-a plain-b)" >&2
         exit 2 ;;
    esac
    done_sets=0
    for set in $arm_sets; do
      [ -f "$(arm_results "$set")/$name$arm.json" ] && done_sets=$((done_sets + 1))
    done
    [ "$done_sets" = "$(wc -w <<< "$arm_sets")" ] && continue
    for i in "${!point_flags[@]}"; do
      q=$((${#point_flags[@]} - i))
      model="$out/$name$arm/q$q"
      missing=()
      for set in $arm_sets; do
        [ -f "$(arm_results "$set")/points/$name$arm-q$q.json" ] ||
          missing+=("$set")
      done
      [ ${#missing[@]} = 0 ] && continue
      if [ -f "$point_dir/$name$arm-q$q.json" ] &&
         [ ! -f "$model/saved_model.pb" ]; then
        # Evaluated on Kodak on another machine: not trained again.
        echo "== $name$arm quality $q: its model is not here, not evaluated on ${missing[*]}" >&2
        continue
      fi
      # shellcheck disable=SC2206
      flags=(--profile quick $shared ${point_flags[$i]} --alpha "$arm_alpha")
      mkdir -p "$out/$name$arm"
      if ! claim "$model"; then
        echo "== $name$arm quality $q: in training by another run" >&2
        continue
      fi
      if [ ! -f "$model/saved_model.pb" ]; then
        echo "== $name$arm quality $q from cpu:$curve-$q ($finetune_steps steps)" >&2
        python -m tfc_repro.regularized --model_path "$model" train \
          "${common[@]}" "${flags[@]}" --seed "$seed" \
          --init_from "cpu:$curve-$q" --steps "$finetune_steps" \
          >> "$model.log" 2>&1
      fi
      for set in "${missing[@]}"; do
        point_file="$(arm_results "$set")/points/$name$arm-q$q.json"
        mkdir -p "$(dirname "$point_file")"
        # (The other run may have evaluated it since it was looked at.)
        [ -f "$point_file" ] ||
          python -m tfc_repro.regularized evaluate --model_path "$model" \
            --images "$set" --output "$point_file"
      done
      release
    done
    # The arm's curve on each set, once its four points exist (the run that
    # finishes the last point merges them).
    for set in $arm_sets; do
      point_files=()
      for i in "${!point_flags[@]}"; do
        point_file="$(arm_results "$set")/points/$name$arm-q$((${#point_flags[@]} - i)).json"
        [ -f "$point_file" ] || continue 2
        check_alpha "$point_file" "$arm_alpha"
        point_files+=("$point_file")
      done
      [ -f "$(arm_results "$set")/$name$arm.json" ] ||
        python -m tfc_repro.results merge "${point_files[@]}" \
          --name "$name$arm (CPU, α $arm_alpha, data order $seed, $finetune_steps steps from cpu:$curve)" \
          --output "$(arm_results "$set")/$name$arm.json"
    done
  done
}

for curve in $curves; do
  if line=$(printf '%s\n' "$CURVE_TABLE" | grep "^$curve|"); then
    backbone_curve "$line"
  elif line=$(printf '%s\n' "$REGULARIZED_TABLE" | grep "^$curve|"); then
    regularized_arms "$line"
  else
    echo "unknown curve $curve" >&2; exit 2
  fi
done
