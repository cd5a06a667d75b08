"""The table of Gaussian scales that every scale-conditioned latent is coded
with, and the map from a scale σ to its (fractional) table index.

TFC codes Gaussian latents with `LocationScaleIndexedEntropyModel(NoisyNormal,
num_scales=64, scale_fn, coding_rank=3)`: one range-coding table per scale
scale_fn(i) = exp(ln 0.11 + i·Δ), Δ = (ln 256 − ln 0.11)/63, i = 0..63 (64
scales spaced geometrically from 0.11 to 256). A σ predicted by a network is
mapped onto the table by the inverse of scale_fn,

    i(σ) = clip((ln max(σ, 0.11) − ln 0.11) / Δ, 0, 63),

so that scale_fn(i(σ)) = min(max(σ, 0.11), 256): in training the index is
fractional and the Gaussian has exactly the bounded σ (0.11 is the scale
bound of the paper-era TFC `GaussianConditional`; like it, the lower bound
passes gradients that push σ up). Coding rounds the index to a table entry.

bmshj2018, hcae and the tables of `gaussian_coder` (lee2019) all use this one
table.
"""

import math

import tensorflow as tf
import tensorflow_compression as tfc

NUM_SCALES = 64
SCALE_MIN = 0.11
SCALE_MAX = 256.
LOG_SCALE_MIN = math.log(SCALE_MIN)
LOG_SCALE_STEP = (math.log(SCALE_MAX) - LOG_SCALE_MIN) / (NUM_SCALES - 1)


def scale_fn(index):
  """The table's scale for a (fractional) index: exp(ln 0.11 + i·Δ)."""
  return tf.math.exp(LOG_SCALE_MIN + LOG_SCALE_STEP * index)


def log_scale_index(log_scale):
  """The fractional, unclipped table index of ln σ."""
  return (log_scale - LOG_SCALE_MIN) / LOG_SCALE_STEP


def scale_index(sigma):
  """Inverse of `scale_fn`: σ -> fractional index in [0, 63].

  max(σ, 0.11) passes gradients towards larger σ (`tfc.lower_bound`).
  """
  sigma = tfc.lower_bound(sigma, SCALE_MIN)
  return tfc.upper_bound(log_scale_index(tf.math.log(sigma)), NUM_SCALES - 1.)


def nearest_index(index):
  """The integer table entry nearest to a fractional index (for coding)."""
  return tf.round(tf.clip_by_value(index, 0., NUM_SCALES - 1.))


def gaussian_entropy_model(compression, coding_rank=3):
  """TFC's entropy model of a latent under N(μ, σ²) ∗ U(−½, ½), σ given as a
  table index (`scale_index`) and μ as `loc`."""
  return tfc.LocationScaleIndexedEntropyModel(
      tfc.NoisyNormal, NUM_SCALES, scale_fn, coding_rank=coding_rank,
      compression=compression)
