"""Transforms computed in tiles (tiling.py) against the whole input."""

import numpy as np
import pytest
import tensorflow as tf

from tfc_repro import tiling


def down_stack():
  """Two 5x5 stride-2 convolutions with a nonlinearity: stride 4, reach
  2 + 2·2 = 6 input pixels."""
  tf.keras.utils.set_random_seed(3)
  return tf.keras.Sequential([
      tf.keras.layers.Conv2D(6, 5, strides=2, padding="same",
                             activation="tanh"),
      tf.keras.layers.Conv2D(5, 5, strides=2, padding="same")])


def up_stack():
  tf.keras.utils.set_random_seed(4)
  return tf.keras.Sequential([
      tf.keras.layers.Conv2DTranspose(6, 5, strides=2, padding="same",
                                      activation="tanh"),
      tf.keras.layers.Conv2DTranspose(3, 5, strides=2, padding="same")])


def test_geometry_of_a_downsampling_stack():
  up, down, margin, channels = tiling.geometry(down_stack(), 3, (0., 1.))
  assert (up, down, channels) == (1, 4, 5)
  # At least the reach (6 pixels), in whole cells of 4, one cell to spare.
  assert margin % 4 == 0 and 8 <= margin <= 16


def test_geometry_of_an_upsampling_stack():
  up, down, margin, channels = tiling.geometry(up_stack(), 5, (-1., 1.))
  assert (up, down, channels) == (4, 1, 3)
  assert 2 <= margin <= 4


@pytest.mark.parametrize("make, channels, shape", [
    (down_stack, 3, (1, 100, 72, 3)), (up_stack, 5, (1, 13, 21, 5))])
def test_tiles_give_the_whole_input_result(make, channels, shape):
  transform = make()
  up, down, margin, out = tiling.geometry(transform, channels, (-1., 1.))
  x = tf.random.stateless_uniform(shape, (5, 6), -1., 1.)
  whole = transform(x)
  tile = 2 * down  # many tiles, most of them interior
  tiled = tf.function(lambda x: tiling.tiled(transform, x, up, down, tile,
                                             margin, out, tf.float32))(x)
  assert tiled.shape == whole.shape
  np.testing.assert_allclose(tiled.numpy(), whole.numpy(), rtol=0, atol=1e-5)
  # Without the margin the tiles' own borders show.
  bare = tiling.tiled(transform, x, up, down, tile, 0, out, tf.float32)
  assert np.abs(bare.numpy() - whole.numpy()).max() > 1e-3


def test_a_transform_too_wide_to_tile_runs_whole():
  tf.keras.utils.set_random_seed(5)
  wide = tf.keras.Sequential([tf.keras.layers.Lambda(
      lambda x: x + tf.reduce_mean(x, [1, 2], keepdims=True))])
  up, down, margin, _ = tiling.geometry(wide, 3, (0., 1.))
  assert (up, down, margin) == (1, 1, None)
  x = tf.random.stateless_uniform((1, 20, 30, 3), (7, 8))
  np.testing.assert_array_equal(
      tiling.tiled(wide, x, up, down, 4, margin, 3, tf.float32).numpy(),
      wide(x).numpy())
