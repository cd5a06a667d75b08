"""Lee, Cho, Beack (ICLR 2019): context-adaptive entropy model for end-to-end
optimized image compression.

The latents ŷ = round(y) are coded with a Gaussian whose mean and scale come
from two contexts (§2.2, eq. 4): c′, the hyperprior's output h_s(ẑ) (costs the
bits of ẑ), and c″, the already decoded neighbours of ŷ (free):

    p(ŷ_i | ẑ) = (N(μ_i, σ_i²) ∗ U(−½, ½))(ŷ_i),   (μ_i, σ_i) = f(c′_i, c″_i)

and ẑ with a zero-mean Gaussian with one trainable σ per channel (eq. 5).
What the paper leaves open and how it is decided here:

  * Transforms: Ballé 2018's with the input mapped to [−1, 1], h_a on
    ŷ (not |y|), exp at the end of h_s.
  * f (the paper draws its layers in a figure but does not list them): a 4x4
    convolution over the zero-padded [ŷ, c′] (3 rows on top, 2 columns left, 1
    right) whose taps on ŷ at the current position and its right neighbour are
    masked, ReLU, 1x1 to `--context_filters` (640), ReLU, 1x1 to 2M; μ is the
    first half and σ = exp(second half). Only the first layer looks beyond
    the position, so the dense masked convolution used in training equals the
    per-window f of the paper exactly (tested).
  * Loss (eq. 6): λ·R/(W·H) + (1 − λ)/1000·D, trained here as the equivalent
    bpp + λ′·D with λ′ = (1 − λ)/(1000·λ) for MSE on the 0..255 scale and
    λ′ = 3·(1 − λ)/λ for D = 3000·(1 − MS-SSIM) (footnote 1). R is in bits
    (the paper does not say bits or nats).
  * Training (§2.3, app. 6.2): ŷ = round(y) with identity gradient feeds g_s,
    h_a and the context; ỹ = y + u only enters the rate. The rate sums over
    all positions (dense f); `--rate_samples K` instead uses K random
    positions per image, scaled by H·W/K (§4.1: K = 32, 16 for the hybrid).
  * Hybrid model (app. 6.1) for q6-9: y = [y₁, y₂]; y₁ (M₁ = 192 channels) is
    coded with the context model, y₂ (M₂) with a zero-mean Gaussian whose σ₂
    is the last M₂ channels of exp(h_s). N/M₂ follow the paper's table (320/
    228 for q6-7, 400/408 for q8-9); the official test code uses M₂ = 192 for
    q6 (and q7 of the MS-SSIM models). The paper's hybrid "pre-training"
    (1M steps at 1e-5, unspecified what is pre-trained) is not done: hybrid
    models train with the same schedule as the base model.

Entropy coding uses TFC's range coder ops with the tables of
`gaussian_coder`: a grid over (σ, μ − round(μ)) fine enough that files are
within 0.5 % of the model's estimate. ŷ stays integer; out-of-range values
use the coder's escape code. The encoder and the decoder compute (μ, σ) with
the same function on the same inputs and shapes. It runs in float64: the
per-position reference path sums f's first layer in another order (and
another machine may block the products differently); in float64 such
differences are of the order of 10⁻¹⁶ times the summed terms and flip a
table cell only if μ or ln σ falls that close to a cell boundary. In
float32 they are 2²⁹ times larger (a 1-row and an n-row product of the same
row already differ on this CPU).

Wavefront coding. Position (l, k) (row, column) depends only on positions of
smaller t = k + 2l, so all positions of equal t are coded together: W + 2H − 2
steps instead of W·H (110 for a 768x512 Kodak image, 126 for a portrait one,
instead of 1536), in the order t, then l. The bitstream follows this order.
`compress_reference` / `decompress_reference` code the same order one
position at a time with the paper's per-window f (the test oracle and the
speed baseline).

    python -m tfc_repro.lee2019 --model_path m train --quality 3
    python -m tfc_repro.lee2019 --model_path m compress in.png out.tfci
    python -m tfc_repro.lee2019 --model_path m decompress out.tfci out.png
    python -m tfc_repro.lee2019 --model_path m evaluate --output r.json
"""

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc
from tensorflow_compression.python.ops import gen_ops

from tfc_repro import cli
from tfc_repro import gaussian_coder
from tfc_repro import latent_coders
from tfc_repro import model
from tfc_repro import quality as quality_lib
from tfc_repro import transforms

# λ of eq. 6 per quality level (from the official results).
PAPER_LAMBDAS = {
    "mse": (0.5, 0.4, 0.3, 0.2, 0.12, 0.06, 0.03, 0.017, 0.01),
    "ms-ssim": (0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.03, 0.017, 0.01),
}
DEFAULT_QUALITY = 3
CONTEXT_FILTERS = 640

# Training profiles. "paper" (§4.2): batches of 8 crops of 256x256, Adam
# 5e-5 for 1M steps, halved every 50k steps of the last 200k. "quick" for a
# 2-core CPU as bmshj2018's: sizes halved, 128x128 crops, 2000 steps, Adam
# 1e-3 divided by 10 after 80 % of the steps.
PROFILES = {
    "paper": dict(size_scale=1.0, patchsize=256, batchsize=8,
                  steps=1_000_000, lr=5e-5,
                  lr_decay_steps=(0.8, 0.85, 0.9, 0.95), lr_decay_factor=0.5),
    "quick": dict(size_scale=0.5, patchsize=128, batchsize=8,
                  steps=2000, lr=1e-3, lr_decay_steps=(0.8,),
                  lr_decay_factor=0.1),
}


def converted_lambda(metric, lmbda):
  """eq. 6's λ -> λ′ of bpp + λ′·D (MSE₂₅₅, or 1 − MS-SSIM)."""
  if metric == "mse":
    return (1. - lmbda) / (1000. * lmbda)
  return 3. * (1. - lmbda) / lmbda


def paper_sizes(quality):
  """(N, M₁, M₂) of a quality level: base model (M₂ = 0) for q1-5, hybrid
  for q6-9 (app. 6.1 table)."""
  if quality <= 5:
    return 128, 192, 0
  return (320, 192, 228) if quality <= 7 else (400, 192, 408)


def level_sizes(quality, args):
  """The sizes --quality picks: N, M₁, M₂ and f's width."""
  del args  # The same for every flag.
  n, m1, m2 = paper_sizes(quality)
  return dict(num_filters=n, num_latents=m1, num_hybrid_latents=m2,
              context_filters=CONTEXT_FILTERS)


QUALITIES = quality_lib.Table(
    lambdas=PAPER_LAMBDAS, default=DEFAULT_QUALITY,
    source="eq. 6's λ of the official results", sizes=level_sizes,
    sizes_help=("the model: base N=128, M=192 for q1-5, hybrid N=320, "
                "M1+M2=192+228 for q6-7 and N=400, M1+M2=192+408 for q8-9; "
                "--profile quick halves N, M1, M2 and --context_filters"))


def round_ste(x):
  """round(x) with the identity as gradient (Theis et al.)."""
  return x + tf.stop_gradient(tf.round(x) - x)


# Taps of the 4x4 window, (row, column) relative to the padded position
# (l, k) -> padded[l + row, k + column]; the current position is (3, 2).
_MASKED_TAPS = ((3, 2), (3, 3))
_VISIBLE_TAPS = tuple((r, c) for r in range(4) for c in range(4)
                      if (r, c) not in _MASKED_TAPS)
_WINDOW = [[(r, c) for c in range(4)] for r in range(4)]  # all 4x4 taps
_PADDING = ((3, 0), (2, 1))  # rows (top, bottom), columns (left, right)


class ContextModel(tf.keras.layers.Layer):
  """The distribution estimator f (§2.2, Fig. 4).

  Input at position (l, k): the 4x4 windows (rows l−3..l, columns k−2..k+1)
  of c″ = ⟨ŷ⟩ (current position and right neighbour masked) and of c′,
  concatenated as [c″, c′]. Output: μ and ln σ of the M channels there.
  """

  def __init__(self, num_channels, num_filters=CONTEXT_FILTERS, **kwargs):
    super().__init__(**kwargs)
    m, f = num_channels, num_filters
    self.num_channels = m
    self.kernel_1 = self.add_weight("kernel_1", (4, 4, 2 * m, f),
                                    initializer="glorot_uniform")
    self.bias_1 = self.add_weight("bias_1", (f,), initializer="zeros")
    self.kernel_2 = self.add_weight("kernel_2", (f, f),
                                    initializer="glorot_uniform")
    self.bias_2 = self.add_weight("bias_2", (f,), initializer="zeros")
    self.kernel_3 = self.add_weight("kernel_3", (f, 2 * m),
                                    initializer="glorot_uniform")
    self.bias_3 = self.add_weight("bias_3", (2 * m,), initializer="zeros")
    mask = np.ones((4, 4, 2 * m, 1), np.float32)
    for row, col in _MASKED_TAPS:
      mask[row, col, :m] = 0.
    self.mask = tf.constant(mask)

  def head_weights(self, dtype):
    """Layers 2 and 3 in `dtype`, kernels transposed (outputs first: the
    faster matmul layout for a few rows on CPUs)."""
    cast = lambda t: tf.cast(t, dtype)
    return (cast(tf.transpose(self.kernel_2)), cast(self.bias_2),
            cast(tf.transpose(self.kernel_3)), cast(self.bias_3))

  def _head(self, hidden, weights):
    """Layers 2 and 3 (1x1) on rows (P, F) and the split into μ, ln σ."""
    kernel_2, bias_2, kernel_3, bias_3 = weights
    hidden = tf.nn.relu(tf.matmul(hidden, kernel_2, transpose_b=True) +
                        bias_2)
    output = tf.matmul(hidden, kernel_3, transpose_b=True) + bias_3
    return output[..., :self.num_channels], output[..., self.num_channels:]

  def call(self, y_hat, c_prime):
    """Dense f for training: (μ, ln σ) at every position of (B, H, W, M)."""
    inputs = tf.pad(tf.concat([y_hat, c_prime], -1),
                    [(0, 0), *_PADDING, (0, 0)])
    hidden = tf.nn.relu(tf.nn.conv2d(inputs, self.kernel_1 * self.mask, 1,
                                     "VALID") + self.bias_1)
    shape = tf.shape(hidden)
    mu, log_sigma = self._head(tf.reshape(hidden, (-1, hidden.shape[-1])),
                               self.head_weights(hidden.dtype))
    shape = tf.concat([shape[:-1], [self.num_channels]], 0)
    return tf.reshape(mu, shape), tf.reshape(log_sigma, shape)

  def windowed(self, y_windows, c_windows, weights=None):
    """The paper's f on one window per position: (P, 4, 4, M) each ->
    (μ, ln σ) of shape (P, M). c″ is masked here. `weights`:
    `window_weights(dtype)`, to cast them once for many calls."""
    if weights is None:
      weights = self.window_weights(y_windows.dtype)
    kernel_1, bias_1, head = weights
    windows = tf.concat([y_windows, c_windows], -1)
    hidden = tf.matmul(tf.reshape(windows, (tf.shape(windows)[0], -1)),
                       kernel_1, transpose_b=True)
    return self._head(tf.nn.relu(hidden + bias_1), head)

  def window_weights(self, dtype):
    """f's weights for `windowed`, in `dtype`, kernels transposed."""
    kernel_1 = tf.reshape(self.kernel_1 * self.mask,
                          (-1, self.kernel_1.shape[-1]))
    return (tf.cast(tf.transpose(kernel_1), dtype),
            tf.cast(self.bias_1, dtype), self.head_weights(dtype))

  # -- Coding: the same f split into its known and its sequential part. -------

  def context_part(self, c_prime):
    """c′'s contribution to layer 1 plus its bias at every position, float64:
    (H, W, M) -> (H, W, F). c′ is known before ŷ is coded."""
    c_prime = tf.pad(tf.cast(c_prime, tf.float64)[None],
                     [(0, 0), *_PADDING, (0, 0)])
    kernel = tf.cast(self.kernel_1[:, :, self.num_channels:], tf.float64)
    return (tf.nn.conv2d(c_prime, kernel, 1, "VALID")[0] +
            tf.cast(self.bias_1, tf.float64))

  def coding_weights(self):
    """The float64 weights of the sequential part, cast once per image:
    layer 1 on the visible ŷ taps (transposed) and `head_weights`."""
    taps = tf.gather_nd(self.kernel_1[:, :, :self.num_channels],
                        _VISIBLE_TAPS)
    kernel_1 = tf.reshape(taps, (-1, self.kernel_1.shape[-1]))
    return (tf.cast(tf.transpose(kernel_1), tf.float64),
            self.head_weights(tf.float64))

  def from_taps(self, y_taps, context_part, weights):
    """(μ, ln σ) from the visible ŷ taps (P, 14, M) of each position and its
    `context_part` row (P, F), float64, with `coding_weights()`."""
    kernel_1, head = weights
    hidden = tf.matmul(tf.reshape(y_taps, (tf.shape(y_taps)[0], -1)),
                       kernel_1, transpose_b=True)
    return self._head(tf.nn.relu(hidden + context_part), head)


def wavefront_schedule(height, width):
  """Positions (L, 2) as (row, column) in coding order, and the start of
  each wavefront step in it (T + 1,), T = W + 2H − 2 steps: step t holds the
  positions with k + 2l = t, by increasing row."""
  rows, cols = tf.meshgrid(tf.range(height), tf.range(width), indexing="ij")
  rows, cols = tf.reshape(rows, [-1]), tf.reshape(cols, [-1])
  steps = cols + 2 * rows
  order = tf.argsort(steps * height + rows, stable=True)
  positions = tf.stack([tf.gather(rows, order), tf.gather(cols, order)], 1)
  counts = tf.math.bincount(steps, minlength=width + 2 * height - 2,
                            dtype=tf.int32)
  starts = tf.concat([[0], tf.cumsum(counts)], 0)
  return positions, starts


def raster_schedule(height, width):
  """The same order as `wavefront_schedule`, one position per step."""
  positions, _ = wavefront_schedule(height, width)
  return positions, tf.range(height * width + 1)


class ContextAdaptiveModel(model.CompressionModel):
  """The base model of Lee et al. (q1-5); `HybridModel` adds y₂ (q6-9)."""

  system = "lee2019"
  stride = 64
  latent_names = ("y", "z")
  shape_strides = (16, 64)

  def __init__(self, lmbda, metric="mse", num_filters=128, num_latents=192,
               num_hybrid_latents=0, context_filters=CONTEXT_FILTERS,
               rate_samples=0, quality=None, paper_lambda=None, gdn="full"):
    super().__init__(dict(
        lmbda=lmbda, metric=metric, num_filters=num_filters,
        num_latents=num_latents, num_hybrid_latents=num_hybrid_latents,
        context_filters=context_filters, rate_samples=rate_samples,
        quality=quality, paper_lambda=paper_lambda, gdn=gdn))
    n, m1, m2 = num_filters, num_latents, num_hybrid_latents
    self.num_context_latents = m1
    self.rate_samples = rate_samples
    # g_a: x/127.5 − 1, then 5x5/2↓ N with GDN x3, 5x5/2↓ M₁+M₂ (linear).
    self.analysis_transform = transforms.analysis_transform(
        [(n, 5, 2), (n, 5, 2), (n, 5, 2), (m1 + m2, 5, 2)], centered=True,
        gdn_form=gdn)
    # g_s: 5x5/2↑ N with IGDN x3, 5x5/2↑ 3 (linear), then (x̂ + 1)·127.5.
    self.synthesis_transform = transforms.synthesis_transform(
        [(n, 5, 2), (n, 5, 2), (n, 5, 2), (3, 5, 2)], centered=True,
        gdn_form=gdn)
    # h_a on ŷ: 3x3/1 N, ReLU, 5x5/2↓ N, ReLU, 5x5/2↓ N (linear).
    self.hyper_analysis_transform = transforms.hyper_analysis(
        [(n, 3, 1), (n, 5, 2), (n, 5, 2)], last_bias=True)
    # h_s: 5x5/2↑ N, ReLU, 5x5/2↑ N, ReLU, 3x3/1 M₁+M₂; exp in `side_info`.
    self.hyper_synthesis_transform = transforms.hyper_synthesis(
        [(n, 5, 2), (n, 5, 2), (m1 + m2, 3, 1)])
    self.context_model = ContextModel(m1, context_filters)
    # eq. 5: σ_z = |s|, one trainable s per channel of z.
    self.z_scale = self.add_weight("z_scale", (n,), initializer="ones")
    self.build((None, None, None, 3))

  @property
  def user_lambda(self):
    """eq. 6's λ, the one --lambda and --quality give (`loss_lambda` is
    λ′)."""
    paper_lambda = self.config.get("paper_lambda")
    return self.loss_lambda if paper_lambda is None else paper_lambda

  # -- The model of eq. 4-6. ----------------------------------------------------

  def side_entropy_model(self, compression=False):
    """ẑ's model: N(0, σ_z²) ∗ U(−½, ½) per channel (eq. 5)."""
    prior = tfc.NoisyNormal(
        loc=0., scale=tfc.lower_bound(abs(self.z_scale),
                                      gaussian_coder.SCALE_MIN))
    # No offset heuristic: ẑ = round(z), as in training.
    return latent_coders.ContinuousBatchedEntropyModel(prior, coding_rank=3,
                                             compression=compression,
                                             offset_heuristic=False)

  def side_info(self, z_hat, y_shape):
    """exp(h_s(ẑ)) cropped to y: c′ (M₁ channels) and ln σ₂ (M₂ channels)."""
    side = self.hyper_synthesis_transform(z_hat)[:, :y_shape[0], :y_shape[1]]
    m1 = self.num_context_latents
    return tf.exp(side[..., :m1]), side[..., m1:]

  def _rate_weights(self, shape):
    """1 everywhere, or H·W/K at K random positions per image (§4.1)."""
    if not self.rate_samples:
      return 1.
    batch, height, width = shape[0], shape[1], shape[2]
    count = height * width
    keys = tf.random.uniform((batch, count))
    kth = tf.math.top_k(keys, tf.minimum(self.rate_samples, count)).values
    chosen = keys >= kth[:, -1:]
    weight = tf.cast(count, tf.float32) / tf.cast(
        tf.minimum(self.rate_samples, count), tf.float32)
    return tf.reshape(tf.cast(chosen, tf.float32) * weight,
                      (batch, height, width, 1))

  # The paper's: ŷ = Q(y) with the identity as gradient feeds g_s and h_a.
  training_quantization = "ste"

  def latent_bits(self, y, training):
    """What g_s takes of y (ŷ = Q(y), the paper's, or ỹ under --quantization
    noise) and the bits of each latent (eq. 4, 5), as a dict."""
    m1 = self.num_context_latents
    y_hat = round_ste(y)                              # ŷ = Q(y), identity grad
    z = self.hyper_analysis_transform(y_hat)          # z = h_a(ŷ)
    z_hat = round_ste(z)                              # ẑ = Q(z)
    # eq. 5: −log₂ p(z̃) with z̃ = z + u (ẑ when not training).
    _, bits_z = self.coders["z"].rate(z, training=training)
    c_prime, log_sigma_2 = self.side_info(z_hat, tf.shape(y)[1:3])
    mu, log_sigma = self.context_model(y_hat[..., :m1], c_prime)  # f(c′, c″)
    # eq. 4: −log₂ p(ỹ | ẑ) with ỹ = y + u; only the rate sees the noise.
    y_tilde = y + tf.random.uniform(tf.shape(y), -.5, .5) if training else (
        y_hat)
    weights = self._rate_weights(tf.shape(y)) if training else 1.
    bits = {self.context_coder.name: weights * self.context_coder.rate(
        y_tilde[..., :m1], mu, log_sigma), "z": bits_z}
    synthesis_input = self.synthesis_input(y, y_tilde, training=training)
    if "y2" in self.coders:
      # Hybrid (eq. 10): y₂ ~ N(0, σ₂²) ∗ U, σ₂ from h_s alone.
      bits["y2"] = self.coders["y2"].rate(y_tilde[..., m1:], 0., log_sigma_2)
    # In bitstream order: the rate adds them up in this order.
    return synthesis_input, {name: bits[name] for name in self.latent_names}

  def call(self, x, training):
    x = tf.cast(x, self.compute_dtype)
    y = self.analysis_transform(x)                    # y = g_a(x)
    y_hat, bits = self.latent_bits(y, training)
    x_hat = self.synthesis_transform(y_hat)           # x̂ = g_s(ŷ)
    return self.rate_distortion(x, x_hat, **bits)     # eq. 6

  # -- Coding -------------------------------------------------------------------

  def make_coders(self):
    """ŷ₁ (ŷ of the base model) with the context model, ẑ under its
    Gaussian (eq. 5); `HybridModel` adds ŷ₂."""
    return (WavefrontContextCoder(self.latent_names[0],
                                  latent_coders.GaussianGrid(),
                                  self.context_model),
            latent_coders.FactorizedCoder(
                "z", latent_coders.EntropyModel(self.side_entropy_model)))

  @property
  def context_coder(self):
    """The coder of ŷ₁, the latent coded with the context model."""
    return self.coders[self.latent_names[0]]

  def _analyse(self, x):
    """Encoder side: (ŷ as int32 (H, W, M), z, x_shape)."""
    y, x_shape = self.analyze(x)
    y_hat = tf.round(y)
    z = self.hyper_analysis_transform(y_hat)
    return tf.cast(y_hat[0], tf.int32), z, x_shape

  def _contexts(self, z_hat, y_shape, reference):
    """What both sides derive from ẑ before coding ŷ, in float64: the
    context coder's contexts from c′ (`WavefrontContextCoder.contexts`) and
    ln σ₂."""
    c_prime, log_sigma_2 = self.side_info(z_hat, y_shape)
    return (self.context_coder.contexts(c_prime[0], reference),
            tf.cast(log_sigma_2[0], tf.float64))

  def _compress(self, x, reference=False):
    y_hat, z, x_shape = self._analyse(x)
    latents = latent_coders.Latents()
    z_hat = self.coders["z"].compress(latents, z)
    contexts, log_sigma_2 = self._contexts(z_hat, tf.shape(y_hat)[:2],
                                           reference)
    m1 = self.num_context_latents
    self.context_coder.compress(latents, y_hat[..., :m1], contexts)
    if "y2" in self.coders:
      self.coders["y2"].compress(latents, y_hat[..., m1:],
                                 tf.zeros_like(log_sigma_2), log_sigma_2)
    return latents, x_shape

  def _decompress(self, latents, x_shape, reference=False):
    z_hat = self.coders["z"].decompress(latents)
    contexts, log_sigma_2 = self._contexts(z_hat, latents.shapes["y"],
                                           reference)
    y_hat = self.context_coder.decompress(latents, contexts)
    if "y2" in self.coders:
      y_hat = tf.concat([y_hat, self.coders["y2"].decompress(
          latents, tf.zeros_like(log_sigma_2), log_sigma_2)], -1)
    return self.synthesize(tf.cast(y_hat, self.compute_dtype)[None], x_shape)

  def _build_coding_functions(self):
    """`compress`, `decompress`, `estimate`, and `compress_reference` /
    `decompress_reference`, which code the same order one position at a time
    with the per-window f."""
    super()._build_coding_functions()
    for name, function in self.coding_functions(
        suffix="_reference", reference=True).items():
      object.__setattr__(self, name, function)

  def _estimate(self, x):
    """The model's bits per latent for ŷ = round(y) (eq. 4, 5)."""
    _, bits = self.latent_bits(self.analyze(x)[0], training=False)
    return bits

  @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
  def reconstruct(self, x):
    """g_s(round(y)) without entropy coding (for tests)."""
    x, x_shape = self.prepare_image(x)
    y_hat = tf.round(self.analysis_transform(x))
    return self.finish_image(self.synthesis_transform(y_hat), x_shape)


class HybridModel(ContextAdaptiveModel):
  """The hybrid model (app. 6.1): y₂ coded with σ₂ from h_s, no context."""

  latent_names = ("y1", "y2", "z")
  shape_names = ("y", "z")  # y1 and y2 share y's shape

  def make_coders(self):
    context_coder, side_coder = super().make_coders()
    return (context_coder, latent_coders.GaussianGridCoder(
        "y2", context_coder.tables, shape_name="y"), side_coder)


class WavefrontContextCoder(latent_coders.GridCoder):
  """ŷ₁ coded with the context model (eq. 4): each position under the (μ, σ)
  that f gives from c′ and the decoded neighbours, all positions of one
  wavefront step at a time (or one at a time with the per-window f, the
  reference). Its values are int32 (H, W, M₁)."""

  def __init__(self, name, tables, context_model):
    super().__init__(name, tables, shape_name="y")
    self.context_model = context_model

  def contexts(self, c_prime, reference):
    """What f needs of c′ (H, W, M₁), in float64: its part of layer 1 and the
    sequential weights (wavefront), or the padded c′ and the per-window
    weights (`reference`)."""
    f = self.context_model
    if reference:
      return dict(reference=True,
                  c_padded=tf.pad(tf.cast(c_prime, tf.float64),
                                  [*_PADDING, (0, 0)]),
                  window_weights=f.window_weights(tf.float64))
    return dict(reference=False, context_part=f.context_part(c_prime),
                weights=f.coding_weights())

  def _cells(self, y_padded, positions, contexts):
    """The table cells and round(μ) of ŷ₁ at `positions` (P, 2), from the
    decoded part of ŷ₁ (`y_padded`, float64). The one computation of (μ, σ)
    shared by the encoder and the decoder."""
    if contexts["reference"]:  # the paper's f on the two 4x4 windows (P = 1)
      indices = positions[:, None, None, :] + tf.constant(_WINDOW)[None]
      mu, log_sigma = self.context_model.windowed(
          tf.gather_nd(y_padded, indices),
          tf.gather_nd(contexts["c_padded"], indices),
          contexts["window_weights"])
    else:
      indices = positions[:, None, :] + tf.constant(_VISIBLE_TAPS)[None]
      mu, log_sigma = self.context_model.from_taps(
          tf.gather_nd(y_padded, indices),
          tf.gather_nd(contexts["context_part"], positions),
          contexts["weights"])
    return gaussian_coder.cells(mu, log_sigma)

  @staticmethod
  def _schedule(y_shape, contexts):
    return (raster_schedule if contexts["reference"] else
            wavefront_schedule)(y_shape[0], y_shape[1])

  def compress(self, latents, values, contexts):
    """Codes ŷ₁ step by step in wavefront order; returns it."""
    positions, starts = self._schedule(tf.shape(values), contexts)
    y_padded = tf.pad(tf.cast(values, tf.float64), [*_PADDING, (0, 0)])
    handle = gen_ops.create_range_encoder([], self.tables.cdf)
    for step in tf.range(tf.size(starts) - 1):
      at = positions[starts[step]:starts[step + 1]]
      cell, rounded = self._cells(y_padded, at, contexts)
      symbols = gaussian_coder.symbols(tf.gather_nd(values, at), cell,
                                       rounded, self.tables.cdf_offset)
      handle = gen_ops.entropy_encode_index(handle, cell, symbols)
    latents.strings[self.name] = gen_ops.entropy_encode_finalize(handle)
    latents.shapes[self.shape_name] = tf.shape(values)[:2]
    latents.symbols[self.name] = values
    return values

  def decompress(self, latents, contexts):
    """Inverse of `compress`: ŷ₁ (H, W, M₁) int32 from its string."""
    string = latents.strings[self.name]
    y_shape = latents.shapes[self.shape_name]
    channels = self.context_model.num_channels
    positions, starts = self._schedule(y_shape, contexts)
    y_padded = tf.zeros((y_shape[0] + 3, y_shape[1] + 3, channels),
                        tf.float64)
    handle = self.decoder(string, y_shape[0] * y_shape[1] * channels)
    steps = tf.size(starts) - 1
    # Every step's cells and symbols, to code them again at the end.
    all_cells = tf.TensorArray(tf.int32, size=steps, infer_shape=False,
                               element_shape=(None, channels))
    all_symbols = tf.TensorArray(tf.int32, size=steps, infer_shape=False,
                                 element_shape=(None, channels))
    for step in tf.range(steps):
      at = positions[starts[step]:starts[step + 1]]
      cell, rounded = self._cells(y_padded, at, contexts)
      handle, symbols = gen_ops.entropy_decode_index(
          handle, cell, tf.shape(cell), tf.int32)
      all_cells = all_cells.write(step, cell)
      all_symbols = all_symbols.write(step, symbols)
      decoded = gaussian_coder.values(symbols, cell, rounded,
                                      self.tables.cdf_offset)
      y_padded = tf.tensor_scatter_nd_update(
          y_padded, at + [[_PADDING[0][0], _PADDING[1][0]]],
          tf.cast(decoded, tf.float64))
    # The symbols coded in one go with the cells they were decoded with
    # give the encoder's string (the range coder codes them in order).
    symbols = all_symbols.concat()
    values = self.checked(
        tf.cast(y_padded[3:, 2:-1], tf.int32), string,
        lambda: self.encoded(all_cells.concat(), symbols), symbols)
    latents.symbols[self.name] = values
    return values


def add_model_flags(parser):
  """The lee2019 train flags."""
  parser.add_argument("--num_filters", type=int, default=None,
                      help="N (default from --quality and --profile).")
  parser.add_argument("--num_latents", type=int, default=None,
                      help="M (base) or M1 (hybrid): channels of y coded "
                           "with the context model.")
  parser.add_argument("--num_hybrid_latents", type=int, default=None,
                      help="M2: channels of y coded with σ2 only (0 = base "
                           "model).")
  parser.add_argument("--context_filters", type=int, default=None,
                      help=f"Width of f's hidden layers (paper profile "
                           f"{CONTEXT_FILTERS}).")
  parser.add_argument("--rate_samples", type=int, default=0,
                      help="Estimate the rate of y from this many random "
                           "positions per image, as the paper (32 base, 16 "
                           "hybrid); 0 = all positions (dense f).")


def resolve_args(args):
  """Checks eq. 6's λ and the sizes (λ, N, M₁, M₂ and f's width are filled
  from --quality and --profile unless given)."""
  if not 0. < args.lmbda < 1.:
    raise ValueError(f"--lambda is eq. 6's λ and must lie in (0, 1), got "
                     f"{args.lmbda}")
  if min(args.num_filters, args.num_latents, args.context_filters) <= 0 or (
      args.num_hybrid_latents < 0):
    raise ValueError("--num_filters, --num_latents and --context_filters "
                     "must be positive, --num_hybrid_latents at least 0")
  if args.rate_samples < 0:
    raise ValueError("--rate_samples must be at least 0")


def build_model(args):
  """The model that `args` (after `resolve_args`) describe."""
  model_class = HybridModel if args.num_hybrid_latents else (
      ContextAdaptiveModel)
  return model_class(
      lmbda=converted_lambda(args.metric, args.lmbda), metric=args.metric,
      num_filters=args.num_filters,
      num_latents=args.num_latents,
      num_hybrid_latents=args.num_hybrid_latents,
      context_filters=args.context_filters, rate_samples=args.rate_samples,
      quality=args.quality, paper_lambda=args.lmbda, gdn=args.gdn)


SYSTEM = cli.System(
    name="lee2019", description=__doc__, build_model=build_model,
    add_model_flags=add_model_flags, profiles=PROFILES, default_lmbda=None,
    resolve_args=resolve_args, qualities=QUALITIES,
    lambda_help=("λ of eq. 6, λ·R + (1 − λ)/1000·D, between 0 and 1. "
                 "Overrides the λ of --quality."))

if __name__ == "__main__":
  cli.run(SYSTEM)
