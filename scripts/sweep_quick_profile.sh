#!/usr/bin/env bash
# How the bls2017 quick profile was chosen: a few settings trained for about
# the same wall time on this CPU, compared by the validation loss (λ=0.01) on
# the held-out default photo (chelsea.png) — never on Kodak. Each run's last
# epoch line is printed; the runs go to models/sweep/. (The quick profile's
# recipe then: a step schedule, no warm-up or clipping, noise; the profile
# now trains with the CPU recipe.)
source "$(dirname "$0")/env.sh"
mkdir -p models/sweep
run() {
  name=$1; shift
  python -m tfc_repro.bls2017 --model_path "models/sweep/$name" train \
    --seed 1 --lambda 0.01 --cache_gib 0 --lr_schedule step \
    --lr_decay_factor 0.1 --warmup_steps 0 --clip_norm 0 \
    --quantization noise "$@" > "models/sweep/$name.log" 2>&1
  echo "$name ($*): $(grep -o 'val_loss: [0-9.]* - val_bpp: [0-9.]* - val_mse: [0-9.]*' "models/sweep/$name.log" | tail -1)"
}
run A --num_filters 64 --patchsize 128 --steps 1500 --lr 1e-3 --lr_decay_steps 0.8
run B --num_filters 128 --patchsize 128 --steps 750 --lr 1e-3 --lr_decay_steps 0.8
run D --num_filters 64 --patchsize 128 --steps 1500 --lr 3e-4 --lr_decay_steps ""
run E --num_filters 64 --patchsize 128 --steps 1500 --lr 2e-3 --lr_decay_steps 0.8
