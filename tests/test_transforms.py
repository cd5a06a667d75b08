"""Frozen transforms: the same function as SignalConv2D, and what export uses."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc
from tensorflow.core.protobuf import saved_model_pb2

from tfc_repro import bmshj2018, container, savedmodel, transforms
from conftest import smooth_image

SHAPES = [(16, 16), (17, 23), (32, 48)]

# name: (builder, input channels, input is an image in 0..255)
BUILDERS = {
    # bmshj2018's g_a / g_s, bls2017's (9x9/4 first and last), and even
    # kernels and stride 3 (not in the papers, but SignalConv2D allows them).
    "analysis": (lambda: transforms.analysis_transform(
        [(8, 5, 2), (8, 5, 2), (6, 5, 2)]), 3, True),
    "analysis_bls2017": (lambda: transforms.analysis_transform(
        [(8, 9, 4), (8, 5, 2), (6, 5, 2)], last_bias=False), 3, True),
    "analysis_even": (lambda: transforms.analysis_transform(
        [(8, 4, 2), (8, 6, 3), (5, 2, 1)]), 3, True),
    "synthesis": (lambda: transforms.synthesis_transform(
        [(8, 5, 2), (20, 5, 2), (3, 5, 2)]), 6, False),
    "synthesis_bls2017": (lambda: transforms.synthesis_transform(
        [(8, 5, 2), (8, 5, 2), (3, 9, 4)]), 6, False),
    "synthesis_even": (lambda: transforms.synthesis_transform(
        [(8, 4, 2), (8, 6, 3), (3, 2, 1)]), 6, False),
    "hyper_analysis": (lambda: transforms.hyper_analysis(
        [(8, 3, 1), (8, 5, 2), (8, 5, 2)]), 6, False),
    "hyper_synthesis": (lambda: transforms.hyper_synthesis(
        [(8, 5, 2), (8, 5, 2), (6, 3, 1)], final_activation=tf.nn.relu), 8,
        False),
    "hyper_synthesis_variable": (lambda: transforms.hyper_synthesis(
        [(8, 5, 2), (8, 5, 2), (8, 3, 1)], kernel_parameter="variable"), 8,
        False),
}


def _signal_convs(stack):
  return [l for l in stack.layers if isinstance(l, tfc.SignalConv2D)]


def _randomize(stack, seed=0):
  """Random kernels and biases (the initial ones are too tame a test)."""
  rng = np.random.default_rng(seed)
  for layer in _signal_convs(stack):
    for variable in layer.trainable_variables:
      variable.assign(rng.normal(0, 0.3, variable.shape).astype(np.float32))


def _input(batch, shape, channels, image, seed=1):
  rng = np.random.default_rng(seed)
  if image:
    return tf.constant(rng.uniform(0, 255, (batch, *shape, channels)),
                       tf.float32)
  return tf.constant(rng.normal(0, 1, (batch, *shape, channels)), tf.float32)


def _assert_close(actual, expected):
  scale = max(1.0, float(np.abs(expected).max()))
  np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("up_method", transforms.UP_METHODS)
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_frozen_transform_computes_the_same(name, up_method):
  build, channels, image = BUILDERS[name]
  stack = build()
  x = _input(2, SHAPES[0], channels, image)
  stack(x)
  _randomize(stack)
  frozen = transforms.freeze_transform(stack, up_method)
  for shape in SHAPES:
    x = _input(2, shape, channels, image)
    expected = stack(x).numpy()
    actual = frozen(x).numpy()
    assert actual.shape == expected.shape
    _assert_close(actual, expected)
    # Down-sampling layers and "explicit" up-sampling are the very ops
    # SignalConv2D runs, with the same kernel: bit-exact (odd kernels).
    if name in ("analysis", "hyper_analysis") or (
        up_method == "explicit" and name != "synthesis_even"):
      np.testing.assert_array_equal(actual, expected)


def test_frozen_stack_structure():
  stack = transforms.analysis_transform([(8, 5, 2), (8, 5, 2), (6, 5, 2)],
                                        last_bias=False)
  stack(tf.zeros((1, 16, 16, 3)))
  frozen = transforms.freeze_transform(stack)
  assert frozen is not stack and frozen.name == stack.name
  assert not _signal_convs(frozen)
  assert len(frozen.layers) == len(stack.layers)
  for old, new in zip(stack.layers, frozen.layers):
    if isinstance(old, tfc.SignalConv2D):
      assert isinstance(new, transforms.FrozenSignalConv2D)
      assert new.activation is old.activation   # the same GDN object
      assert new.use_bias == old.use_bias
      np.testing.assert_array_equal(new.frozen_kernel, old.kernel)
    else:
      assert new is old                          # e.g. the Lambda x / 255
  assert not any(isinstance(l.kernel_parameter, tf.Variable) or
                 "kernel_real" in v.name
                 for l in _signal_convs(stack) for v in frozen.variables)
  conv_variables = [v for l in frozen.layers
                    if isinstance(l, transforms.FrozenSignalConv2D)
                    for v in (l.frozen_kernel, l.frozen_bias) if v is not None]
  assert len(conv_variables) == 5 and not any(v.trainable
                                              for v in conv_variables)
  assert len({v.name for v in conv_variables}) == 5
  assert all(v.name.startswith("analysis/layer_") for v in conv_variables)
  # The copy holds the weights of the time it was made.
  stack.layers[1].kernel_parameter.real.assign_add(
      tf.ones_like(stack.layers[1].kernel_parameter.real))
  assert not np.array_equal(frozen.layers[1].frozen_kernel,
                            stack.layers[1].kernel)


def test_keras_stacks_are_left_alone():
  stack = transforms.synthesis_transform([(8, 5, 2), (3, 5, 2)],
                                         conv="keras")
  stack(tf.zeros((1, 4, 4, 6)))
  assert transforms.freeze_transform(stack) is stack


def test_unbuilt_layer_is_refused():
  with pytest.raises(ValueError, match="not built"):
    transforms.freeze_transform(transforms.hyper_analysis([(8, 3, 1)]))


@pytest.mark.parametrize("kernel,stride,corr,extra_pad_end,down", [
    (5, 2, False, False, 1), (5, 2, True, True, 1), (3, 2, True, False, 1),
    (4, 2, False, False, 1), (5, 3, False, True, 2), (7, 1, False, None, 2),
    (1, 1, True, None, 1), (1, 2, False, None, 1)])
@pytest.mark.parametrize("up_method", ["explicit", "same"])
def test_frozen_layer_other_options(kernel, stride, corr, extra_pad_end, down,
                                    up_method):
  layer = tfc.SignalConv2D(
      5, (kernel, kernel), corr=corr, strides_up=stride, strides_down=down,
      padding="same_zeros", extra_pad_end=extra_pad_end, use_bias=True,
      activation=tf.nn.relu)
  layer(tf.zeros((1, 4, 4, 3)))
  rng = np.random.default_rng(2)
  for variable in layer.trainable_variables:
    variable.assign(rng.normal(0, 1, variable.shape).astype(np.float32))
  frozen = transforms.FrozenSignalConv2D(layer, up_method=up_method)
  for shape in SHAPES:
    x = _input(1, shape, 3, False)
    expected = layer(x).numpy()
    actual = frozen(x).numpy()
    assert actual.shape == expected.shape
    _assert_close(actual, expected)


def test_auto_picks_explicit_for_few_output_channels():
  stack = transforms.synthesis_transform([(16, 5, 2), (3, 5, 2)])
  stack(tf.zeros((1, 4, 4, 6)))
  frozen = transforms.freeze_transform(stack)
  assert [l.up_method for l in frozen.layers
          if isinstance(l, transforms.FrozenSignalConv2D)] == ["same",
                                                               "explicit"]


# -- Export --------------------------------------------------------------------


def _saved_ops(path):
  """The op types of every function in a SavedModel's graph."""
  proto = saved_model_pb2.SavedModel()
  with open(f"{path}/saved_model.pb", "rb") as f:
    proto.ParseFromString(f.read())
  graph = proto.meta_graphs[0].graph_def
  ops = {node.op for node in graph.node}
  for function in graph.library.function:
    ops.update(node.op for node in function.node_def)
  return ops


def test_exported_bls2017_has_no_rdft(tiny_bls2017):
  model, path = tiny_bls2017
  # training.export froze the model in place: it codes as the SavedModel.
  for stack in (model.analysis_transform, model.synthesis_transform):
    assert not _signal_convs(stack)
  ops = _saved_ops(path)
  assert "Conv2D" in ops or "Conv2DBackpropInput" in ops
  assert not any("FFT" in op.upper() for op in ops), sorted(ops)
  reader = tf.train.load_checkpoint(path + "/variables/variables")
  names = reader.get_variable_to_shape_map()
  assert not any("real" in n or "imag" in n for n in names), sorted(names)
  loaded = savedmodel.LoadedModel(path)
  image = smooth_image(96, 128, seed=3)
  bitstream = container.unpack(container.pack(loaded.compress(image)))
  np.testing.assert_array_equal(loaded.decompress(bitstream),
                                model.reconstruct(tf.constant(image)))
  # The file's bits are the model's estimate (a trained model).
  estimate = sum(loaded.estimate_bits(image).values())
  assert abs(8 * bitstream.payload_bytes - estimate) <= 0.01 * estimate + 64


def test_exported_hyperprior_is_frozen_and_exact(tmp_path):
  tf.keras.utils.set_random_seed(3)
  model = bmshj2018.ScaleHyperpriorModel(num_filters=8, num_latents=12)
  for stack in (model.analysis_transform, model.synthesis_transform,
                model.hyper_analysis_transform,
                model.hyper_synthesis_transform):
    _randomize(stack, seed=4)
    # Random kernels have a larger gain: keep the latents in coding range.
    _signal_convs(stack)[-1].kernel_parameter.real.assign(
        _signal_convs(stack)[-1].kernel_parameter.real * 0.05)
  model.prepare_for_compression()
  image = smooth_image(70, 90, seed=6)
  x = tf.constant(image[None], tf.float32)
  before = {name: getattr(model, name) for name in (
      "analysis_transform", "synthesis_transform",
      "hyper_analysis_transform", "hyper_synthesis_transform")}
  y = before["analysis_transform"](x)
  z = before["hyper_analysis_transform"](abs(y))
  outputs_before = [y, z, before["hyper_synthesis_transform"](z),
                    before["synthesis_transform"](y)]
  # compress and estimate traced with the SignalConv2D layers: export must
  # not reuse these traces.
  model.compress(tf.constant(image))
  estimate_before = [float(b) for b in model.estimate(tf.constant(image))]

  path = str(tmp_path / "hyperprior")
  savedmodel.export(model, path, {"steps": 0})
  for name, stack in before.items():
    assert getattr(model, name) is not stack
    assert not _signal_convs(getattr(model, name))
  assert model.freeze_transforms() == []        # already frozen
  outputs_after = [model.analysis_transform(x), model.hyper_analysis_transform(
      abs(y)), model.hyper_synthesis_transform(z), model.synthesis_transform(y)]
  for after, expected in zip(outputs_after, outputs_before):
    _assert_close(after.numpy(), expected.numpy())

  ops = _saved_ops(path)
  assert not any("FFT" in op.upper() for op in ops), sorted(ops)
  loaded = savedmodel.LoadedModel(path)
  bitstream = container.unpack(container.pack(loaded.compress(image)))
  np.testing.assert_array_equal(loaded.decompress(bitstream),
                                model.reconstruct(tf.constant(image)))
  # The model's own (retraced) compress is the exported one.
  strings = model.compress(tf.constant(image))[:2]
  assert [s.numpy() for s in strings] == bitstream.strings
  # The same estimate as before freezing (file size against the estimate
  # is checked on a trained model, above: random weights put the latents
  # past the coding tables).
  np.testing.assert_allclose(list(loaded.estimate_bits(image).values()),
                             estimate_before, rtol=1e-3)
  # Exporting again gives the same model id (variables hashed by name).
  again = savedmodel.export(model, str(tmp_path / "again"), {"steps": 0})
  assert again["model_id"] == loaded.metadata["model_id"]


def test_export_without_freezing_keeps_signal_convs(tmp_path):
  model = bmshj2018.FactorizedModel(num_filters=4, num_latents=6)
  model.prepare_for_compression()
  savedmodel.export(model, str(tmp_path / "m"), freeze=False)
  assert _signal_convs(model.analysis_transform)
  assert any("FFT" in op.upper() for op in _saved_ops(str(tmp_path / "m")))


@pytest.mark.parametrize("shape", [(16, 16), (17, 23), (9, 4)])
@pytest.mark.parametrize("stride", [2, 3])
def test_strided_pointwise_correlation_is_tfcs(shape, stride):
  """The 1x1 strided correlation, computed by subsampling (a oneDNN crash
  avoided), gives what TFC's SignalConv2D gives, with the same variables."""
  ours = transforms.conv(5, 1, stride, name="shortcut")
  theirs = tfc.SignalConv2D(5, (1, 1), corr=True, strides_down=stride,
                            padding="same_zeros", use_bias=True,
                            name="shortcut")
  x = tf.random.stateless_normal((2, *shape, 3), seed=(1, 2))
  ours.build(x.shape)
  theirs.build(x.shape)
  theirs_by_name = {v.name: v for v in theirs.variables}
  assert sorted(theirs_by_name) == sorted(v.name for v in ours.variables)
  for source in ours.variables:
    source.assign(tf.random.stateless_normal(source.shape, seed=(3, 4)))
    theirs_by_name[source.name].assign(source)
  np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy(), rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize("inverse", [False, True])
def test_full_gdn_is_the_papers(inverse):
  """A GDN layer of a paper-variant model computes x/√(β + Σγx²) (IGDN:
  x·√(β + Σγx²)); the simplified form x/(β + Σγ|x|)."""
  from tfc_repro import bls2017
  model = bls2017.BLS2017Model(num_filters=4)
  stack = model.synthesis_transform if inverse else model.analysis_transform
  layer = next(l.activation for l in stack.layers
               if isinstance(getattr(l, "activation", None), tfc.GDN))
  assert layer.inverse == inverse
  rng = np.random.default_rng(5)
  for variable in layer.trainable_variables:  # β, γ away from their start
    variable.assign(variable + rng.uniform(0.1, 0.5, variable.shape))
  x = rng.normal(0, 3, (1, 3, 5, 4)).astype(np.float32)
  beta, gamma = layer.beta.numpy(), layer.gamma.numpy()
  assert np.count_nonzero(gamma) > 4  # not the diagonal start
  root = np.sqrt(beta + np.einsum("...j,ji->...i", x ** 2, gamma))
  expected = x * root if inverse else x / root
  np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5)
  simplified = transforms.gdn("g", "simplified", inverse=inverse)
  simplified.build(x.shape)
  beta, gamma = simplified.beta.numpy(), simplified.gamma.numpy()
  norm = beta + np.einsum("...j,ji->...i", np.abs(x), gamma)
  np.testing.assert_allclose(simplified(x).numpy(),
                             x * norm if inverse else x / norm, rtol=1e-5)
