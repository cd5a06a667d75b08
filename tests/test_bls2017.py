"""bls2017: transforms, rate-distortion behaviour, coding with a trained model,
the export. (Round trips on any size, file size vs estimate and files of
another model or configuration: test_contract.py.)"""

import numpy as np
import pytest
import tensorflow as tf

from tfc_repro import bls2017, container, savedmodel, training
from conftest import smooth_image, train_args


def test_transform_shapes_and_strides():
  model = bls2017.BLS2017Model(num_filters=8)
  x = tf.zeros((2, 64, 80, 3))
  y = model.analysis_transform(x)
  assert y.shape == (2, 4, 5, 8)
  assert model.synthesis_transform(y).shape == (2, 64, 80, 3)
  # Three layers with strides 4, 2, 2 and 9x9, 5x5, 5x5 kernels; no bias last.
  convs = [l for l in model.analysis_transform.layers if hasattr(l, "strides_down")]
  assert [c.strides_down for c in convs] == [(4, 4), (2, 2), (2, 2)]
  assert [c.kernel_support for c in convs] == [(9, 9), (5, 5), (5, 5)]
  assert [c.use_bias for c in convs] == [True, True, False]


def test_loss_is_rate_plus_lambda_distortion():
  model = bls2017.BLS2017Model(lmbda=0.5, num_filters=8)
  x = tf.constant(smooth_image(32, 32)[None], tf.float32)
  terms = model(x, training=False)
  assert float(terms["bpp"]) > 0
  np.testing.assert_allclose(float(terms["loss"]),
                             float(terms["bpp"]) + 0.5 * float(terms["mse"]),
                             rtol=1e-5)


def test_rate_decreases_when_lambda_falls(train_image, tmp_path):
  rates = {}
  for lmbda in (1e-4, 1.0):
    args = train_args(bls2017.SYSTEM, [
        "--model_path", str(tmp_path / str(lmbda)), "train",
        "--train_glob", train_image, "--lambda", str(lmbda),
        "--num_filters", "8", "--patchsize", "32", "--batchsize", "8",
        "--steps", "200", "--steps_per_epoch", "200", "--lr", "1e-2",
        "--seed", "3"])
    model, _ = training.build_and_fit(bls2017.SYSTEM, args)
    x = tf.constant(smooth_image(64, 64, seed=9)[None], tf.float32)
    rates[lmbda] = float(model(x, training=False)["bpp"])
  assert rates[1e-4] < 0.7 * rates[1.0]


@pytest.fixture(scope="module")
def loaded(tiny_bls2017):
  return savedmodel.LoadedModel(tiny_bls2017[1])


def test_round_trip_equals_quantized_reconstruction(tiny_bls2017, loaded):
  model, _ = tiny_bls2017
  image = smooth_image(80, 112, seed=5)
  expected = model.reconstruct(tf.constant(image)).numpy()
  bitstream = container.unpack(container.pack(loaded.compress(image)))
  np.testing.assert_array_equal(loaded.decompress(bitstream), expected)


def test_savedmodel_is_weights_only_and_self_contained(tiny_bls2017, loaded):
  model, path = tiny_bls2017
  meta = loaded.metadata
  assert meta["system"] == "bls2017" and meta["steps"] == 40
  assert meta["config"]["num_filters"] == 16 and meta["lmbda"] == 0.01
  assert "img" not in meta["train_data"] or "glob:" in meta["train_data"]
  # No optimizer state: the stored variables are those of compress/decompress.
  reader = tf.train.load_checkpoint(path + "/variables/variables")
  names = reader.get_variable_to_shape_map()
  assert not any("optimizer" in n or "/m/" in n for n in names)
  weights = sum(int(tf.size(v)) for v in model.variables
                if "optimizer" not in v.name)
  stored = sum(int(np.prod(s)) for n, s in names.items()
               if reader.get_variable_to_dtype_map()[n] != tf.string)
  assert stored <= 1.1 * weights


def test_other_model_is_rejected(loaded):
  # A file of another model id or configuration: test_contract.py. Here, a
  # file that names another system.
  bitstream = loaded.compress(smooth_image(32, 32))
  bitstream.system = "bmshj2018"
  with pytest.raises(container.ContainerError, match="system 'bmshj2018'"):
    loaded.decompress(bitstream)


def test_damaged_strings_never_give_a_silent_image(loaded):
  # Past the CRC (e.g. a file re-packed by hand), a cut string is refused
  # with one line: before decoding when it is shorter than its symbols cost
  # at the least (the decode bound), else because it decodes, but not to
  # the encoder's latents.
  bitstream = loaded.compress(smooth_image(64, 64))
  bitstream.strings = [bitstream.strings[0][:2]]
  with pytest.raises(container.ContainerError,
                     match="latents are not the encoder's|latent 'y' is not "
                           "what this model writes") as error:
    loaded.decompress(bitstream)
  assert "\n" not in str(error.value)


def test_model_of_another_system_is_rejected(tiny_bls2017):
  import dataclasses
  from tfc_repro import cli
  other = dataclasses.replace(bls2017.SYSTEM, name="bmshj2018")
  with pytest.raises(savedmodel.ModelError, match="holds a bls2017 model"):
    cli.load_model(other, tiny_bls2017[1])
  assert cli.load_model(bls2017.SYSTEM, tiny_bls2017[1]).system == "bls2017"
