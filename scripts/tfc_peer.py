"""Trains TFC's own bmshj2018 script, unchanged, and exports its weights as a
tfc-repro `bmshj2018 --variant tfc` model, so that the peer's model is
evaluated on Kodak through files by the same code as ours.

The peer is `models/bmshj2018.py` of a tensorflow/compression checkout at
the installed version (v2.14.1), given with --tfc_script; nothing of it is
copied here. Its `train` runs as it is (its data pipeline, its Adam 1e-4,
its fit loop); only its final `model.save` is replaced by handing the
trained Keras model to this script, which assigns every weight to the same
weight of a `--variant tfc` model (the two compute the same function:
tests/test_bmshj2018.py pins the equations) and exports that.

    git clone --depth 1 --branch v2.14.1 \
        https://github.com/tensorflow/compression /tmp/tfc
    python scripts/tfc_peer.py --tfc_script /tmp/tfc/models/bmshj2018.py \
        --seed 2 --model_path models/tfc-peer/tfc-peer-seed2 -- \
        --num_filters 128 --lambda 0.01 --patchsize 128 --batchsize 8 \
        --epochs 4 --steps_per_epoch 200 \
        --train_glob "$TFC_REPRO_DATA/train/*/*.[jp][pn]g"
    python -m tfc_repro.bmshj2018 --model_path models/tfc-peer/tfc-peer-seed2 \
        evaluate --images kodak --output results/tfc-peer/tfc-peer-seed2.json
"""

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

# The sub-models whose weights move, by attribute (the same in both).
PARTS = ("analysis_transform", "synthesis_transform",
         "hyper_analysis_transform", "hyper_synthesis_transform",
         "hyperprior")


def load_peer(path):
  spec = importlib.util.spec_from_file_location("tfc_peer_bmshj2018", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def copy_weights(peer, ours):
  """Assigns each weight of `peer` to the same weight of `ours` (same part,
  same position, same name and shape), or raises."""
  for part in PARTS:
    theirs, mine = (getattr(peer, part).variables,
                    getattr(ours, part).variables)
    if len(theirs) != len(mine):
      raise ValueError(f"{part}: {len(theirs)} weights in the peer's model, "
                       f"{len(mine)} in ours")
    for a, b in zip(theirs, mine):
      if (a.name.split("/")[-1], a.shape) != (b.name.split("/")[-1], b.shape):
        raise ValueError(f"{part}: {a.name} {a.shape} != {b.name} {b.shape}")
      b.assign(a)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--tfc_script", required=True,
                      help="models/bmshj2018.py of tensorflow/compression.")
  parser.add_argument("--model_path", required=True,
                      help="Where to export the tfc-repro model.")
  parser.add_argument("--seed", type=int, default=None,
                      help="Global TF seed (initial weights, crops, noise).")
  parser.add_argument("train_flags", nargs=argparse.REMAINDER,
                      help="-- then the peer's own train flags.")
  args = parser.parse_args()
  flags = [f for f in args.train_flags if f != "--"]

  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfc_repro import bmshj2018, training  # pylint: disable=g-import-not-at-top
  peer = load_peer(args.tfc_script)
  trained = []
  peer.BMSHJ2018Model.save = lambda model, *a, **k: trained.append(model)
  if args.seed is not None:
    tf.keras.utils.set_random_seed(args.seed)
  with tempfile.TemporaryDirectory() as tmp:
    peer_args = peer.parse_args(
        ["tfc_peer", "--verbose", "--model_path", tmp, "train",
         "--train_path", os.path.join(tmp, "train"), *flags])
    start = time.time()
    peer.train(peer_args)
    seconds = time.time() - start
  model = trained[0]
  steps = int(model.optimizer.iterations.numpy())
  ours = bmshj2018.ScaleHyperpriorModel(
      lmbda=peer_args.lmbda, num_filters=peer_args.num_filters,
      num_latents=peer_args.num_filters, variant="tfc")
  copy_weights(model, ours)
  info = dict(
      lmbda=peer_args.lmbda, loss_lambda=peer_args.lmbda, metric="mse",
      steps=steps, trainer="TFC's models/bmshj2018.py train(), unchanged "
      f"({args.tfc_script})", train_data=f"glob:{peer_args.train_glob}",
      patchsize=peer_args.patchsize, batchsize=peer_args.batchsize,
      lr=1e-4, lr_decay_steps=[], seed=args.seed,
      train_seconds_this_run=round(seconds, 1))
  shutil.rmtree(args.model_path, ignore_errors=True)
  training.export(ours, info, args.model_path)
  print(f"exported the peer's model ({steps} steps) to {args.model_path}")


if __name__ == "__main__":
  main()
