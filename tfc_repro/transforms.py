"""Shared layers: GDN analysis/synthesis stacks, the hyperprior transforms,
residual blocks with LeakyReLU, and their frozen form for coding.

Every paper's transform is a stack of convolutions described by
`(filters, kernel_size, stride)` triples. Convolutions are TFC's
`SignalConv2D` with "same_zeros" padding, as in TFC's reference models; the
analysis side correlates with down-sampling strides, the synthesis side
convolves with up-sampling strides. GDN and IGDN are TFC's `GDN`, in the
form `gdn` names (see `gdn`).

Every builder also takes `conv="keras"`, which builds the same architecture
from plain Keras `Conv2D` / `Conv2DTranspose` layers ("same" padding, kernels
stored directly) instead of `SignalConv2D`: not TFC's parameterization, for
speed comparisons (bench/bench_bmshj2018.py). The default, `conv="signal"`,
is what the papers' models use.

Exported models use frozen plain convolutions (`freeze_transform`). The
RDFT parameterization of `SignalConv2D` (kernel_parameter="rdft") trains
better per step, but the layer recomputes its kernel from the RDFT variables
(an inverse 2-D real FFT of every (input, output) channel pair, then a
transpose) on every call: about 33 ms per 5x5 128->128 layer on a 2-core CPU,
as much as the convolution of a 256x384 feature map. Coding only needs the
kernel's current value, so `savedmodel.export` (through
`CompressionModel.freeze_transforms`) replaces each `SignalConv2D` by a
`FrozenSignalConv2D` holding that value in a non-trainable variable and
computing the same output with `tf.nn.conv2d` / `tf.nn.conv2d_transpose`,
with the same alignment as `SignalConv2D`'s "same_zeros" padding (which
centres the kernel; Keras' "same" would pad a 5x5 stride-2 layer by 1/2
instead of 2/2 and shift the output). Training always uses `SignalConv2D`.
"""

import tensorflow as tf
import tensorflow_compression as tfc


class SignalConv2D(tfc.SignalConv2D):
  """TFC's `SignalConv2D`, except that a 1x1 correlation that down-samples
  reads every s-th input sample and correlates with stride 1.

  The two compute the same output, but the gradient of the strided form
  crashes TensorFlow 2.14 on CPUs with AVX-512 when oneDNN is on (its
  default): oneDNN's filter gradient of a 1x1 stride-2 convolution over
  fewer than 16 input channels at 96x96 pixels or more corrupts the heap
  ("corrupted size vs. prev_size", SIGABRT or SIGSEGV). hcae's first
  residual block has exactly that shortcut (3 channels, the image). Stride 1
  takes another oneDNN kernel, and the subsampling is exact, so weights,
  exported models and files are unchanged (export freezes the layer into a
  strided `tf.nn.conv2d`, whose forward pass is sound). Cost: the gradient
  step of such a layer (3 -> 32 channels, batch 8 of 64x64) took 3.9 ms
  instead of 2.8 ms here, well under 1 % of an hcae training step.
  """

  def _correlate_down_valid(self, inputs, kernel):
    strides = tuple(self.strides_down)
    if (all(k == 1 for k in self.kernel_support) and
        any(s > 1 for s in strides) and not self.channel_separable and
        self._rank == 2 and self.data_format == "channels_last"):
      return tf.nn.convolution(inputs[:, ::strides[0], ::strides[1], :],
                               kernel, padding="VALID")
    return super()._correlate_down_valid(inputs, kernel)


def _conv(filters, kernel, stride, down, use_bias=True, activation=None,
          kernel_parameter="rdft", name=None):
  return SignalConv2D(
      filters, (kernel, kernel), name=name, corr=down,
      strides_down=stride if down else 1, strides_up=1 if down else stride,
      padding="same_zeros", use_bias=use_bias, activation=activation,
      kernel_parameter=kernel_parameter)


CONVS = ("signal", "keras")
GDN_FORMS = ("full", "simplified")


def gdn(name, form="full", inverse=False):
  """TFC's GDN (IGDN with `inverse=True`) in one of two forms:

  * "full", the papers' (Ballé et al. 2016, 2017, 2018; Lee et al. 2019):
    y_i = x_i / √(β_i + Σ_j γ_ij x_j²), and IGDN multiplies by that root;
  * "simplified", `tfc.GDN()`'s default since TFC 2.0 (Johnston et al. 2019)
    and TFC's own example models: y_i = x_i / (β_i + Σ_j γ_ij |x_j|).

  Both have the same variables (β and γ, initialised to 1 and 0.1·I).
  """
  if form == "full":
    return tfc.GDN(name=name, inverse=inverse, alpha_parameter=2.,
                   epsilon_parameter=.5)
  if form == "simplified":
    return tfc.GDN(name=name, inverse=inverse)
  raise ValueError(f"gdn must be one of {GDN_FORMS}, got {form!r}")


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
                       conv="signal", centered=False, gdn_form="full"):
  """g_a: x in 0..255 -> y. GDN (of `gdn_form`) after every layer but the
  last (linear).

  The input is mapped to [0, 1] (TFC's models), or to [−1, 1] with
  `centered=True` (Lee et al. 2019).
  """
  stack = tf.keras.Sequential(name=name)
  if centered:
    stack.add(tf.keras.layers.Lambda(lambda x: x / 127.5 - 1.))
  else:
    stack.add(tf.keras.layers.Lambda(lambda x: x / 255.))
  for i, (filters, kernel, stride) in enumerate(layers):
    last = i == len(layers) - 1
    for layer in _layers(
        conv, filters, kernel, stride, down=True,
        use_bias=not last or last_bias,
        activation=None if last else gdn(f"gdn_{i}", gdn_form),
        name=f"layer_{i}"):
      stack.add(layer)
  return stack


def synthesis_transform(layers, name="synthesis", conv="signal",
                        centered=False, gdn_form="full"):
  """g_s: y -> x in 0..255. IGDN (of `gdn_form`) after every layer but the
  last (linear).

  The output is mapped from [0, 1], or from [−1, 1] with `centered=True`.
  """
  stack = tf.keras.Sequential(name=name)
  for i, (filters, kernel, stride) in enumerate(layers):
    last = i == len(layers) - 1
    for layer in _layers(
        conv, filters, kernel, stride, down=False,
        activation=None if last else gdn(f"igdn_{i}", gdn_form, inverse=True),
        name=f"layer_{i}"):
      stack.add(layer)
  if centered:
    stack.add(tf.keras.layers.Lambda(lambda x: (x + 1.) * 127.5))
  else:
    stack.add(tf.keras.layers.Lambda(lambda x: x * 255.))
  return stack


def hyper_analysis(layers, last_bias=False, name="hyper_analysis",
                   conv="signal", activation=tf.nn.relu):
  """h_a: y -> z. `activation` (ReLU) after every layer but the last
  (linear)."""
  stack = tf.keras.Sequential(name=name)
  for i, (filters, kernel, stride) in enumerate(layers):
    last = i == len(layers) - 1
    for layer in _layers(
        conv, filters, kernel, stride, down=True,
        use_bias=not last or last_bias,
        activation=None if last else activation, name=f"layer_{i}"):
      stack.add(layer)
  return stack


def hyper_synthesis(layers, final_activation=None, kernel_parameter="rdft",
                    name="hyper_synthesis", conv="signal",
                    activation=tf.nn.relu):
  """h_s: z -> side information. `activation` (ReLU) between layers;
  `final_activation` at the end (None for TFC's scale indexes, ReLU in Ballé
  2018)."""
  stack = tf.keras.Sequential(name=name)
  for i, (filters, kernel, stride) in enumerate(layers):
    last = i == len(layers) - 1
    for layer in _layers(
        conv, filters, kernel, stride, down=False,
        activation=final_activation if last else activation,
        kernel_parameter=kernel_parameter, name=f"layer_{i}"):
      stack.add(layer)
  return stack


# -- Frozen convolutions for coding --------------------------------------------

# How an up-sampling layer is computed once frozen: "explicit" is
# `tf.nn.conv2d_transpose` with TFC's explicit padding (the op `SignalConv2D`
# itself calls); "same" is the same op in "SAME" mode on the input padded at
# the end, cropped to TFC's alignment. On a 2-core CPU (oneDNN, TF 2.14)
# "same" was 5-45 % faster for 16 or more output channels, "explicit" 3x
# faster for a handful (e.g. g_s' last layer to RGB); "auto" picks by that
# threshold. Both compute the same function; "explicit" is bit-exact with
# SignalConv2D, "same" equal up to float rounding (~3e-7 relative).
UP_METHODS = ("auto", "explicit", "same")
_FEW_CHANNELS = 16


class FrozenSignalConv2D(tf.keras.layers.Layer):
  """A built `tfc.SignalConv2D` with its kernel evaluated once.

  Computes the same output as the layer it was made from, at the time it was
  made (the kernel and bias are copied into non-trainable variables), with
  plain TensorFlow convolutions and without the RDFT reparameterization.

  What `SignalConv2D(padding="same_zeros")` computes (channels_last, not
  channel-separable), per spatial dimension with support k, strides s:
    * `corr=True`, down-sampling (analysis): correlation of the input padded
      with k//2 zeros before and (k-1)//2 after, keeping every s-th output:
      `tf.nn.conv2d(x, kernel, s, explicit padding)`; output ceil(L/s).
    * `corr=False`, stride 1 (e.g. h_s' 3x3 layer): a convolution, i.e. the
      correlation with the kernel flipped in both spatial axes, padded
      ((k-1)//2, k//2) (TFC flips odd kernels itself; for odd k it is
      symmetric).
    * `corr=False`, up-sampling (synthesis): x̂[j] = Σ_i y[i]·k[j + k//2 − s·i]
      for j < s·L (extra_pad_end) or j <= s·(L−1): `tf.nn.conv2d_transpose`
      with explicit padding (k//2, (k−1)//2), kernel transposed to
      (h, w, out, in). `corr=True` with up-sampling is the same with the kernel
      flipped (odd kernels only, as TFC). Down-sampling after up-sampling
      keeps every s-th output.
  then the bias (`tf.nn.bias_add`) and the activation (the same object, e.g.
  the `tfc.GDN` layer, which keeps its own variables).

  `up_method` is one of `UP_METHODS` (see there). The variables are named
  "`scope`/`layer.name`/kernel" and ".../bias" (the model id of an export
  hashes variables by name).
  """

  def __init__(self, layer, up_method="auto", scope=None):
    if not isinstance(layer, tfc.SignalConv2D):
      raise TypeError(f"expected a tfc.SignalConv2D, got {type(layer)}")
    if not layer.built:
      raise ValueError(f"layer {layer.name} is not built (no kernel yet)")
    if (layer.padding != "same_zeros" or layer.channel_separable or
        layer.data_format != "channels_last"):
      raise NotImplementedError(
          "only same_zeros padding, channels_last and not channel-separable "
          f"SignalConv2D layers can be frozen ({layer.name})")
    if up_method not in UP_METHODS:
      raise ValueError(f"up_method must be one of {UP_METHODS}, "
                       f"got {up_method!r}")
    super().__init__(name=layer.name, trainable=False,
                     dtype=layer.dtype_policy)
    self.filters = layer.filters
    self.kernel_support = layer.kernel_support
    self.corr = layer.corr
    self.strides_down = layer.strides_down
    self.strides_up = layer.strides_up
    self.extra_pad_end = layer.extra_pad_end
    self.use_bias = layer.use_bias
    self.activation = layer.activation
    self.upsampling = any(s > 1 for s in self.strides_up)

    kernel = tf.convert_to_tensor(layer.kernel)     # (h, w, in, out)
    flip = self.corr if self.upsampling else not self.corr
    if flip:
      if self.upsampling and any(k % 2 == 0 for k in self.kernel_support):
        layer._raise_notimplemented()  # pylint: disable=protected-access
      kernel = kernel[::-1, ::-1]
    if self.upsampling:
      # conv2d_transpose wants (h, w, out, in).
      kernel = tf.transpose(kernel, (0, 1, 3, 2))
      if up_method == "auto":
        up_method = "explicit" if self.filters < _FEW_CHANNELS else "same"
      self.up_method = up_method
      self._padding = [(k // 2, (k - 1) // 2) for k in self.kernel_support]
    else:
      self.up_method = None
      # Correlation padding; a convolution is a correlation with the flipped
      # kernel padded the other way round (the same for odd kernels).
      self._padding = [((k - 1) // 2, k // 2) if flip else (k // 2, (k - 1) // 2)
                       for k in self.kernel_support]
    prefix = f"{scope}/{layer.name}/" if scope else f"{layer.name}/"
    self.frozen_kernel = tf.Variable(kernel, trainable=False,
                                     name=prefix + "kernel")
    self.frozen_bias = None
    if self.use_bias:
      self.frozen_bias = tf.Variable(tf.convert_to_tensor(layer.bias),
                                     trainable=False, name=prefix + "bias")

  def _output_length(self, length, stride):
    """Length of the up-sampled output, before any down-sampling."""
    return length * stride if self.extra_pad_end else (length - 1) * stride + 1

  def _up_explicit(self, inputs):
    shape = tf.shape(inputs)
    output_shape = [shape[0], self._output_length(shape[1], self.strides_up[0]),
                    self._output_length(shape[2], self.strides_up[1]),
                    self.filters]
    return tf.nn.conv2d_transpose(
        inputs, self.frozen_kernel, output_shape, strides=self.strides_up,
        padding=[(0, 0), *self._padding, (0, 0)])

  def _up_same(self, inputs):
    # "SAME" pads the equivalent forward convolution by max(k − s, 0) // 2 at
    # the start, TFC by k // 2: the output is shifted by `shift` samples.
    # Zeros appended to the input let "SAME" compute the samples past its
    # end, then the output is cropped to TFC's.
    shape = tf.shape(inputs)
    shifts, extras, lengths = [], [], []
    for i, (k, s) in enumerate(zip(self.kernel_support, self.strides_up)):
      shift = k // 2 - max(k - s, 0) // 2
      # Samples past s·L needed: shift (extra_pad_end) or shift − (s − 1).
      past = shift if self.extra_pad_end else shift - (s - 1)
      shifts.append(shift)
      extras.append(max(-(-past // s), 0))
      lengths.append(self._output_length(shape[i + 1], s))
    if any(extras):
      inputs = tf.pad(inputs, [(0, 0), (0, extras[0]), (0, extras[1]), (0, 0)])
    output_shape = [shape[0], (shape[1] + extras[0]) * self.strides_up[0],
                    (shape[2] + extras[1]) * self.strides_up[1], self.filters]
    outputs = tf.nn.conv2d_transpose(
        inputs, self.frozen_kernel, output_shape, strides=self.strides_up,
        padding="SAME")
    return outputs[:, shifts[0]:shifts[0] + lengths[0],
                   shifts[1]:shifts[1] + lengths[1], :]

  def call(self, inputs):
    if self.upsampling:
      if self.up_method == "explicit":
        outputs = self._up_explicit(inputs)
      else:
        outputs = self._up_same(inputs)
      if any(s > 1 for s in self.strides_down):
        outputs = outputs[:, ::self.strides_down[0], ::self.strides_down[1], :]
    elif any(p != (0, 0) for p in self._padding):
      outputs = tf.nn.conv2d(inputs, self.frozen_kernel,
                             strides=self.strides_down,
                             padding=[(0, 0), *self._padding, (0, 0)])
    else:
      outputs = tf.nn.conv2d(inputs, self.frozen_kernel,
                             strides=self.strides_down, padding="VALID")
    if self.use_bias:
      outputs = tf.nn.bias_add(outputs, self.frozen_bias)
    if self.activation is not None:
      outputs = self.activation(outputs)
    return outputs


def has_signal_convs(stack):
  """Whether a Keras Sequential holds any `tfc.SignalConv2D` as a layer."""
  return any(isinstance(layer, tfc.SignalConv2D) for layer in stack.layers)


def freeze_transform(stack, up_method="auto"):
  """A copy of a transform for coding: each `SignalConv2D` frozen.

  `stack` is a built Sequential of this module (or any Sequential). The
  result is a new Sequential of the same name and layers, except that every
  `tfc.SignalConv2D` is replaced by a `FrozenSignalConv2D` holding its
  current kernel and bias: the same function, computed faster (no RDFT on
  each call), not trainable. Other layers (Lambda, Keras Conv2D, ...) and the
  activations (GDN layers) are the same objects as in `stack`; layers that
  nest convolutions (e.g. `ResidualBlock`) are frozen in place
  (`freeze_layers`). A stack without `SignalConv2D` layers (conv="keras") is
  returned as it is.
  """
  for layer in stack.layers:
    if not isinstance(layer, tfc.SignalConv2D):
      freeze_layers(layer, up_method, scope=stack.name)
  if not has_signal_convs(stack):
    return stack
  frozen = tf.keras.Sequential(name=stack.name)
  for layer in stack.layers:
    if isinstance(layer, tfc.SignalConv2D):
      layer = FrozenSignalConv2D(layer, up_method=up_method,
                                 scope=stack.name)
    frozen.add(layer)
  config = stack.get_build_config()
  if config and config.get("input_shape"):
    # Built like `stack`, for any batch and image size (the transforms are
    # fully convolutional): it then has variables, as the model expects.
    shape = tuple(config["input_shape"])
    frozen.build((None,) * (len(shape) - 1) + shape[-1:])
  return frozen


def freeze_layers(owner, up_method="auto", scope=None):
  """Freezes every `tfc.SignalConv2D` reachable from `owner`, in place.

  Walks the public attributes of `owner` (a Keras model or layer) and,
  recursively, of the layers and lists of layers they hold: a
  `SignalConv2D` attribute becomes a `FrozenSignalConv2D`, a Sequential a
  `freeze_transform` copy, a list a new list of frozen items; other layers
  are walked in place. Variable names follow the attribute path
  ("`scope`/attribute/.../layer name/kernel"). Returns the paths of the
  replaced attributes.
  """
  replaced = []
  for name, value in list(vars(owner).items()):
    if name.startswith("_"):
      continue
    path = f"{scope}/{name}" if scope else name
    frozen = _frozen(value, up_method, path, replaced)
    if frozen is not value:
      setattr(owner, name, frozen)
  return replaced


def _frozen(value, up_method, path, replaced):
  """`value` with its SignalConv2D layers frozen (see `freeze_layers`)."""
  if isinstance(value, tfc.SignalConv2D):
    replaced.append(path)
    return FrozenSignalConv2D(value, up_method=up_method,
                              scope=path.rpartition("/")[0] or None)
  if isinstance(value, tf.keras.Sequential):
    frozen = freeze_transform(value, up_method)
    if frozen is not value:
      replaced.append(path)
    return frozen
  if isinstance(value, (list, tuple)):
    items = [_frozen(item, up_method, f"{path}/{i}", replaced)
             for i, item in enumerate(value)]
    if any(a is not b for a, b in zip(items, value)):
      return items
    return value
  if isinstance(value, tf.keras.layers.Layer) and not isinstance(
      value, FrozenSignalConv2D):
    replaced += freeze_layers(value, up_method, scope=path)
  return value


# -- Blocks of deeper transforms ------------------------------------------------


def leaky_relu(x):
  """LeakyReLU with TF's default slope 0.2 (`tf.nn.leaky_relu`)."""
  return tf.nn.leaky_relu(x)


def leaky_relu_001(x):
  """LeakyReLU with slope 0.01, PyTorch's default (CompressAI's models)."""
  return tf.nn.leaky_relu(x, alpha=0.01)


def conv(filters, kernel, stride=1, down=True, activation=None,
         use_bias=True, kernel_parameter="rdft", name=None):
  """One TFC `SignalConv2D` ("same_zeros"): a correlation that down-samples
  by `stride` (`down=True`, analysis side) or a convolution that up-samples
  by it (`down=False`, synthesis side)."""
  return _conv(filters, kernel, stride, down, use_bias=use_bias,
               activation=activation, kernel_parameter=kernel_parameter,
               name=name)


class ResidualBlock(tf.keras.layers.Layer):
  """output = main(x) + shortcut(x): two 3x3 convolutions on the main branch
  (the first with the stride and `activation`, the second with
  `output_activation`) and a linear 1x1 convolution with the same stride as
  the shortcut (the identity when neither the stride nor the channel count
  changes). `down` picks the analysis (strided correlation) or the synthesis
  side (up-sampling convolution)."""

  def __init__(self, filters, stride=1, down=True, activation=leaky_relu,
               output_activation=None, kernel=3, output_filters=None,
               **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.output_filters = output_filters or filters
    self.stride = stride
    self.down = down
    self.conv_1 = conv(filters, kernel, stride, down, activation=activation,
                       name="conv_1")
    self.conv_2 = conv(self.output_filters, kernel, 1, down,
                       activation=output_activation, name="conv_2")
    self.shortcut = None

  def build(self, input_shape):
    if self.stride != 1 or input_shape[-1] != self.output_filters:
      self.shortcut = conv(self.output_filters, 1, self.stride, self.down,
                           name="shortcut")
    super().build(input_shape)

  def call(self, x):
    shortcut = x if self.shortcut is None else self.shortcut(x)
    return shortcut + self.conv_2(self.conv_1(x))


def pad_to_multiple(x, multiple):
  """Pads an image batch (B, H, W, C) at the bottom and right to a multiple of
  `multiple` by repeating the edge pixels (edges cost fewer bits than zeros)."""
  shape = tf.shape(x)
  height = (shape[1] + multiple - 1) // multiple * multiple
  width = (shape[2] + multiple - 1) // multiple * multiple
  rows = tf.minimum(tf.range(height), shape[1] - 1)
  cols = tf.minimum(tf.range(width), shape[2] - 1)
  return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)
