"""Srivastava & Pyla, "Hierarchical Modeling for Image Compression" (HCAE):
the scale hyperprior extended to a hierarchy of latent levels with
bidirectional inference, every level entropy-coded.

The report fixes the outline (six levels, ResNet blocks, bidirectional
inference as in Kingma et al. 2016, the top level a hyperprior that
"dictates the standard deviation" of the levels below, uniform noise in
training and rounding at test) but not the layers: its code was never
published. The model here follows the report's outline with the topology of
the closest public relative (a TFC ResNet-VAE with the same six levels and
latent channels), adapted to quantized, entropy-coded latents. Levels are
numbered k = 1..L from the bottom; level k lives at 1/2^k of the image size.

Bottom-up pass (deterministic), b₀ = x/255 − ½:

    b_k = E_k(b_{k−1}),  k = 1..L−1   residual block: 3x3/2↓ F, LeakyReLU,
                                       3x3 F, GDN; shortcut 1x1/2↓ F
    μ_L = E_L(b_{L−1})                 the same ending in C_L channels, linear

Top level (the hyperprior): z̃_L = μ_L + u under a non-parametric factorized
density per channel (`tfc.NoisyDeepFactorized`), ẑ_L = round(μ_L) at test.

Top-down pass, t_L = z_L, then for k = L−1..1:

    t_k = D_{k+1}(t_{k+1})             residual block: 3x3/2↑ F, LeakyReLU,
                                       3x3 F, LeakyReLU; shortcut 1x1/2↑ F
    (d_k, μ_p, s) = prior_k(t_k)       3x3 conv to 3·C_k channels
    σ_p = softplus(s + softplus⁻¹(1))  prior scale (σ_p = 1 at s = 0)
    μ_q = μ_p + BU_k(b_k) + TD_k(t_k)  posterior centre: 3x3 convs, BU
                                       linear, TD with LeakyReLU
    z̃_k = μ_q + u (training),  ẑ_k = round(μ_q − μ_p) + μ_p (test)
    rate: −log₂ (N(μ_p, σ_p²) ∗ U(−½, ½))(z_k)   (TFC's NoisyNormal)
    t_k ← t_k + update_k([z_k, d_k])   3x3 conv to F, LeakyReLU

and x̂ = (D_1(t_1) + ½)·255 with D_1 a 3x3/2↑ convolution to 3 channels. The
posterior is uniform, U(μ_q − ½, μ_q + ½), so the KL term of the ELBO is the
cross-entropy rate above, as in Ballé et al. 2018. Loss (TFC's convention):
R/(H·W) + λ·MSE on 0..255 (or λ·(1 − MS-SSIM)).

`--prior scale` is the report's literal reading: μ_p ≡ 0, the upper levels
give only σ_p; `--prior meanscale` (default) also predicts μ_p and codes
around it, which codes better.

Coding. Every level below the top is coded with TFC's
`LocationScaleIndexedEntropyModel(NoisyNormal)` over the shared scale table
(`scale_table`, σ_p rounded to the nearest of its 64 scales), centred on μ_p.
`compress` runs the top-down pass on the *quantized* latents, exactly as
`decompress` does, so both sides compute the same μ_p and scale indexes; the
levels decode in L sequential stages, each parallel over space. Bitstream:
one string per level from the top (z6, z5, ..., z1 for six levels), the
image shape and every level's shape; the decoder checks that the shapes are
those the image shape implies. Images are padded to a multiple of 2^L.

Quality levels (`--quality 1..9`, default 4) are the report's nine λ
(0.0006 … 8.02), read as the λ of bpp + λ·MSE₂₅₅, TFC's convention, which
the report's from-scratch bls2017 baseline follows; for `--metric ms-ssim`
they are scaled by 1300 (the ratio of CompressAI's MS-SSIM and MSE λ
tables). Profiles: `paper` (F=192, 256x256 crops, batch 8, Adam 1e-4, 300k
steps: the report's 30 epochs of 10,000 steps) and `quick` for a 2-core CPU
(F=32, 128x128 crops, 2000 steps, Adam 1e-3 divided by 10 after 80 %). F=32
because a step costs about as much as one of bmshj2018's quick model (N=64):
at F=64 a step of batch 8 took about 2.6 s on one core of this machine.

    python -m tfc_repro.hcae --model_path m train --quality 4
    python -m tfc_repro.hcae --model_path m compress in.png out.tfci
    python -m tfc_repro.hcae --model_path m decompress out.tfci out.png
    python -m tfc_repro.hcae --model_path m evaluate --output r.json
"""

import math

import tensorflow as tf
import tensorflow_compression as tfc

from tfc_repro import argutil
from tfc_repro import cli
from tfc_repro import latent_coders
from tfc_repro import model
from tfc_repro import scale_table
from tfc_repro import quality as quality_lib
from tfc_repro import transforms

# The report's nine λ (§4), in bpp + λ·MSE₂₅₅.
REPORT_LAMBDAS = (0.0006, 0.001, 0.004, 0.015, 0.05, 0.19, 0.65, 2.29, 8.02)
MS_SSIM_FACTOR = 1300.
DEFAULT_QUALITY = 4
DEFAULT_LEVELS = 6
PRIORS = ("meanscale", "scale")
# Share of the rate under which a level counts as collapsed (training warns).
MIN_RATE_SHARE = 0.005

PROFILES = {
    "paper": dict(num_filters=192, patchsize=256, batchsize=8,
                  steps=300_000, lr=1e-4, lr_decay_steps=()),
    "quick": dict(num_filters=32, patchsize=128, batchsize=8,
                  steps=2000, lr=1e-3, lr_decay_steps=(0.8,)),
}


def default_latent_channels(levels):
  """C_k = 4·2^(k−1), bottom to top: (4, 8, 16, 32, 64, 128) for 6 levels."""
  return tuple(4 * 2 ** k for k in range(levels))


QUALITIES = quality_lib.Table(
    lambdas={"mse": REPORT_LAMBDAS,
             "ms-ssim": tuple(v * MS_SSIM_FACTOR for v in REPORT_LAMBDAS)},
    default=DEFAULT_QUALITY,
    source=(f"the report's nine, for bpp + λ·MSE on 0..255, "
            f"×{MS_SSIM_FACTOR:g} for 1 − MS-SSIM"))


_SOFTPLUS_INV_1 = math.log(math.e - 1.)


class LatentBlock(tf.keras.layers.Layer):
  """The nets of one level k < L: prior, posterior and top-down update."""

  def __init__(self, num_filters, latent_channels, prior="meanscale",
               **kwargs):
    super().__init__(**kwargs)
    self.latent_channels = latent_channels
    self.predicts_mean = prior == "meanscale"
    parts = 3 if self.predicts_mean else 2
    conv = transforms.conv
    # (d_k, [μ_p,] s) from the top-down state.
    self.prior_net = conv(parts * latent_channels, 3, down=False,
                          name="prior_net")
    # μ_q = μ_p + BU(b_k) + TD(t_k).
    self.posterior_bottom_up = conv(latent_channels, 3, name="posterior_bu")
    self.posterior_top_down = conv(latent_channels, 3, down=False,
                                   activation=transforms.leaky_relu,
                                   name="posterior_td")
    # t_k ← t_k + update([z_k, d_k]).
    self.update = conv(num_filters, 3, down=False,
                       activation=transforms.leaky_relu, name="update")

  def prior(self, t):
    """(d_k, μ_p, fractional scale index of σ_p) from the state t_k."""
    parts = tf.split(self.prior_net(t), 3 if self.predicts_mean else 2, -1)
    if self.predicts_mean:
      det, mean, scale = parts
    else:
      (det, scale), mean = parts, tf.zeros_like(parts[0])
    sigma = tf.nn.softplus(scale + _SOFTPLUS_INV_1)
    return det, mean, scale_table.scale_index(sigma)

  def posterior(self, b, t, mean):
    """μ_q from the bottom-up features b_k, the state t_k and μ_p."""
    return mean + self.posterior_bottom_up(b) + self.posterior_top_down(t)

  def updated(self, t, z, det):
    return t + self.update(tf.concat([z, det], -1))


class HierarchicalModel(model.CompressionModel):
  """The L-level hierarchical compressive autoencoder (see the module doc)."""

  system = "hcae"
  # Codes whole images: the levels' states at strides 2..2^L depend on each
  # other, so the transforms are not cut into tiles (model.analyze).
  tile = None
  # So its memory grows with the image: about 0.75 GB plus 1 kB per pixel at
  # the paper's size, each way (results/bench/memory-hcae.json). 2^21 pixels
  # (a 1920x1080 photo fits) keep a paper-size model under 3 GB.
  max_pixels = 1 << 21

  def __init__(self, lmbda=0.015, metric="mse", num_filters=64,
               latent_channels=(4, 8, 16, 32, 64, 128), prior="meanscale",
               quality=None, gdn="full"):
    latent_channels = tuple(int(c) for c in latent_channels)
    levels = len(latent_channels)
    if levels < 2:
      raise ValueError("hcae needs at least 2 levels")
    if prior not in PRIORS:
      raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    super().__init__(
        dict(lmbda=lmbda, metric=metric, num_filters=num_filters,
             latent_channels=list(latent_channels), prior=prior,
             quality=quality, gdn=gdn),
        latent_names=[f"z{k}" for k in range(levels, 0, -1)])
    self.levels = levels
    self.stride = 2 ** levels
    self.crop_multiple = self.stride  # each level halves what it codes
    object.__setattr__(self, "shape_strides",
                       tuple(2 ** k for k in range(levels, 0, -1)))
    self.min_rate_share = MIN_RATE_SHARE
    f, c = num_filters, latent_channels
    block = transforms.ResidualBlock
    # E_1..E_{L−1} with GDN, E_L ending in C_L channels (linear).
    self.bottom_up = [
        # GDN named: an automatic name would depend on the layers built
        # before in the process, and so would the model id in every file.
        block(f, 2, output_activation=transforms.gdn("gdn", gdn),
              name=f"E{k}")
        for k in range(1, levels)]
    self.bottom_up.append(block(f, 2, output_filters=c[-1], name=f"E{levels}"))
    # D_L..D_2 (index k − 2 holds D_k) and D_1 to RGB.
    self.top_down = [
        block(f, 2, down=False, output_activation=transforms.leaky_relu,
              name=f"D{k}") for k in range(2, levels + 1)]
    self.to_image = transforms.conv(3, 3, 2, down=False, name="D1")
    # Level k's nets at index k − 1.
    self.latent_blocks = [LatentBlock(f, c[k - 1], prior, name=f"L{k}")
                          for k in range(1, levels)]
    # p(z̃_L): a non-parametric density per channel ∗ U(−½, ½).
    self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(c[-1],))
    self.build((None, None, None, 3))

  # -- The model --------------------------------------------------------------

  def top_entropy_model(self, compression):
    return latent_coders.ContinuousBatchedEntropyModel(
        self.hyperprior, coding_rank=3, compression=compression)

  def make_coders(self):
    """The top level under the factorized hyperprior; every level below
    under a Gaussian of mean μ_p on the scale table, all with one set of
    tables."""
    gaussian = latent_coders.EntropyModel(scale_table.gaussian_entropy_model)
    return (latent_coders.FactorizedCoder(
        f"z{self.levels}", latent_coders.EntropyModel(self.top_entropy_model)),
            *[latent_coders.ScaleIndexedCoder(f"z{k}", gaussian)
              for k in range(1, self.levels)])

  def bottom_up_pass(self, x):
    """b₁..b_{L−1} and μ_L from the image (0..255)."""
    b = x / 255. - .5
    features = []
    for block in self.bottom_up:
      b = block(b)
      features.append(b)
    return features[:-1], features[-1]

  def top_down_pass(self, z_top, level_latent):
    """x̂ from the top latent; `level_latent(k, t_k, μ_p, index)` returns
    level k's latent (sampled, quantized or decoded) for each k = L−1..1."""
    t = z_top
    for k in range(self.levels - 1, 0, -1):
      t = self.top_down[k - 1](t)                 # t_k = D_{k+1}(t_{k+1})
      block = self.latent_blocks[k - 1]
      det, mean, index = block.prior(t)           # prior_k(t_k)
      z = level_latent(k, t, mean, index)
      t = block.updated(t, z, det)                # t_k ← t_k + update
    return (self.to_image(t) + .5) * 255.         # x̂ = (D_1(t_1) + ½)·255

  def call(self, x, training):
    x = tf.cast(x, self.compute_dtype)
    features, mean_top = self.bottom_up_pass(x)
    # Top level: z̃_L = μ_L + u and −log₂ p(z̃_L).
    z_top, bits_top = self.coders[f"z{self.levels}"].rate(mean_top,
                                                          training=training)
    z_top = self.synthesis_input(mean_top, z_top, training=training)
    bits = {f"z{self.levels}": bits_top}

    def sample(k, t, mean, index):
      # z̃_k = μ_q + u, rate under N(μ_p, σ_p²) ∗ U.
      posterior = self.latent_blocks[k - 1].posterior(features[k - 1], t,
                                                      mean)
      z, bits[f"z{k}"] = self.coders[f"z{k}"].rate(posterior, index, loc=mean,
                                                   training=training)
      return self.synthesis_input(posterior, z, mean, training)

    x_hat = self.top_down_pass(z_top, sample)
    return self.rate_distortion(x, x_hat, **bits)

  # -- Coding -----------------------------------------------------------------

  def level_shapes(self, x_shape):
    """The (H, W) of every level, in `latent_names` order, for an image."""
    padded = (x_shape + self.stride - 1) // self.stride * self.stride
    return tuple(padded // 2 ** k for k in range(self.levels, 0, -1))

  def encode(self, x, code):
    """The encoder's pass on the padded image `x`: x̂ from the latents that
    `code(coder, values, ...)` quantizes as its coder (e.g. its `compress`
    or `estimate` into a `Latents`): ẑ_L, then each lower level's ẑ_k from
    the quantized latents above it, so that the encoder computes every
    level's scale indexes and means as the decoder will."""
    features, mean_top = self.bottom_up_pass(x)

    def quantized(k, t, mean, index):
      posterior = self.latent_blocks[k - 1].posterior(features[k - 1], t,
                                                      mean)
      return code(self.coders[f"z{k}"], posterior, index, loc=mean)

    return self.top_down_pass(code(self.coders[f"z{self.levels}"], mean_top),
                              quantized)

  def decode(self, code):
    """The decoder's pass: x̂ from the latents that `code(coder, ...)`
    decodes as its coder (e.g. its `decompress` of a `Latents`), ẑ_L, then
    each lower level from the latents above it."""
    return self.top_down_pass(
        code(self.coders[f"z{self.levels}"]),
        lambda k, t, mean, index: code(self.coders[f"z{k}"], index,
                                       loc=mean))

  def _compress(self, x):
    x, x_shape = self.prepare_image(x)
    latents = latent_coders.Latents()
    self.encode(x, latents.coding("compress"))
    return latents, x_shape

  def _decompress(self, latents, x_shape):
    expected = tf.stack(self.level_shapes(x_shape))
    tf.debugging.assert_equal(
        tf.stack([latents.shapes[name] for name in self.latent_names]),
        expected, message="latent shapes do not match the image shape")
    return self.finish_image(self.decode(latents.coding("decompress")),
                             x_shape)

  def _estimate(self, x):
    x, _ = self.prepare_image(x)
    latents = latent_coders.Latents()
    self.encode(x, latents.coding("estimate"))
    return latents.bits

  @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
  def reconstruct(self, x):
    """The quantized reconstruction without entropy coding (for tests): the
    encoder's pass on the latents as the estimate quantizes them."""
    x, x_shape = self.prepare_image(x)
    x_hat = self.encode(x, latent_coders.Latents().coding("estimate"))
    return self.finish_image(x_hat, x_shape)


def add_model_flags(parser):
  """The hcae train flags."""
  parser.add_argument(
      "--levels", type=int, default=None,
      help=f"Number of latent levels L (default {DEFAULT_LEVELS}, or the "
           "length of --latent_channels). Images are padded to a multiple "
           "of 2^L.")
  parser.add_argument(
      "--latent_channels", type=argutil.int_list, default=None,
      help="Channels of each level's latent, bottom to top, e.g. "
           "'4,8,16,32,64,128' (the default for 6 levels; 4·2^(k−1) for "
           "level k in general).")
  parser.add_argument(
      "--num_filters", type=int, default=None,
      help="F, the channels of the bottom-up and top-down features (default "
           "from --profile: 192 paper, 32 quick).")
  parser.add_argument(
      "--prior", choices=PRIORS, default="meanscale",
      help="Prior of the levels below the top: Gaussian with predicted mean "
           "and scale, or the report's literal zero-mean Gaussian whose "
           "scale the level above dictates.")


def resolve_args(args):
  """Fills the levels and their channels from the flags."""
  if args.latent_channels is None:
    levels = DEFAULT_LEVELS if args.levels is None else args.levels
    if levels < 2:
      raise ValueError("--levels must be at least 2")
    args.latent_channels = default_latent_channels(levels)
  elif args.levels is not None and args.levels != len(args.latent_channels):
    raise ValueError(f"--latent_channels lists {len(args.latent_channels)} "
                     f"levels but --levels is {args.levels}")
  args.levels = len(args.latent_channels)
  if args.levels < 2:
    raise ValueError("hcae needs at least 2 levels")
  if min(args.latent_channels) <= 0 or args.num_filters <= 0:
    raise ValueError("--latent_channels and --num_filters must be positive")


def build_model(args):
  """The model that `args` (after `resolve_args`) describe."""
  return HierarchicalModel(
      lmbda=args.lmbda, metric=args.metric, num_filters=args.num_filters,
      latent_channels=args.latent_channels, prior=args.prior,
      quality=args.quality, gdn=args.gdn)


SYSTEM = cli.System(
    name="hcae", description=__doc__, build_model=build_model,
    add_model_flags=add_model_flags, profiles=PROFILES, default_lmbda=None,
    resolve_args=resolve_args, max_pixels=HierarchicalModel.max_pixels,
    qualities=QUALITIES)

if __name__ == "__main__":
  cli.run(SYSTEM)
