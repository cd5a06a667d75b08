"""Convolutional transforms applied tile by tile: memory bounded by the tile.

A model's analysis and synthesis transforms are convolutional: one output
position depends on the input only within a bounded window (the receptive
field). So the transform of a large image can be computed in tiles that
overlap by at least the receptive field's radius: each tile is transformed
with that margin around it and only its centre is kept. Every kept value
sees exactly the inputs it sees in the whole image (the margin absorbs the
tile's own borders; at the image's borders the tile's borders are the
image's), so the result is the untiled one. Memory then grows with the
tile, not with the image: what remains proportional to the image is its
pixels as uint8 and the latents, tens of times smaller than the transforms'
activations.

The radius is measured, not declared: `geometry` changes one input
cell of random inputs and sees how far the output changes. It works for any stack of
convolutions, nonlinearities and residual branches; the contract tests
check tiled against untiled coding for every system.

An image no larger than one tile is transformed in one call on the whole
input, as without tiling: files of such images are the same bytes as an
untiled transform writes.
"""


import tensorflow as tf

# Side of a tile in pixels (the synthesis tiles: TILE / stride latents).
# A 1024x1024 tile of a paper-size transform takes a few hundred MB
# (results/bench/memory.json).
TILE = 1024


@tf.autograph.experimental.do_not_convert
def geometry(transform, channels, value_range, dtype=tf.float32):
  """(up, down, margin, output channels) of `transform`, which maps (1, H,
  W, `channels`) to an output `up / down` times the size (one of them 1:
  down = 16 for an analysis of stride 16, up = 16 for its synthesis). An
  input cell is `down` input positions, an output cell `up` output
  positions. The margin: how far (in input positions, a multiple of the
  input cell) a tile's input must extend beyond the tile for `transform` to
  give the untiled output there; None for a transform whose receptive
  field is too wide to be worth tiling (over 15 input cells).
 An output depends on an input exactly when
  changing that input changes it: the input cell at the centre of random
  inputs (uniform over `value_range`) is replaced by other random values,
  and the margin is the distance in cells to the farthest output cell that
  changed, in any of several trials, plus one cell to spare. Runs eagerly
  (also while a tf.function is traced).
  """
  with tf.init_scope():
    up, down = _scale(transform, channels, dtype)
    cells = 8
    while True:
      size = cells * down
      centre = cells // 2
      shape = (2, size, size, channels)
      inputs = tf.random.stateless_uniform(
          shape, (1, 2), value_range[0], value_range[1], dtype)
      other = tf.random.stateless_uniform(
          shape, (3, 4), value_range[0], value_range[1], dtype)
      inside = tf.pad(tf.ones((down, down), tf.bool),
                      [[centre * down, (cells - centre - 1) * down]] * 2)
      changed_inputs = tf.where(inside[None, :, :, None], other, inputs)
      outputs = transform(inputs)
      changed = tf.reduce_any(
          outputs != transform(changed_inputs), [0, 3]).numpy()
      rows = changed.any(1).nonzero()[0] // up
      cols = changed.any(0).nonzero()[0] // up
      if not len(rows):
        raise ValueError("the transform's output does not depend on its "
                         "input: it cannot be tiled")
      reach = max(centre - min(rows.min(), cols.min()),
                  max(rows.max(), cols.max()) - centre)
      if reach < centre - 1:
        break
      if cells >= 32:
        # Too wide to be worth tiling: the transform runs on whole images.
        return up, down, None, int(outputs.shape[-1])
      cells *= 2
    return up, down, (reach + 1) * down, int(outputs.shape[-1])


def _scale(transform, channels, dtype):
  """(up, down): the transform's output size over its input size (powers
  of two up to 256 for down-sampling)."""
  output = transform(tf.zeros((1, 8, 8, channels), dtype)).shape[1]
  if output >= 8:
    return output // 8, 1
  output = transform(tf.zeros((1, 256, 256, channels), dtype)).shape[1]
  return 1, 256 // output


def tiled(function, x, up, down, tile, margin, channels, dtype):
  """`function(x)` for a batch of one (1, H, W, C) computed in tiles.

  `function` maps an input of n positions to n·up/down outputs (H and W
  multiples of `down`); `tile` and `margin` are in input positions,
  multiples of `down`; the output has `channels` channels of `dtype`. Tiles
  are transformed one after the other (not in parallel: that would
  multiply the memory), row by row. With `margin` None, `function(x)`.
  """
  if margin is None:
    return function(x)
  shape = tf.shape(x)
  height, width = shape[1], shape[2]

  def span(index, size):
    """(kept start, kept stop, input start, input stop) of a tile."""
    start = index * tile
    stop = tf.minimum(start + tile, size)
    return start, stop, tf.maximum(start - margin, 0), tf.minimum(
        stop + margin, size)

  def scaled(n):
    return n * up // down

  def joined(size, piece):
    """`piece(k)` of every tile k along a side of `size`, one after the
    other, concatenated along axis 0."""
    count = (size + tile - 1) // tile
    _, pieces = tf.while_loop(
        lambda k, _: k < count,
        lambda k, pieces: (k + 1, pieces.write(k, piece(k))),
        (0, tf.TensorArray(dtype, size=count, infer_shape=False,
                           element_shape=[None, None, channels])),
        parallel_iterations=1)
    return pieces.concat()

  def strip(i):
    top, bottom, low, high = span(i, height)

    def column(j):
      left, right, first, last = span(j, width)
      output = function(x[:, low:high, first:last])
      kept = output[0, scaled(top - low):scaled(bottom - low),
                    scaled(left - first):scaled(right - first)]
      # Transposed so that the concatenation joins the tiles along W.
      return tf.transpose(kept, [1, 0, 2])

    return tf.transpose(joined(width, column), [1, 0, 2])

  return joined(height, strip)[None]
