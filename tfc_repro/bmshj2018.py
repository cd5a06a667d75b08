"""Ballé, Minnen, Singh, Hwang, Johnston (ICLR 2018): variational image
compression with a scale hyperprior, and its factorized-prior baseline.

The models share g_a and g_s (paper Fig. 4: four 5x5 stride-2 convolutions
with GDN/IGDN, N hidden and M latent channels):

  * `--model hyperprior` (default): y = g_a(x), z = h_a(|y|), σ = h_s(ẑ);
    ŷ is coded with a zero-mean Gaussian of scale σ convolved with U(-½, ½)
    (eq. 7, 11), ẑ with a non-parametric factorized density (eq. 9).
  * `--model factorized`: ŷ alone, with the factorized density (eq. 6).
  * `--model meanscale`: the mean-scale hyperprior that later work built on
    this paper (Minnen et al. 2018 without the context model; CompressAI's
    "mbt2018-mean"): h_a on y (no |·|) with LeakyReLU, h_s predicting σ and
    μ, ŷ coded around μ. N, M = 128, 192 for q1–4 and 192, 320 for q5–8
    (CompressAI's zoo), λ as for the hyperprior.

Layout per `--variant`:
  * `paper` (default): Fig. 4. h_a on |y|: 3x3/1 N, ReLU, 5x5/2↓ N, ReLU,
    5x5/2↓ N. h_s: 5x5/2↑ N, ReLU, 5x5/2↑ N, ReLU, 3x3/1 M, ReLU, and its
    output is the standard deviation σ itself.
  * `tfc`: TFC's `models/bmshj2018.py` simplification: N = M, h_s ends in N
    channels without ReLU, its convolutions use kernel_parameter="variable",
    and its output is used directly as the scale index.

Scale table. ŷ is coded with TFC's `LocationScaleIndexedEntropyModel` over
the shared table of 64 scales from 0.11 to 256 (`scale_table`); the paper's
σ is mapped onto it by the table's inverse, `scale_table.scale_index`. When
coding, the index is rounded to the nearest table entry (`paper`; within ±6%
of σ) or truncated as TFC's int cast does (`tfc`); `estimate` uses the same
integer indexes as `compress`, so the estimate matches the file.

Bitstream: latents ("y", "z"), i.e. the exported compress returns (string_y,
string_z, x_shape, y_shape, z_shape), TFC's order. Images are padded to a multiple of
64 (the down-sampling of z); h_s's output is cropped to y's spatial shape as
TFC does.

Quality levels (`--quality 1..8`, default 3) follow CompressAI's zoo
: λ per metric, and N, M = 128, 192 for q1–5 and 192, 320 for
q6–8, the paper's split (Fig. 4 caption). `--lambda` overrides λ;
`--num_filters` and `--num_latents` override N and M. `--profile quick`
halves the quality's N and M (64/96, 96/160) so that training fits a CPU;
`--profile paper` uses them as they are.

    python -m tfc_repro.bmshj2018 --model_path hp train --quality 3
    python -m tfc_repro.bmshj2018 --model_path hp compress in.png out.tfci
    python -m tfc_repro.bmshj2018 --model_path hp decompress out.tfci out.png
    python -m tfc_repro.bmshj2018 --model_path hp evaluate --output r.json
"""

import tensorflow as tf
import tensorflow_compression as tfc

from tfc_repro import cli
from tfc_repro import latent_coders
from tfc_repro import model
from tfc_repro import quality as quality_lib
from tfc_repro import scale_table
from tfc_repro import transforms

# CompressAI's λ per quality level, in the units of
# `CompressionModel.rate_distortion`: bpp + λ·MSE₂₅₅ and bpp + λ·(1 − MS-SSIM).
LAMBDAS = {
    "mse": (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800),
    "ms-ssim": (2.40, 4.58, 8.73, 16.64, 31.73, 60.50, 115.37, 220.00),
}
DEFAULT_QUALITY = 3
MODELS = ("hyperprior", "factorized", "meanscale")
VARIANTS = ("paper", "tfc")

# Training profiles. "paper" is the paper's recipe (§4.1): Adam at 1e-4, no
# learning-rate decay, batches of 8 crops of 256x256. The paper does not say
# how many steps it trained; 1M is TFC's default (1000 epochs x 1000 steps).
# "quick" is for a 2-core CPU, in proportion to bls2017's quick profile: N and
# M halved, 128x128 crops, the same 2000 steps (so that the two quick models
# compare at equal steps), a 10x higher learning rate divided by 10 after 80%
# of the steps. It was not tuned by a sweep as bls2017's was (which preferred
# 2e-3 there); one step of q1-5 (N=64, M=96) took 0.5 s on a loaded 2-core
# machine, about 17 minutes for the profile.
PROFILES = {
    "paper": dict(size_scale=1.0, patchsize=256, batchsize=8,
                  steps=1_000_000, lr=1e-4, lr_decay_steps=()),
    "quick": dict(size_scale=0.5, patchsize=128, batchsize=8,
                  steps=2000, lr=1e-3, lr_decay_steps=(0.8,)),
}


def paper_sizes(quality, model_name="hyperprior"):
  """The paper's (N, M) for a quality level: the 5 lower and 3 higher λ
  (CompressAI's mbt2018-mean: the 4 lower and 4 higher)."""
  if model_name == "meanscale":
    return (128, 192) if quality <= 4 else (192, 320)
  return (128, 192) if quality <= 5 else (192, 320)


def level_sizes(quality, args):
  """The sizes --quality picks: the paper's N and M (with --variant tfc,
  `resolve_args` sets N = M)."""
  if args.variant == "tfc":
    return {}
  n, m = paper_sizes(quality, args.model)
  return dict(num_filters=n, num_latents=m)


QUALITIES = quality_lib.Table(
    lambdas=LAMBDAS, default=DEFAULT_QUALITY, source="CompressAI's table",
    sizes=level_sizes,
    sizes_help=("the paper's N/M: 128/192 for q1-5, 192/320 for q6-8 "
                "(mean-scale: q1-4, q5-8); --profile quick halves N and M "
                "(64/96, 96/160), --profile paper uses them as they are"))


def image_transforms(num_filters, num_latents, conv="signal", gdn="full"):
  """g_a and g_s of Fig. 4, shared by both priors: (g_a, g_s)."""
  n, m = num_filters, num_latents
  # g_a: 5x5/2↓ N, GDN, 5x5/2↓ N, GDN, 5x5/2↓ N, GDN, 5x5/2↓ M (linear).
  analysis = transforms.analysis_transform(
      [(n, 5, 2), (n, 5, 2), (n, 5, 2), (m, 5, 2)], conv=conv, gdn_form=gdn)
  # g_s: 5x5/2↑ N, IGDN, 5x5/2↑ N, IGDN, 5x5/2↑ N, IGDN, 5x5/2↑ 3 (linear).
  synthesis = transforms.synthesis_transform(
      [(n, 5, 2), (n, 5, 2), (n, 5, 2), (3, 5, 2)], conv=conv, gdn_form=gdn)
  return analysis, synthesis


class FactorizedModel(model.FactorizedPriorModel):
  """The paper's factorized-prior baseline (§2, eq. 6); entropy coding as
  every factorized-prior model (`model.FactorizedPriorModel`)."""

  system = "bmshj2018"
  stride = 16

  def __init__(self, lmbda=0.0067, metric="mse", num_filters=128,
               num_latents=192, quality=None, conv="signal", gdn="full"):
    super().__init__(dict(
        lmbda=lmbda, metric=metric, model="factorized",
        num_filters=num_filters, num_latents=num_latents, variant="paper",
        quality=quality, conv=conv, gdn=gdn))
    self.analysis_transform, self.synthesis_transform = image_transforms(
        num_filters, num_latents, conv, gdn)
    # p_ỹ: a non-parametric density per channel ∗ U(-½, ½) (eq. 6, app. 6.1).
    self.prior = tfc.NoisyDeepFactorized(batch_shape=(num_latents,))
    self.build((None, None, None, 3))

  def call(self, x, training):
    x = tf.cast(x, self.compute_dtype)
    y = self.analysis_transform(x)                       # eq. 4: y = g_a(x)
    # eq. 6: ỹ = y + u, and its rate −log₂ p_ỹ(ỹ).
    y_tilde, bits = self.coders["y"].rate(y, training=training)
    x_tilde = self.synthesis_transform(                  # eq. 5: x̃ = g_s(ỹ)
        self.synthesis_input(y, y_tilde, training=training))
    return self.rate_distortion(x, x_tilde, y=bits)      # eq. 3: R + λ·D


class ScaleHyperpriorModel(model.CompressionModel):
  """The scale hyperprior model (§3, Fig. 4)."""

  system = "bmshj2018"
  stride = 64
  latent_names = ("y", "z")
  shape_strides = (16, 64)

  def __init__(self, lmbda=0.0067, metric="mse", num_filters=128,
               num_latents=192, variant="paper", quality=None,
               conv="signal", gdn="full"):
    if variant not in VARIANTS:
      raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "tfc" and num_filters != num_latents:
      raise ValueError("variant 'tfc' has N = M, got N = "
                       f"{num_filters}, M = {num_latents}")
    super().__init__(dict(
        lmbda=lmbda, metric=metric, model="hyperprior",
        num_filters=num_filters, num_latents=num_latents, variant=variant,
        quality=quality, conv=conv, gdn=gdn))
    self.variant = variant
    n, m = num_filters, num_latents
    self.analysis_transform, self.synthesis_transform = image_transforms(
        n, m, conv, gdn)
    # h_a on |y|: 3x3/1 N, ReLU, 5x5/2↓ N, ReLU, 5x5/2↓ N (linear, no bias).
    self.hyper_analysis_transform = transforms.hyper_analysis(
        [(n, 3, 1), (n, 5, 2), (n, 5, 2)], conv=conv)
    if variant == "paper":
      # h_s: 5x5/2↑ N, ReLU, 5x5/2↑ N, ReLU, 3x3/1 M, ReLU -> σ.
      self.hyper_synthesis_transform = transforms.hyper_synthesis(
          [(n, 5, 2), (n, 5, 2), (m, 3, 1)], final_activation=tf.nn.relu,
          conv=conv)
    else:
      # TFC: the same with N outputs, no final ReLU, "variable" kernels; the
      # output is the scale index.
      self.hyper_synthesis_transform = transforms.hyper_synthesis(
          [(n, 5, 2), (n, 5, 2), (n, 3, 1)], final_activation=None,
          kernel_parameter="variable", conv=conv)
    # p_z̃: a non-parametric density per channel ∗ U(-½, ½) (eq. 9).
    self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(n,))
    self.build((None, None, None, 3))

  def make_coders(self):
    """ŷ under a Gaussian on the scale table (indexed by `coding_indexes`
    when coding), ẑ under the factorized hyperprior."""
    return (
        latent_coders.ScaleIndexedCoder(
            "y", latent_coders.EntropyModel(self.gaussian_entropy_model),
            coding_index=self.coding_indexes),
        latent_coders.FactorizedCoder(
            "z", latent_coders.EntropyModel(self.hyperprior_entropy_model)))

  def gaussian_entropy_model(self, compression):
    """ŷ's entropy model: the shared scale table's Gaussians."""
    return scale_table.gaussian_entropy_model(compression)

  def hyperprior_entropy_model(self, compression):
    """ẑ's entropy model: the factorized hyperprior."""
    return latent_coders.ContinuousBatchedEntropyModel(
        self.hyperprior, coding_rank=3, compression=compression)

  def hyper_input(self, y):
    """What h_a sees: |y| (Fig. 4)."""
    return abs(y)

  def side_parameters(self, z_hat, y_shape):
    """(fractional scale indexes, mean or None) of ŷ from ẑ."""
    return self.scale_indexes(z_hat, y_shape), None

  def scale_indexes(self, z_hat, y_shape):
    """Fractional scale indexes of ŷ from ẑ: h_s(ẑ) cropped to y's (H, W);
    σ mapped by `scale_index` (paper), or used as is (tfc)."""
    side = self.hyper_synthesis_transform(z_hat)[:, :y_shape[0], :y_shape[1]]
    return scale_table.scale_index(side) if self.variant == "paper" else side

  def coding_indexes(self, indexes):
    """The integer table indexes that range coding uses: nearest entry
    (paper) or truncation, as TFC's int cast of the clipped index (tfc)."""
    if self.variant == "paper":
      return scale_table.nearest_index(indexes)
    return tf.floor(tf.clip_by_value(indexes, 0., scale_table.NUM_SCALES - 1.))

  def call(self, x, training):
    x = tf.cast(x, self.compute_dtype)
    # eq. 8: y = g_a(x), z = h_a(y); h_a takes |y| (Fig. 4).
    y = self.analysis_transform(x)
    z = self.hyper_analysis_transform(self.hyper_input(y))
    # eq. 8, 9: z̃ = z + u, and its rate −log₂ p_z̃(z̃).
    z_tilde, bits_z = self.coders["z"].rate(z, training=training)
    # eq. 7: σ̃ = h_s(z̃), as indexes into the scale table (and a mean).
    indexes, mean = self.side_parameters(z_tilde, tf.shape(y)[1:3])
    # eq. 7, 8: ỹ = y + u, and its rate −log₂ p_ỹ|z̃(ỹ | z̃).
    y_tilde, bits_y = self.coders["y"].rate(y, indexes, loc=mean,
                                            training=training)
    # eq. 5: x̃ = g_s(ỹ).
    x_tilde = self.synthesis_transform(self.synthesis_input(
        y, y_tilde, 0. if mean is None else mean, training))
    # eq. 10: the rates of ỹ and z̃ plus λ times the distortion.
    return self.rate_distortion(x, x_tilde, y=bits_y, z=bits_z)

  def _compress(self, x):
    y, x_shape = self.analyze(x)
    latents = latent_coders.Latents()
    # The encoder derives σ̂ from ẑ, as the decoder will (§3).
    z_hat = self.coders["z"].compress(
        latents, self.hyper_analysis_transform(self.hyper_input(y)))
    indexes, mean = self.side_parameters(z_hat, tf.shape(y)[1:3])
    self.coders["y"].compress(latents, y, indexes, loc=mean)
    return latents, x_shape

  def _decompress(self, latents, x_shape):
    z_hat = self.coders["z"].decompress(latents)
    indexes, mean = self.side_parameters(z_hat, latents.shapes["y"])
    y_hat = self.coders["y"].decompress(latents, indexes, loc=mean)
    return self.synthesize(y_hat, x_shape)

  def _estimate(self, x):
    y, _ = self.analyze(x)
    latents = latent_coders.Latents()
    z_hat = self.coders["z"].estimate(
        latents, self.hyper_analysis_transform(self.hyper_input(y)))
    indexes, mean = self.side_parameters(z_hat, tf.shape(y)[1:3])
    self.coders["y"].estimate(latents, y, indexes, loc=mean)
    return latents.bits

  @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
  def reconstruct(self, x):
    """The quantized reconstruction g_s(ŷ), without entropy coding (for
    tests)."""
    x, x_shape = self.prepare_image(x)
    y_hat = self.coders["y"].quantize(self.analysis_transform(x))
    return self.finish_image(self.synthesis_transform(y_hat), x_shape)


class MeanScaleHyperpriorModel(ScaleHyperpriorModel):
  """The mean-scale hyperprior: the scale hyperprior whose h_s also predicts
  the mean of ŷ, which is coded around it (Minnen et al. 2018 without the
  context model; CompressAI's "mbt2018-mean", the regularizer paper's
  hyperprior backbone). As CompressAI: h_a on y (no |·|): 3x3/1 N,
  LeakyReLU, 5x5/2↓ N, LeakyReLU, 5x5/2↓ N; h_s: 5x5/2↑ M, LeakyReLU, 5x5/2↑
  3M/2, LeakyReLU, 3x3/1 2M split into (σ, μ); LeakyReLU slope 0.01
  (PyTorch's default); σ bounded below at 0.11 on the shared scale table;
  ŷ = round(y − μ) + μ at test (TFC's, as CompressAI's "dequantize")."""

  def __init__(self, lmbda=0.0067, metric="mse", num_filters=128,
               num_latents=192, quality=None, conv="signal", gdn="full"):
    model.CompressionModel.__init__(self, dict(
        lmbda=lmbda, metric=metric, model="meanscale",
        num_filters=num_filters, num_latents=num_latents, variant="paper",
        quality=quality, conv=conv, gdn=gdn))
    self.variant = "paper"
    n, m = num_filters, num_latents
    self.analysis_transform, self.synthesis_transform = image_transforms(
        n, m, conv, gdn)
    leaky = transforms.leaky_relu_001
    self.hyper_analysis_transform = transforms.hyper_analysis(
        [(n, 3, 1), (n, 5, 2), (n, 5, 2)], last_bias=True, conv=conv,
        activation=leaky)
    self.hyper_synthesis_transform = transforms.hyper_synthesis(
        [(m, 5, 2), (m * 3 // 2, 5, 2), (2 * m, 3, 1)], conv=conv,
        activation=leaky)
    self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(n,))
    self.build((None, None, None, 3))

  def hyper_input(self, y):
    return y

  def side_parameters(self, z_hat, y_shape):
    """(scale indexes of σ, μ) from h_s(ẑ) (CompressAI's order: σ, μ)."""
    side = self.hyper_synthesis_transform(z_hat)[:, :y_shape[0], :y_shape[1]]
    sigma, mean = tf.split(side, 2, -1)
    return scale_table.scale_index(sigma), mean

  @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
  def reconstruct(self, x):
    """g_s(ŷ) with ŷ = round(y − μ) + μ, without entropy coding."""
    x, x_shape = self.prepare_image(x)
    y = self.analysis_transform(x)
    z_hat = self.coders["z"].quantize(self.hyper_analysis_transform(y))
    _, mean = self.side_parameters(z_hat, tf.shape(y)[1:3])
    y_hat = self.coders["y"].quantize(y, loc=mean)
    return self.finish_image(self.synthesis_transform(y_hat), x_shape)


def add_model_flags(parser):
  """The bmshj2018 train flags."""
  parser.add_argument(
      "--model", choices=MODELS, default="hyperprior",
      help="Entropy model of y: the scale hyperprior (§3), the "
           "factorized-prior baseline (§2), or the mean-scale hyperprior "
           "(h_s also predicts the mean; CompressAI's mbt2018-mean; N/M "
           "128/192 for q1-4, 192/320 for q5-8).")
  parser.add_argument(
      "--num_filters", type=int, default=None,
      help="N, the channels of the hidden layers and of z (default from "
           "--quality and --profile).")
  parser.add_argument(
      "--num_latents", type=int, default=None,
      help="M, the channels of y (default from --quality and --profile; "
           "= N with --variant tfc).")
  parser.add_argument(
      "--variant", choices=VARIANTS, default="paper",
      help="Hyperprior layout. 'paper': Fig. 4, h_s ends in M channels and a "
           "ReLU giving σ. 'tfc': TFC's models/bmshj2018.py, N = M (the "
           "quality's M), h_s ends in N channels without ReLU, its output "
           "used as scale indexes, 'variable' h_s kernels, the simplified "
           "GDN.")

  parser.add_argument(
      "--conv", choices=("signal", "keras"), default="signal",
      help="Convolution layers: TFC's SignalConv2D with RDFT kernels (as "
           "TFC's reference models; the exported model runs them as frozen "
           "plain convolutions), or plain Keras Conv2D/Conv2DTranspose "
           "(for comparison; see results/bench/bmshj2018.json).")


def resolve_args(args):
  """Checks N and M (filled from --quality and the profile unless given);
  --variant tfc has N = M, the quality's M."""
  if args.variant == "tfc" and args.model != "hyperprior":
    raise ValueError("--variant tfc applies to --model hyperprior only")
  if args.variant == "tfc":
    given = {v for v in (args.num_filters, args.num_latents) if v is not None}
    if len(given) > 1:
      raise ValueError("--variant tfc has N = M: give --num_filters or "
                       "--num_latents, not two different values")
    m = round(paper_sizes(args.quality, args.model)[1] * args.size_scale)
    args.num_filters = args.num_latents = given.pop() if given else m
  if args.num_filters <= 0 or args.num_latents <= 0:
    raise ValueError("--num_filters and --num_latents must be positive")


def build_model(args):
  """The model that `args` (after `resolve_args`) describe."""
  conv = getattr(args, "conv", "signal")
  if args.model == "meanscale":
    return MeanScaleHyperpriorModel(
        lmbda=args.lmbda, metric=args.metric, num_filters=args.num_filters,
        num_latents=args.num_latents, quality=args.quality, conv=conv,
        gdn=args.gdn)
  if args.model == "factorized":
    return FactorizedModel(
        lmbda=args.lmbda, metric=args.metric, num_filters=args.num_filters,
        num_latents=args.num_latents, quality=args.quality, conv=conv,
        gdn=args.gdn)
  return ScaleHyperpriorModel(
      lmbda=args.lmbda, metric=args.metric, num_filters=args.num_filters,
      num_latents=args.num_latents, variant=args.variant,
      quality=args.quality, conv=conv, gdn=args.gdn)


SYSTEM = cli.System(
    name="bmshj2018", description=__doc__, build_model=build_model,
    add_model_flags=add_model_flags, profiles=PROFILES, default_lmbda=None,
    resolve_args=resolve_args, qualities=QUALITIES)

if __name__ == "__main__":
  cli.run(SYSTEM)
