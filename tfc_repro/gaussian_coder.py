"""Range coding of integers under discretized Gaussians with any mean.

TFC's `LocationScaleIndexedEntropyModel` codes round(y − μ) + μ: the mean
shifts the quantization grid. Lee et al. (2019) quantize first, ŷ = round(y),
because the hyper analysis h_a consumes ŷ before any μ exists; ŷ is then coded
with p(ŷ) = Φ((ŷ + ½ − μ)/σ) − Φ((ŷ − ½ − μ)/σ) for a fractional μ. This module
gives TFC's range coder (`create_range_encoder`, `entropy_encode_index`, ...)
the tables for that: one CDF per cell of a fixed grid over

  * the scale: the 64 values σ_s = exp(ln 0.11 + s·Δ) from 0.11 to 256 of
    the shared scale table (`scale_table`, TFC's, Δ = ln(256/0.11)/63);
  * the fractional part of the mean: `MEAN_BINS + 1` offsets
    c_j = −½ + j/MEAN_BINS, j = 0..MEAN_BINS, covering μ − round(μ) ∈ [−½, ½].

A value ŷ with parameters (μ, ln σ) is coded as the symbol
d = ŷ − round(μ) under the cell nearest to (μ − round(μ), ln σ): the CDF of
N(c_j, σ_s²) ∗ U(−½, ½) at the integers −K_s..K_s (K_s = ⌈2.9·σ_s⌉ + 1 covers all
but 2⁻⁸ of the mass, TFC's default tail mass), plus an overflow symbol. The
precision is negated as TFC's own tables do, which switches on the range
coder's escape code: values outside −K_s..K_s are still coded exactly
(Elias-gamma), they only cost more bits.

With σ rounded to within ±6 % and μ to within ±1/64, the coded size exceeds the
ideal −log₂ p by well under 0.5 % (`tests/test_lee2019.py` measures it).
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc  # pylint: disable=unused-import
from tensorflow_compression.python.ops import gen_ops

from tfc_repro import scale_table

NUM_SCALES = scale_table.NUM_SCALES
SCALE_MIN = scale_table.SCALE_MIN
LOG_SCALE_MIN = scale_table.LOG_SCALE_MIN
LOG_SCALE_STEP = scale_table.LOG_SCALE_STEP
MEAN_BINS = 32
PRECISION = 16
TAIL_SIGMAS = 2.9   # Φ(−2.9)·2 ≈ 2⁻⁸, TFC's default tail mass
MAX_MEAN = 2. ** 20  # |μ| is clipped here so that round(μ) fits in int32



def _normal_cdf(x):
  return 0.5 * np.vectorize(math.erfc)(-x / math.sqrt(2.))


def build_tables():
  """(cdf, cdf_offset): the flat lookup table of TFC's range coder (one
  `[-precision, cdf...]` row per grid cell, cell = s·(MEAN_BINS+1) + j) and
  the smallest symbol value d of every row."""
  rows, offsets = [], []
  for s in range(NUM_SCALES):
    sigma = math.exp(LOG_SCALE_MIN + s * LOG_SCALE_STEP)
    half_width = math.ceil(TAIL_SIGMAS * sigma) + 1
    values = np.arange(-half_width, half_width + 1, dtype=np.float64)
    for j in range(MEAN_BINS + 1):
      center = -0.5 + j / MEAN_BINS
      pmf = (_normal_cdf((values + 0.5 - center) / sigma) -
             _normal_cdf((values - 0.5 - center) / sigma))
      overflow = max(1. - pmf.sum(), 0.)
      pmf = np.append(pmf, overflow).astype(np.float32)
      cdf = gen_ops.pmf_to_quantized_cdf(pmf, precision=PRECISION).numpy()
      rows.append(np.concatenate([[-PRECISION], cdf]))
      offsets.append(-half_width)
  return (np.concatenate(rows).astype(np.int32),
          np.asarray(offsets, np.int32))


def cells(mean, log_scale):
  """The grid cell and round(μ) of each (μ, ln σ): two int32 tensors.

  σ below 0.11 and above 256 use the end cells (as TFC's scale table).
  """
  mean = tf.clip_by_value(mean, -MAX_MEAN, MAX_MEAN)
  rounded = tf.round(mean)
  scale = tf.clip_by_value(
      tf.round(scale_table.log_scale_index(log_scale)),
      0., NUM_SCALES - 1.)
  offset = tf.round((mean - rounded + 0.5) * MEAN_BINS)
  cell = scale * (MEAN_BINS + 1) + tf.clip_by_value(offset, 0., MEAN_BINS)
  return tf.cast(cell, tf.int32), tf.cast(rounded, tf.int32)


def symbols(values, cell, rounded_mean, cdf_offset):
  """Integer values -> the range coder's symbols for `cells`' output."""
  return values - rounded_mean - tf.gather(cdf_offset, cell)


def values(symbols_, cell, rounded_mean, cdf_offset):
  """Inverse of `symbols`."""
  return symbols_ + rounded_mean + tf.gather(cdf_offset, cell)


def discretized_bits(values_, mean, scale):
  """−log₂ p(ŷ) of integers under N(μ, σ²) ∗ U(−½, ½), σ ≥ 0.11 (the model's
  estimate; what the tables approximate)."""
  scale = tfc.lower_bound(scale, SCALE_MIN)
  probability = tfc.NoisyNormal(loc=mean, scale=scale).prob(values_)
  return -tf.math.log(tfc.lower_bound(probability, 1e-9)) / math.log(2.)
