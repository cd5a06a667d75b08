"""Ballé, Laparra, Simoncelli (ICLR 2017): end-to-end optimized image
compression with GDN transforms and a factorized prior.

As TFC's `models/bls2017.py`: three-layer analysis and synthesis
transforms with GDN/IGDN, a deep factorized density for each of the N
channels of y, loss R + λ·D.

    python -m tfc_repro.bls2017 --model_path bls2017 train --steps 2000
    python -m tfc_repro.bls2017 --model_path bls2017 compress in.png out.tfci
    python -m tfc_repro.bls2017 --model_path bls2017 decompress out.tfci out.png
    python -m tfc_repro.bls2017 --model_path bls2017 evaluate --output r.json
"""

import tensorflow as tf
import tensorflow_compression as tfc

from tfc_repro import cli
from tfc_repro import model
from tfc_repro import transforms

# Training profiles: "paper" is TFC's recipe (Adam 1e-4, 256x256 crops, batch
# 8, 1M steps). "quick" is the best model found for the quickstart's budget
# (15 minutes on two CPU cores, of which about 12.5 train): in the sweep
# (scripts/sweep_quick_profile.sh, results/README.md) N=64 on 128x128 crops
# beat N=128 at equal wall time, and Adam 2e-3 (÷10 for the last 20 % of the
# steps) beat 1e-3 and 3e-4 on held-out images.
PROFILES = {
    "paper": dict(num_filters=128, patchsize=256, batchsize=8,
                  steps=1_000_000, lr=1e-4, lr_decay_steps=()),
    "quick": dict(num_filters=64, patchsize=128, batchsize=8,
                  steps=3500, lr=2e-3, lr_decay_steps=(0.8,)),
}


class BLS2017Model(model.FactorizedPriorModel):
  """Factorized-prior model of Ballé et al. (2017)."""

  system = "bls2017"
  stride = 16

  def __init__(self, lmbda=0.01, metric="mse", num_filters=128,
               gdn="full"):
    super().__init__(dict(lmbda=lmbda, metric=metric, num_filters=num_filters,
                          gdn=gdn))
    n = num_filters
    # g_a: 9x9/4, 5x5/2, 5x5/2 with GDN; the last layer has no bias.
    self.analysis_transform = transforms.analysis_transform(
        [(n, 9, 4), (n, 5, 2), (n, 5, 2)], last_bias=False, gdn_form=gdn)
    # g_s: 5x5/2, 5x5/2 with IGDN, then 9x9/4 to three channels.
    self.synthesis_transform = transforms.synthesis_transform(
        [(n, 5, 2), (n, 5, 2), (3, 9, 4)], gdn_form=gdn)
    # p_ỹ: a deep factorized density per channel, convolved with U(-½, ½).
    self.prior = tfc.NoisyDeepFactorized(batch_shape=(n,))
    self.build((None, None, None, 3))

  def call(self, x, training):
    x = tf.cast(x, self.compute_dtype)
    y = self.analysis_transform(x)                          # y = g_a(x)
    y_tilde, bits = self.coders["y"].rate(y, training=training)  # ỹ = y + u
    x_tilde = self.synthesis_transform(                     # x̃ = g_s(ỹ)
        self.synthesis_input(y, y_tilde, training=training))
    return self.rate_distortion(x, x_tilde, y=bits)         # R + λ·D


def add_model_flags(parser):
  parser.add_argument(
      "--num_filters", type=int, default=None,
      help="Number of filters N in every layer (default from --profile).")
  parser.add_argument(
      "--variant", choices=("paper", "tfc"), default="paper",
      help="'paper': the paper's GDN; 'tfc': TFC's models/bls2017.py, the "
           "same transforms with the simplified GDN.")


def build_model(args):
  return BLS2017Model(lmbda=args.lmbda, metric=args.metric,
                      num_filters=args.num_filters, gdn=args.gdn)


SYSTEM = cli.System(
    name="bls2017", description=__doc__, build_model=build_model,
    add_model_flags=add_model_flags, profiles=PROFILES, default_lmbda=0.01)

if __name__ == "__main__":
  cli.run(SYSTEM)
