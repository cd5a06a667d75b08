"""Image-quality and rate metrics: the one implementation every model and codec uses.

Conventions (as in the papers and CompressAI):
  * images are RGB uint8 arrays of shape (H, W, 3);
  * bpp counts pixels as H * W (not H * W * 3);
  * PSNR is computed from the MSE over all H * W * 3 values on the 0..255 scale;
  * MS-SSIM is TensorFlow's `tf.image.ssim_multiscale` (Wang et al. 2003, five
    scales, 11x11 Gaussian window, the standard power factors) on 0..255 values,
    averaged over the RGB channels by the TF implementation.
"""

import math

import numpy as np

# MS-SSIM with five scales and an 11x11 window needs at least this many pixels
# along each side: (11 - 1) * 2**4 + 1.
MS_SSIM_MIN_SIDE = 161


def bits_per_pixel(num_bytes, height, width):
  """Bits per pixel of `num_bytes` bytes for an image of `height` x `width`."""
  return 8.0 * num_bytes / (height * width)


def _as_pair(original, reconstruction):
  original = np.asarray(original)
  reconstruction = np.asarray(reconstruction)
  if original.shape != reconstruction.shape:
    raise ValueError(
        f"image shapes differ: {original.shape} vs {reconstruction.shape}")
  if original.dtype != np.uint8 or reconstruction.dtype != np.uint8:
    raise ValueError("metrics expect uint8 images, got "
                     f"{original.dtype} and {reconstruction.dtype}")
  return original, reconstruction


def mse(original, reconstruction):
  """Mean squared error on the 0..255 scale over all values."""
  original, reconstruction = _as_pair(original, reconstruction)
  diff = original.astype(np.float64) - reconstruction.astype(np.float64)
  return float(np.mean(np.square(diff)))


def psnr(original, reconstruction):
  """PSNR in dB for 8-bit images; `inf` when the images are identical."""
  error = mse(original, reconstruction)
  if error == 0:
    return math.inf
  return 10.0 * math.log10(255.0 ** 2 / error)


def ms_ssim(original, reconstruction):
  """MS-SSIM of two RGB uint8 images; NaN for images too small to measure.

  Images with a side shorter than `MS_SSIM_MIN_SIDE` pixels cannot go through
  five dyadic scales with an 11x11 window, so no value is defined for them.
  """
  original, reconstruction = _as_pair(original, reconstruction)
  if min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
    return math.nan
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  value = tf.image.ssim_multiscale(
      tf.constant(original, tf.float32), tf.constant(reconstruction, tf.float32),
      max_val=255.0)
  return float(value.numpy())


def ms_ssim_db(value):
  """MS-SSIM on the decibel scale used by Ballé et al.: -10 log10(1 - v)."""
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return math.nan
  if value >= 1:
    return math.inf
  return -10.0 * math.log10(1.0 - value)
