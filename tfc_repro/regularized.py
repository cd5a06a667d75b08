"""Zhang et al. (2024), "An Information-Theoretic Regularizer for Lossy Neural
Image Compression": a codec (the mean-scale hyperprior or lee2019) trained
with −α times the conditional entropy of the image given its
reconstruction, estimated by a source model trained in alternation.

The codec's loss is

    L_φ = R + λ·D − α·Ĥ_θ(X | X̂)                                  (eq. 12)

where Ĥ_θ(X | X̂) = E[−log₂ q_θ(x | x̂)] is the conditional entropy of the
source given its reconstruction, estimated by a source model q_θ that is fit
in alternation by maximum likelihood (eq. 13, Algorithm 1):

    L_θ = −log₂ q_θ(x | sg(x̂)).

For transform coding, H(Ŷ) = H(X) − H(X | X̂) + H(Ŷ | X̂) (eq. 10): at a
fixed source entropy, raising H(X | X̂) is what lowers the rate, so the term
pushes the codec towards rate it can save. It costs nothing at inference:
the exported SavedModel holds only the backbone's coding functions and
weights, and codes files exactly as the plain backbone does.

What the paper leaves open and how it is decided here:

  * Backbones: `--backbone bmshj2018-meanscale` (the mean-scale hyperprior,
    CompressAI's mbt2018-mean, the paper's hyperprior backbone) and
    `--backbone lee2019` (Lee et al.'s context model stands in for the
    paper's autoregressive backbone, mbt2018, which tfc-repro does not
    implement). Every backbone flag (--quality, --lambda, --num_filters, ...)
    means what it means for the backbone; λ is the backbone's.
  * q_θ is aligned with the backbone's entropy model: a Gaussian per
    pixel-channel, discretized with unit bins on the 0..255 scale,
    q(x) = Φ((x + ½ − μ)/σ) − Φ((x − ½ − μ)/σ), σ ≥ 0.11, likelihoods bounded
    below at 1e-9 (on [0, 1] every bin would hold nearly all the mass and the
    term would vanish). μ = x̂ + m and σ come from three 3x3 convolutions on
    x̂ (3 → 64 → 96 → 6, LeakyReLU): the hyperprior's h_s-like network;
    the quick profile halves the widths (32, 48) as it shrinks the backbone,
    else this network at full resolution would cost several times the
    backbone's step (`--source_filters`). For
    lee2019 (autoregressive) the network ends in 12 features instead, a
    5x5 masked convolution over x (type A: the current pixel and the ones
    after it in raster order unseen) adds 12 more, and three 1x1 layers
    (24 → 20 → 16 → 6) give μ and σ, like the context model's parameter
    network.
  * q_θ starts wide: σ = 64 before training (`--source_scale`), nearly
    uninformative over 0..255, and sharpens as it learns. The codec's term
    rewards errors wherever q_θ is more confident than the errors are
    large (−log q grows with (x − μ)²/σ²), so a q_θ that starts narrower
    than an untrained codec's error drives that error up faster than q_θ
    widens: with σ = 8 at the start, lee2019 at α = 1 reached MSE 10⁴ and
    NaN within 32 steps (quick profile, quality 1). Started wide, the term
    grows only as q_θ earns its confidence.
  * The term is in bits per pixel like R (summed over the three channels,
    divided by H·W), so α weighs it against R directly; α defaults to the
    paper's: 0.1 for the hyperprior, 1 for the autoregressive backbone.
    With a Gaussian q_θ fit to the errors, Ĥ grows like (3/2)·log₂ D, so
    the term pulls the MSE D towards 2.2·α/λ′ (λ′ the loss weight of D)
    until q_θ predicts x from its causal context instead of x̂. In short
    runs that pull decides the operating point: lee2019 at α = 1 and
    quality 1 (λ′ = 0.001) sat near MSE 2500 (PSNR 14) after 130 quick
    steps, while α = 0.1 stayed within 15 % of the plain model's MSE.
  * Algorithm 1's two stages run on one forward pass per step: the codec φ
    steps on L_φ (θ held fixed: q_θ's weights enter L_φ through
    stop-gradients), then q_θ steps on L_θ (x̂ held fixed). Each stage has
    its own Adam optimizer; `--source_lr` (default: --lr) is q_θ's learning
    rate, with the same schedule.

    python -m tfc_repro.regularized --backbone bmshj2018-meanscale \\
        --model_path m train --quality 3
    python -m tfc_repro.regularized --model_path m compress in.png out.tfci
    python -m tfc_repro.regularized --model_path m decompress out.tfci out.png
    python -m tfc_repro.regularized --model_path m evaluate --output r.json
"""

import math

import tensorflow as tf

from tfc_repro import argutil
from tfc_repro import cli
from tfc_repro import gaussian_coder
from tfc_repro import model
from tfc_repro import transforms

# --backbone -> (system module name, fixed backbone flags, default α).
BACKBONES = {
    "bmshj2018-meanscale": ("bmshj2018", ("--model", "meanscale"), 0.1),
    "lee2019": ("lee2019", (), 1.0),
}
DEFAULT_BACKBONE = "bmshj2018-meanscale"
# σ of q_θ (on 0..255) before training: wide (see the module docstring).
DEFAULT_SOURCE_SCALE = 64.


class SourceModel(tf.keras.layers.Layer):
  """q_θ(x | x̂): μ and σ of a discretized Gaussian per pixel-channel.

  `bits(x, x_hat, frozen)` returns −log₂ q_θ(x | x̂) per image. With
  `frozen=True` every weight enters through `tf.stop_gradient`: the value is
  the same, but no gradient reaches θ (the codec's stage).
  """

  def __init__(self, context=False, filters=(64, 96),
               initial_scale=DEFAULT_SOURCE_SCALE, **kwargs):
    super().__init__(**kwargs)
    self.context = context
    self.initial_log_scale = math.log(initial_scale)
    f1, f2 = filters
    shapes = [(3, 3, 3, f1), (3, 3, f1, f2), (3, 3, f2, 12 if context else 6)]
    if context:
      shapes += [(5, 5, 3, 12), (1, 1, 24, 20), (1, 1, 20, 16), (1, 1, 16, 6)]
    self.kernels = [self.add_weight(f"kernel_{i}", s,
                                    initializer="glorot_uniform")
                    for i, s in enumerate(shapes)]
    self.biases = [self.add_weight(f"bias_{i}", s[-1:], initializer="zeros")
                   for i, s in enumerate(shapes)]
    if context:
      mask = tf.cast(tf.reshape(tf.range(25) < 12, (5, 5, 1, 1)), tf.float32)
      self.mask = mask  # type A: taps before the centre in raster order

  def _conv(self, x, i, frozen, activation=None):
    kernel, bias = self.kernels[i], self.biases[i]
    if frozen:
      kernel, bias = tf.stop_gradient(kernel), tf.stop_gradient(bias)
    if self.context and i == 3:
      kernel = kernel * self.mask
    y = tf.nn.conv2d(x, kernel, 1, "SAME") + bias
    return activation(y) if activation else y

  def parameters(self, x, x_hat, frozen=False):
    """(μ, σ) on the 0..255 scale for every pixel-channel."""
    leaky = transforms.leaky_relu
    h = self._conv(x_hat / 255. - .5, 0, frozen, leaky)
    h = self._conv(h, 1, frozen, leaky)
    h = self._conv(h, 2, frozen)
    if self.context:
      c = self._conv(x / 255. - .5, 3, frozen)         # masked, over x
      h = self._conv(tf.concat([h, c], -1), 4, frozen, leaky)
      h = self._conv(h, 5, frozen, leaky)
      h = self._conv(h, 6, frozen)
    mean, log_scale = tf.split(h, 2, -1)
    return x_hat + mean, tf.exp(log_scale + self.initial_log_scale)

  def bits(self, x, x_hat, frozen=False):
    """−log₂ q_θ(x | x̂) summed per image: (B,)."""
    mean, scale = self.parameters(x, x_hat, frozen)
    bits = gaussian_coder.discretized_bits(x, mean, scale)
    return tf.reduce_sum(bits, axis=(1, 2, 3))


class RegularizedModel(model.CompressionModel):
  """A backbone trained with −α·Ĥ_θ(X | X̂); codes as the backbone."""

  system = "regularized"
  # The weights kept are those of the best held-out R + λ·D: the −α·Ĥ term
  # rises as the source model learns, so the loss is not comparable across
  # epochs (a run would keep its first epoch's weights).
  selection_term = "rd_loss"

  def __init__(self, backbone, alpha, source_lr=None, backbone_name=None,
               source_filters=(64, 96), source_scale=DEFAULT_SOURCE_SCALE):
    self.backbone_name = backbone_name
    super().__init__(
        dict(backbone=backbone_name, backbone_config=backbone.config,
             alpha=alpha, lmbda=backbone.loss_lambda, metric=backbone.metric,
             source_filters=list(source_filters),
             source_scale=float(source_scale)),
        latent_names=backbone.latent_names)
    self.backbone = backbone
    self.alpha = float(alpha)
    self.source_lr = source_lr
    self.shape_names = backbone.coded_shape_names
    self.stride = backbone.stride
    object.__setattr__(self, "shape_strides", backbone.coded_shape_strides)
    # Trains as its backbone quantizes (what training records of it).
    object.__setattr__(self, "training_quantization",
                       backbone.training_quantization)
    self.source_model = SourceModel(context=backbone.system == "lee2019",
                                    filters=source_filters,
                                    initial_scale=source_scale)
    self.build((None, None, None, 3))

  @property
  def user_lambda(self):
    return self.backbone.user_lambda

  def part_for(self, system):
    """A trained model of the backbone's system starts the backbone (both
    arms of a comparison from one trained codec), one of this system the
    whole model."""
    if system == self.backbone.system:
      return self.backbone
    return super().part_for(system)

  def term_names(self):
    """The backbone's terms, its R + λ·D, Ĥ(X|X̂) in bpp and L_θ."""
    return super().term_names() + ["rd_loss", "conditional_entropy",
                                   "source_loss"]

  def stages(self):
    return (
        model.Stage("codec", "loss",
                    lambda m: m.backbone.trainable_variables),
        model.Stage("source", "source_loss",
                    lambda m: m.source_model.trainable_variables,
                    learning_rate=self.source_lr),
    )

  def call(self, x, training):
    x = tf.cast(x, self.compute_dtype)
    terms = dict(self.backbone(x, training=training))   # R, D, R + λ·D, x̂
    x_hat = terms["x_hat"]
    num_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
    # Ĥ_θ(X | X̂) in bpp, θ held fixed: the codec's stage (eq. 12).
    entropy = tf.reduce_sum(
        self.source_model.bits(x, x_hat, frozen=True)) / num_pixels
    # L_θ with x̂ held fixed: the source model's stage (eq. 13).
    source_loss = tf.reduce_sum(
        self.source_model.bits(x, tf.stop_gradient(x_hat))) / num_pixels
    terms.update(rd_loss=terms["loss"], conditional_entropy=entropy,
                 source_loss=source_loss,
                 loss=terms["loss"] - self.alpha * entropy)
    return terms

  # Coding is the backbone's.

  def make_coders(self):
    return tuple(self.backbone.coders.values())

  def prepare_for_compression(self):
    self.backbone.prepare_for_compression()

  def _compress(self, x):
    return self.backbone._compress(x)  # pylint: disable=protected-access

  def _decompress(self, latents, x_shape):
    return self.backbone._decompress(latents, x_shape)  # pylint: disable=protected-access

  def _estimate(self, x):
    return self.backbone._estimate(x)  # pylint: disable=protected-access

  @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
  def reconstruct(self, x):
    """The backbone's quantized reconstruction (for tests)."""
    function = type(self.backbone).reconstruct.python_function
    return function(self.backbone, x)


def _backbone_system(name):
  from tfc_repro import systems  # pylint: disable=g-import-not-at-top
  return systems.system(BACKBONES[name][0])


# The backbone flags a regularized run passes through (the backbone checks
# them); None leaves the backbone's default.
_BACKBONE_FLAGS = ("quality", "num_filters", "num_latents",
                   "num_hybrid_latents", "context_filters", "rate_samples")
# Train settings that come from the backbone's profile unless given.
_TRAIN_KEYS = ("patchsize", "batchsize", "steps", "lr", "lr_decay_steps",
               "lr_decay_factor", "lr_schedule", "warmup_steps", "clip_norm",
               "quantization")

# Profiles: the backbone's own, so that a regularized run and a plain one
# train alike; "paper" adds the regularizer paper's batch of 16 and 256x256
# crops at Adam 1e-4 (§5.1; it gives no step count: the backbone's is used).
# The source model's widths scale with the backbone like the rest of the
# quick profile, so that its share of a training step stays near the paper's.
PROFILES = {
    "quick": dict(source_filters=(32, 48)),
    "paper": dict(batchsize=16, patchsize=256, lr=1e-4,
                  source_filters=(64, 96)),
}


def add_model_flags(parser):
  """The regularized train flags (and the backbone's that pass through)."""
  parser.add_argument(
      "--backbone", choices=sorted(BACKBONES), default=DEFAULT_BACKBONE,
      help="The codec trained with the regularizer: the mean-scale "
           "hyperprior (bmshj2018 --model meanscale) or lee2019's context "
           "model.")
  parser.add_argument(
      "--alpha", type=float, default=None,
      help="α of −α·Ĥ(X|X̂) (default: the paper's, 0.1 for "
           "bmshj2018-meanscale, 1 for lee2019; 0 trains the plain "
           "backbone with the source model alongside). The term pulls the "
           "distortion towards about 2.2·α/λ′ (MSE on 0..255, λ′ the weight "
           "of the MSE in the loss) until the source model learns to "
           "predict x without x̂: in short runs, keep 2.2·α/λ′ below the "
           "MSE you aim for.")
  parser.add_argument(
      "--source_lr", type=float, default=None,
      help="Adam learning rate of the source model q(x|x̂) (default: --lr), "
           "with the same decay steps.")
  parser.add_argument(
      "--source_filters", type=argutil.int_list, default=None,
      help="Channels of the source model's two hidden 3x3 convolutions on "
           "x̂, as 'C1,C2' (default from --profile: 64,96 paper, 32,48 "
           "quick).")
  parser.add_argument(
      "--source_scale", type=float, default=DEFAULT_SOURCE_SCALE,
      help="σ of the source model's Gaussians before training, on the "
           "0..255 scale: it starts wide and sharpens as it learns.")
  parser.add_argument(
      "--quality", type=int, default=None,
      help="The backbone's quality level (bmshj2018 1..8, lee2019 1..9; "
           "default 3): λ and sizes as for the backbone.")
  for flag in _BACKBONE_FLAGS[1:]:
    parser.add_argument(f"--{flag}", type=int, default=None,
                        help=f"The backbone's --{flag} (see python -m "
                             "tfc_repro.bmshj2018 / lee2019 train --help).")


def resolve_args(args):
  """Resolves the backbone's settings as its own program would."""
  name = args.backbone
  system = _backbone_system(name)
  module_name, fixed, alpha = BACKBONES[name]
  del module_name
  argv = ["--model_path", args.model_path, "train", *fixed,
          "--profile", args.profile, "--metric", args.metric]
  for flag in _BACKBONE_FLAGS:
    value = getattr(args, flag, None)
    if value is not None:
      argv += [f"--{flag}", str(value)]
  if args.lmbda is not None:
    argv += ["--lambda", str(args.lmbda)]
  if args.gdn is not None:
    argv += ["--gdn", args.gdn]
  for key in _TRAIN_KEYS:
    value = getattr(args, key, None)
    if value is not None:
      if isinstance(value, (tuple, list)):
        value = ",".join(str(v) for v in value)
      argv += [f"--{key}", str(value)]
  parser = cli.build_parser(system)
  try:
    backbone_args, unknown = parser.parse_known_args(argv)
  except SystemExit:  # argparse has printed what is wrong
    raise ValueError(f"the flags above do not fit --backbone {name}") from None
  if unknown:
    raise ValueError(f"{unknown[0]} does not apply to --backbone {name}")
  cli.resolve_train_args(system, backbone_args)
  for key in _TRAIN_KEYS:
    setattr(args, key, getattr(backbone_args, key))
  args.lmbda = backbone_args.lmbda
  args.quality = backbone_args.quality
  args.backbone_args = backbone_args
  if args.alpha is None:
    args.alpha = alpha
  if args.alpha < 0:
    raise ValueError("--alpha must be at least 0")
  if args.source_lr is None:
    args.source_lr = args.lr
  if args.source_lr <= 0:
    raise ValueError("--source_lr must be positive")
  if len(args.source_filters) != 2 or min(args.source_filters) <= 0:
    raise ValueError("--source_filters takes two positive sizes, e.g. 32,48")
  if not 0 < args.source_scale < 1e4:
    raise ValueError("--source_scale must lie between 0 and 10000 (σ on 0..255)")


def build_model(args):
  """The model that `args` (after `resolve_args`) describe."""
  backbone = _backbone_system(args.backbone).build_model(args.backbone_args)
  return RegularizedModel(backbone, args.alpha, args.source_lr,
                          backbone_name=args.backbone,
                          source_filters=args.source_filters,
                          source_scale=args.source_scale)


SYSTEM = cli.System(
    name="regularized", description=__doc__, build_model=build_model,
    add_model_flags=add_model_flags, profiles=PROFILES, default_lmbda=None,
    resolve_args=resolve_args, leading_flags=("--backbone",),
    lambda_help=("The backbone's λ (bmshj2018: of R + λ·D; lee2019: of "
                 "eq. 6). Overrides the λ of --quality."))

if __name__ == "__main__":
  cli.run(SYSTEM)
