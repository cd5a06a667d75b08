"""Training-time overhead of the regularizer, recorded in results/bench/.

    python bench/bench_regularized.py [--steps 20] [--sizes quick,paper]

(from the repository root) writes results/bench/regularized.json. `--quick`
is a smoke test of the script (3 steps, quick size only, written to --output,
default /tmp/regularized_bench_quick.json).

The regularizer paper reports its training-time overhead against the plain
backbone: +19.5 % for the mean-scale hyperprior, +11.3 % for the
autoregressive model (on a GPU). For each backbone (bmshj2018-meanscale and
lee2019, quality 3) and each model size (`quick`: the quick profile's;
`paper`: the paper profile's), this times, in one run and on the same batch:

  * `plain`: the backbone's own program (`python -m tfc_repro.bmshj2018
    --model meanscale` / `tfc_repro.lee2019`), one optimizer;
  * `regularized`: `python -m tfc_repro.regularized` with the paper's α: the
    backbone's step with −α·Ĥ(X|X̂) in its loss plus the source model's own
    stage (Algorithm 1: two optimizers, one backward pass);
  * `alpha0`: the same with α = 0 (the experiment's unregularized arm).

Each model is built and compiled by the training engine exactly as `train`
does (`training.compiled_model`), then its train step is timed as a
tf.function on one fixed batch (8 crops of 128x128 by default) for --steps
steps after 2 warm-up steps (best and median of --repeats rounds). The
overhead is regularized / plain − 1 (median seconds per step).

No data loading or validation is included; both sit outside the step and are
the same for every arm. Run it with `nice` on an otherwise idle machine.
"""

import argparse
import logging
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from bench_codec import write_report  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfc_repro import cli, regularized, systems, training  # pylint: disable=g-import-not-at-top,wrong-import-position

PUBLISHED_OVERHEAD = {"bmshj2018-meanscale": 0.195, "lee2019": 0.113}


def _args(system, argv):
  """`train` arguments of `system` as its command line would resolve them."""
  args = cli.build_parser(system).parse_args(
      ["--model_path", "/nonexistent", "train", *argv])
  cli.resolve_train_args(system, args)
  return args


def _arms(backbone, size, quality):
  """{arm: (system, args)} for one backbone and model size."""
  module, fixed, _ = regularized.BACKBONES[backbone]
  common = ["--quality", str(quality), "--profile", size]
  plain = systems.system(module)
  arms = {"plain": (plain, _args(plain, [*fixed, *common]))}
  for arm, alpha in (("regularized", []), ("alpha0", ["--alpha", "0"])):
    arms[arm] = (regularized.SYSTEM, _args(
        regularized.SYSTEM, ["--backbone", backbone, *common, *alpha]))
  return arms


def time_steps(system, args, batch, steps, repeats):
  """Seconds per train step (best and median over `repeats` rounds)."""
  tf.keras.utils.set_random_seed(1)
  model, _ = training.compiled_model(system, args)
  step = tf.function(model.train_step)
  for _ in range(2):
    step(batch)
  rounds = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      result = step(batch)
    float(next(iter(result.values())))  # wait for the last step
    rounds.append((time.perf_counter() - start) / steps)
  return dict(seconds_per_step_best=min(rounds),
              seconds_per_step_median=statistics.median(rounds),
              seconds_per_step_all=rounds,
              variables=sum(int(tf.size(v)) for v in model.trainable_variables),
              alpha=getattr(model, "alpha", None),
              lmbda=float(model.user_lambda))


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--batchsize", type=int, default=8)
  parser.add_argument("--patchsize", type=int, default=128)
  parser.add_argument("--quality", type=int, default=3)
  parser.add_argument("--sizes", default="quick,paper")
  parser.add_argument("--backbones", default=",".join(regularized.BACKBONES))
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--output", default=None)
  flags = parser.parse_args()
  if flags.quick:
    flags.steps, flags.repeats, flags.sizes = 3, 1, "quick"
  output = flags.output or (
      "/tmp/regularized_bench_quick.json" if flags.quick else
      os.path.join(ROOT, "results", "bench", "regularized.json"))
  logging.getLogger("tensorflow").setLevel(logging.ERROR)
  batch = tf.random.stateless_uniform(
      (flags.batchsize, flags.patchsize, flags.patchsize, 3), (1, 2), 0, 255)
  results = []
  for backbone in flags.backbones.split(","):
    for size in flags.sizes.split(","):
      row = dict(backbone=backbone, size=size, quality=flags.quality)
      for arm, (system, args) in _arms(backbone, size, flags.quality).items():
        row[arm] = time_steps(system, args, batch, flags.steps, flags.repeats)
        print(f"{backbone} {size} {arm}: "
              f"{row[arm]['seconds_per_step_median']:.3f} s/step", flush=True)
      plain = row["plain"]["seconds_per_step_median"]
      for arm in ("regularized", "alpha0"):
        row[f"overhead_{arm}"] = (
            row[arm]["seconds_per_step_median"] / plain - 1)
      row["published_overhead"] = PUBLISHED_OVERHEAD.get(backbone)
      print(f"{backbone} {size}: regularized overhead "
            f"{100 * row['overhead_regularized']:+.1f} % (published "
            f"{100 * row['published_overhead']:+.1f} % on a GPU)", flush=True)
      results.append(row)
  report = dict(
      what="training-time overhead of the regularizer: seconds per train "
           "step of the plain backbone, the regularized model (paper's α) "
           "and α = 0, on one fixed batch",
      batch=[flags.batchsize, flags.patchsize, flags.patchsize, 3],
      steps=flags.steps, repeats=flags.repeats, quick=flags.quick,
      cpu_count=os.cpu_count(), results=results)
  write_report(report, output)
  print(f"wrote {output}")


if __name__ == "__main__":
  main()
