"""Shared layers: GDN analysis/synthesis stacks and the hyperprior transforms.

Every paper's transform is a stack of convolutions described by
`(filters, kernel_size, stride)` triples. Convolutions are TFC's
`SignalConv2D` with "same_zeros" padding, as in TFC's reference models; the
analysis side correlates with down-sampling strides, the synthesis side
convolves with up-sampling strides. GDN and IGDN are TFC's `GDN`.

Every builder also takes `conv="keras"`, which builds the same architecture
from plain Keras `Conv2D` / `Conv2DTranspose` layers ("same" padding, kernels
stored directly) instead of `SignalConv2D`: not TFC's parameterization, for
speed comparisons (bench/bench_bmshj2018.py). The default, `conv="signal"`,
is what the papers' models use.
"""

import tensorflow as tf
import tensorflow_compression as tfc


def _conv(filters, kernel, stride, down, use_bias=True, activation=None,
          kernel_parameter="rdft", name=None):
  return tfc.SignalConv2D(
      filters, (kernel, kernel), name=name, corr=down,
      strides_down=stride if down else 1, strides_up=1 if down else stride,
      padding="same_zeros", use_bias=use_bias, activation=activation,
      kernel_parameter=kernel_parameter)


CONVS = ("signal", "keras")


def _layers(conv, filters, kernel, stride, down, use_bias=True,
            activation=None, kernel_parameter="rdft", name=None):
  """The layers of one convolution and its activation, for `conv` in CONVS.

  "signal" is a single `SignalConv2D` carrying the activation, as in TFC's
  models. "keras" is a `Conv2D` (down) or `Conv2DTranspose` (up) with "same"
  padding, followed by the activation as a layer of its own;
  `kernel_parameter` has no Keras counterpart and is ignored.
  """
  if conv == "signal":
    return [_conv(filters, kernel, stride, down, use_bias=use_bias,
                  activation=activation, kernel_parameter=kernel_parameter,
                  name=name)]
  if conv != "keras":
    raise ValueError(f"conv must be one of {CONVS}, got {conv!r}")
  layer_class = (tf.keras.layers.Conv2D if down else
                 tf.keras.layers.Conv2DTranspose)
  layers = [layer_class(filters, kernel, strides=stride, padding="same",
                        use_bias=use_bias, name=name)]
  if isinstance(activation, tf.keras.layers.Layer):
    layers.append(activation)
  elif activation is not None:
    layers.append(tf.keras.layers.Activation(activation))
  return layers


def analysis_transform(layers, last_bias=True, name="analysis",
                       conv="signal"):
  """g_a: x in 0..255 -> y. GDN after every layer but the last (linear)."""
  stack = tf.keras.Sequential(name=name)
  stack.add(tf.keras.layers.Lambda(lambda x: x / 255.))
  for i, (filters, kernel, stride) in enumerate(layers):
    last = i == len(layers) - 1
    for layer in _layers(
        conv, filters, kernel, stride, down=True,
        use_bias=not last or last_bias,
        activation=None if last else tfc.GDN(name=f"gdn_{i}"),
        name=f"layer_{i}"):
      stack.add(layer)
  return stack


def synthesis_transform(layers, name="synthesis", conv="signal"):
  """g_s: y -> x in 0..255. IGDN after every layer but the last (linear)."""
  stack = tf.keras.Sequential(name=name)
  for i, (filters, kernel, stride) in enumerate(layers):
    last = i == len(layers) - 1
    for layer in _layers(
        conv, filters, kernel, stride, down=False,
        activation=None if last else tfc.GDN(name=f"igdn_{i}", inverse=True),
        name=f"layer_{i}"):
      stack.add(layer)
  stack.add(tf.keras.layers.Lambda(lambda x: x * 255.))
  return stack


def hyper_analysis(layers, last_bias=False, name="hyper_analysis",
                   conv="signal"):
  """h_a: y -> z. ReLU after every layer but the last (linear)."""
  stack = tf.keras.Sequential(name=name)
  for i, (filters, kernel, stride) in enumerate(layers):
    last = i == len(layers) - 1
    for layer in _layers(
        conv, filters, kernel, stride, down=True,
        use_bias=not last or last_bias,
        activation=None if last else tf.nn.relu, name=f"layer_{i}"):
      stack.add(layer)
  return stack


def hyper_synthesis(layers, final_activation=None, kernel_parameter="rdft",
                    name="hyper_synthesis", conv="signal"):
  """h_s: z -> side information. ReLU between layers; `final_activation` at
  the end (None for TFC's scale indexes, ReLU in Ballé 2018, exp in Lee 2019)."""
  stack = tf.keras.Sequential(name=name)
  for i, (filters, kernel, stride) in enumerate(layers):
    last = i == len(layers) - 1
    for layer in _layers(
        conv, filters, kernel, stride, down=False,
        activation=final_activation if last else tf.nn.relu,
        kernel_parameter=kernel_parameter, name=f"layer_{i}"):
      stack.add(layer)
  return stack


def pad_to_multiple(x, multiple):
  """Pads an image batch (B, H, W, C) at the bottom and right to a multiple of
  `multiple` by repeating the edge pixels (edges cost fewer bits than zeros)."""
  shape = tf.shape(x)
  height = (shape[1] + multiple - 1) // multiple * multiple
  width = (shape[2] + multiple - 1) // multiple * multiple
  rows = tf.minimum(tf.range(height), shape[1] - 1)
  cols = tf.minimum(tf.range(width), shape[2] - 1)
  return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)
