"""The speed cost of `--seed`'s deterministic TensorFlow.

`train --seed S` seeds every random op and calls
`tf.config.experimental.enable_op_determinism()`, which makes kernels and
tf.data run deterministically. This trains the same bls2017 model (quick
profile sizes, batch 8 of 128² crops of the photos embedded in
scikit-image) with the same seed twice, each in a fresh process: once as
`--seed` does, once with the determinism switch left off; and reports
seconds per step after the first epoch (tracing and warm-up excluded).

    python bench/bench_determinism.py --steps 40 --repeats 2
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tfc_repro import results  # pylint: disable=wrong-import-position


def _child(deterministic, steps, path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfc_repro import bls2017, cli, training  # pylint: disable=g-import-not-at-top
  if not deterministic:
    tf.config.experimental.enable_op_determinism = lambda: None
  args = cli.build_parser(bls2017.SYSTEM).parse_args(
      ["--model_path", path, "train", "--profile", "quick", "--seed", "1",
       "--steps", str(2 * steps), "--steps_per_epoch", str(steps)])
  cli.resolve_train_args(bls2017.SYSTEM, args)
  times = []

  class Clock(tf.keras.callbacks.Callback):

    def on_epoch_begin(self, epoch, logs=None):
      times.append(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
      times.append(time.perf_counter())

  training.build_and_fit(bls2017.SYSTEM, args, extra_callbacks=[Clock()])
  print(json.dumps(dict(seconds_per_step=(times[3] - times[2]) / steps)))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--steps", type=int, default=40,
                      help="Timed steps (after as many warm-up steps).")
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--output", default="results/bench/determinism.json")
  parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    _child(args.child[0] == "on", int(args.child[1]), args.child[2])
    return
  runs = {"on": [], "off": []}
  with tempfile.TemporaryDirectory() as tmp:
    for repeat in range(args.repeats):
      for arm in ("off", "on"):
        run = subprocess.run(
            [sys.executable, __file__, "--child", arm, str(args.steps),
             os.path.join(tmp, f"{arm}{repeat}")],
            capture_output=True, text=True, check=True)
        seconds = json.loads(run.stdout.strip().splitlines()[-1])[
            "seconds_per_step"]
        runs[arm].append(seconds)
        print(f"determinism {arm}: {seconds:.3f} s/step", flush=True)
  best = {arm: min(values) for arm, values in runs.items()}
  report = dict(
      what="bls2017 quick-profile train step (batch 8, 128² crops, N=64) "
           "with --seed 1, with and without enable_op_determinism",
      command=shlex.join(["python", "bench/bench_determinism.py"] + sys.argv[1:]),
      machine=results.machine_info(), steps=args.steps,
      seconds_per_step=runs, best_seconds_per_step=best,
      cost_percent=round(100 * (best["on"] / best["off"] - 1), 1))
  print(f"cost of determinism: {report['cost_percent']} %")
  os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
  with open(args.output, "w") as f:
    json.dump(report, f, indent=1)


if __name__ == "__main__":
  main()
