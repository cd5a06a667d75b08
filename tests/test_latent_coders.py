"""Latent coders: each round-trips its latent exactly and refuses a string it
did not write; models get their strings back keyed by name and in
`latent_names` order; and a system declared here, from coders alone, trains,
exports, codes files and keeps the contract every registered system keeps
(test_contract.py's checks, run on it as they are).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfc_repro import cli, container, data, hcae, latent_coders, lee2019
from tfc_repro import model as model_lib
from tfc_repro import savedmodel, scale_table, systems, training, transforms
from conftest import ROOT, smooth_image, train_args
import test_contract
import test_export_idiom

SHAPE = (1, 5, 7, 3)


def factorized():
  prior = tfc.NoisyDeepFactorized(batch_shape=(SHAPE[-1],))
  coder = latent_coders.FactorizedCoder("z", latent_coders.EntropyModel(
      lambda compression: latent_coders.ContinuousBatchedEntropyModel(
          prior, coding_rank=3, compression=compression)))
  return coder, 3. * tf.random.normal(SHAPE), (), {}


def scale_indexed(mean):
  """Values drawn from the Gaussians they are coded with."""
  coder = latent_coders.ScaleIndexedCoder(
      "y", latent_coders.EntropyModel(scale_table.gaussian_entropy_model))
  indexes = tf.random.uniform(SHAPE, 10., 40.)
  loc = 5. * tf.random.normal(SHAPE) if mean else None
  values = scale_table.scale_fn(indexes) * tf.random.normal(SHAPE)
  return coder, values if loc is None else values + loc, (indexes,), {
      "loc": loc}


def gaussian_grid():
  coder = latent_coders.GaussianGridCoder(
      "y2", latent_coders.GaussianGrid(), shape_name="y")
  mean = tf.random.normal(SHAPE[1:], dtype=tf.float64)
  values = tf.cast(tf.round(mean + 3. * tf.random.normal(
      SHAPE[1:], dtype=tf.float64)), tf.int32)
  return coder, values, (mean, tf.fill(SHAPE[1:], tf.constant(
      1., tf.float64))), {}


def wavefront(reference):
  context_model = lee2019.ContextModel(SHAPE[-1], 8)
  coder = lee2019.WavefrontContextCoder("y", latent_coders.GaussianGrid(),
                                        context_model)
  c_prime = tf.exp(tf.random.normal(SHAPE[1:]))
  values = tf.cast(tf.round(3. * tf.random.normal(SHAPE[1:])), tf.int32)
  return coder, values, (coder.contexts(c_prime, reference),), {}


CODERS = {
    "factorized": factorized,
    "scale-indexed": lambda: scale_indexed(mean=False),
    "mean-scale": lambda: scale_indexed(mean=True),
    "gaussian-grid": gaussian_grid,
    "wavefront": lambda: wavefront(reference=False),
    "wavefront-reference": lambda: wavefront(reference=True),
}


def prepared(kind):
  tf.keras.utils.set_random_seed(3)
  coder, values, conditions, options = CODERS[kind]()
  coder.tables.prepare()
  return coder, values, conditions, options


def decoded(coder, latents, conditions, options, **strings):
  """The coder's `decompress` given the strings (some replaced by
  `strings`) and shapes of `latents`, traced as the exported decompress runs
  it: (values, symbols)."""

  @tf.function
  def decompress(strings, shapes, conditions, options):
    received = latent_coders.Latents(strings=strings, shapes=shapes)
    values = coder.decompress(received, *conditions, **options)
    return values, received.symbols[coder.name]

  return decompress({**latents.strings, **strings}, latents.shapes,
                    conditions, options)


@pytest.mark.parametrize("kind", sorted(CODERS))
def test_a_coder_round_trips_its_latent_exactly(kind):
  coder, values, conditions, options = prepared(kind)
  latents = latent_coders.Latents()
  quantized = coder.compress(latents, values, *conditions, **options)
  assert list(latents.strings) == list(latents.symbols) == [coder.name]
  assert list(latents.shapes) == [coder.shape_name]
  decoded_values, symbols = decoded(coder, latents, conditions, options)
  np.testing.assert_array_equal(decoded_values.numpy(), quantized.numpy())
  np.testing.assert_array_equal(symbols.numpy(),
                                latents.symbols[coder.name].numpy())
  if values.dtype.is_floating:  # a quantizer, not integers as they are
    assert not np.array_equal(quantized.numpy(), values.numpy())


@pytest.mark.parametrize("kind", sorted(CODERS))
def test_a_coder_refuses_a_string_it_did_not_write(kind):
  coder, values, conditions, options = prepared(kind)
  latents = latent_coders.Latents()
  coder.compress(latents, values, *conditions, **options)
  string = latents.strings[coder.name].numpy()
  # A zero byte more decodes into the same latent (TFC's range decoder reads
  # zeros past the end): only the recode check can refuse it.
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=fr"latent \W*{coder.name}\W* is not what") as e:
    decoded(coder, latents, conditions, options,
            **{coder.name: tf.constant(string + b"\0")})
  # A latent decoded under parameters from others names them as a cause
  # too: a string cut short codes back to itself, so its own check passes.
  assert ("a latent it is decoded from" in str(e.value)) == (
      kind != "factorized")
  # The string twice: refused by that check too.
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=fr"latent \W*{coder.name}\W* is not what"):
    decoded(coder, latents, conditions, options,
            **{coder.name: tf.constant(string + string)})


@pytest.mark.parametrize("kind", ["factorized", "scale-indexed", "mean-scale"])
def test_the_estimate_is_of_the_latent_as_coded(kind):
  coder, values, conditions, options = prepared(kind)
  estimated, coded = latent_coders.Latents(), latent_coders.Latents()
  quantized = coder.estimate(estimated, values, *conditions, **options)
  np.testing.assert_array_equal(
      quantized.numpy(),
      coder.compress(coded, values, *conditions, **options).numpy())
  bits = float(tf.reduce_sum(estimated.bits[coder.name]))
  assert abs(8 * len(coded.strings[coder.name].numpy()) - bits) <= (
      0.01 * bits + 64)


def test_coders_that_share_tables_are_prepared_once():
  """hcae's levels share one Gaussian entropy model: the exported model
  holds one set of its tables."""
  model = hcae.HierarchicalModel(num_filters=4, latent_channels=(2, 3, 4))
  model.prepare_for_compression()
  levels = [model.coders[name] for name in ("z2", "z1")]
  assert levels[0].tables is levels[1].tables
  assert levels[0].tables.coding is not None
  module, _ = savedmodel.coding_module(model)
  names = [v.name for v in module.weights if "cdf:" in v.name]
  assert sorted(names) == ["continuous_batched_entropy_model/cdf:0",
                           "location_scale_indexed_entropy_model/cdf:0"]


# -- A system declared here ---------------------------------------------------


class ToyModel(model_lib.CompressionModel):
  """Two latents from coders alone: y under a Gaussian whose scale comes from
  z, z under a factorized prior. Declared in bitstream order y, z; coded z
  first."""

  system = "toy"
  stride = 16
  latent_names = ("y", "z")
  shape_strides = (4, 16)

  def __init__(self, lmbda, metric="mse", num_filters=8):
    super().__init__(dict(lmbda=lmbda, metric=metric,
                          num_filters=num_filters))
    n = num_filters
    self.analysis_transform = transforms.analysis_transform(
        [(n, 5, 2), (n, 5, 2)], gdn_form="simplified")
    self.synthesis_transform = transforms.synthesis_transform(
        [(n, 5, 2), (3, 5, 2)], gdn_form="simplified")
    self.hyper_analysis_transform = transforms.hyper_analysis(
        [(n, 3, 1), (n, 5, 2), (n, 5, 2)])
    self.hyper_synthesis_transform = transforms.hyper_synthesis(
        [(n, 5, 2), (n, 5, 2), (n, 3, 1)])
    self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(n,))
    self.build((None, None, None, 3))

  def make_coders(self):
    return (
        latent_coders.FactorizedCoder("z", latent_coders.EntropyModel(
            lambda compression: latent_coders.ContinuousBatchedEntropyModel(
                self.hyperprior, coding_rank=3, compression=compression))),
        latent_coders.ScaleIndexedCoder("y", latent_coders.EntropyModel(
            scale_table.gaussian_entropy_model)))

  def scale_indexes(self, z_hat, y_shape):
    """σ = exp(h_s(ẑ)) on the scale table."""
    log_sigma = self.hyper_synthesis_transform(z_hat)
    return scale_table.scale_index(
        tf.exp(log_sigma[:, :y_shape[0], :y_shape[1]]))

  def call(self, x, training):
    x = tf.cast(x, self.compute_dtype)
    y = self.analysis_transform(x)
    z_tilde, bits_z = self.coders["z"].rate(
        self.hyper_analysis_transform(y), training=training)
    y_tilde, bits_y = self.coders["y"].rate(
        y, self.scale_indexes(z_tilde, tf.shape(y)[1:3]), training=training)
    x_tilde = self.synthesis_transform(
        self.synthesis_input(y, y_tilde, training=training))
    return self.rate_distortion(x, x_tilde, y=bits_y, z=bits_z)

  def _encode(self, x, method):
    """The coders' `method` ("compress" or "estimate") on the latents of
    `x`: (their `Latents`, x_shape)."""
    y, x_shape = self.analyze(x)
    latents = latent_coders.Latents()
    code = latents.coding(method)
    z_hat = code(self.coders["z"], self.hyper_analysis_transform(y))
    code(self.coders["y"], y, self.scale_indexes(z_hat, tf.shape(y)[1:3]))
    return latents, x_shape

  def _compress(self, x):
    return self._encode(x, "compress")

  def _decompress(self, latents, x_shape):
    z_hat = self.coders["z"].decompress(latents)
    y_hat = self.coders["y"].decompress(
        latents, self.scale_indexes(z_hat, latents.shapes["y"]))
    return self.synthesize(y_hat, x_shape)

  def _estimate(self, x):
    return self._encode(x, "estimate")[0].bits

  @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
  def reconstruct(self, x):
    x, x_shape = self.prepare_image(x)
    y_hat = self.coders["y"].quantize(self.analysis_transform(x))
    return self.finish_image(self.synthesis_transform(y_hat), x_shape)


def add_toy_flags(parser):
  parser.add_argument("--num_filters", type=int, default=None)


TOY = cli.System(
    name="toy", description="Two latents composed from latent coders.",
    build_model=lambda args: ToyModel(args.lmbda, args.metric,
                                      args.num_filters),
    add_model_flags=add_toy_flags, default_lmbda=0.01,
    profiles={"quick": dict(num_filters=8, patchsize=64, batchsize=2,
                            steps=3, lr=1e-3, lr_decay_steps=())})


def test_strings_come_back_keyed_by_name_in_latent_names_order():
  tf.keras.utils.set_random_seed(1)
  model = ToyModel(0.01)
  model.prepare_for_compression()
  image = tf.constant(smooth_image(40, 72, seed=2))
  order = []

  @tf.function
  def strings(image):
    latents, _ = model._compress(image)  # pylint: disable=protected-access
    order.extend(latents.strings)
    return latents.strings

  coded = strings(image)
  assert order == ["z", "y"]  # as the model codes them
  outputs = model.compress(image)
  assert [s.numpy() for s in outputs[:2]] == [coded["y"].numpy(),
                                              coded["z"].numpy()]
  assert [tuple(s.numpy()) for s in outputs[3:5]] == [(12, 20), (3, 5)]
  estimated = tf.function(model._estimate)(  # pylint: disable=protected-access
      image)
  np.testing.assert_allclose(
      [float(tf.reduce_sum(estimated[name])) for name in ("y", "z")],
      [float(bits) for bits in model.estimate(image)], rtol=1e-6)


def test_a_model_whose_coders_are_not_its_latents_is_refused():

  class Missing(ToyModel):
    latent_names = ("y", "z", "w")

  with pytest.raises(ValueError, match="coders of"):
    Missing(0.01).prepare_for_compression()


def test_a_system_declared_here_trains_exports_codes_and_keeps_the_contract(
    train_image, tmp_path, monkeypatch, load_once, capsys):
  path = str(tmp_path / "toy")
  run = lambda *argv: cli.main(TOY, cli.build_parser(TOY).parse_args(
      ["--model_path", path, *argv]))
  capsys.readouterr()
  assert run("train", "--train_glob", train_image, "--seed", "1") == 0
  assert f"exported toy model to {path} (3 steps, λ=0.01, mse)" in (
      capsys.readouterr().out)
  loaded = load_once(path)  # and the commands below take it
  assert loaded.metadata["system"] == "toy"
  assert loaded.metadata["steps"] == 3
  assert loaded.latents == ("y", "z")
  image = smooth_image(33, 47, seed=9)
  data.write_png(str(tmp_path / "in.png"), image)
  assert run("compress", str(tmp_path / "in.png"),
             str(tmp_path / "in.tfci")) == 0
  assert run("decompress", str(tmp_path / "in.tfci"),
             str(tmp_path / "out.png")) == 0
  np.testing.assert_array_equal(
      data.read_image(str(tmp_path / "out.png")),
      loaded.decompress(loaded.compress(image)))
  assert container.read(str(tmp_path / "in.tfci"), 1 << 20).system == "toy"

  # The contract suite's checks, as they run on every registered system, on
  # the trained model rebuilt from its training weights as export leaves it
  # (tables built, transforms frozen).
  with systems.registered(TOY):
    model = TOY.build_model(train_args(TOY, ["train"]))
    training.assign_weights(model, savedmodel.read_training_weights(path),
                            path)
    model.prepare_for_compression()
    model.freeze_transforms()
    codec = ("toy", TOY, model, savedmodel.Codec.from_model(model))
    # (The test takes the case's in-memory codec from the contract suite's.)
    monkeypatch.setattr(test_export_idiom, "fixed_codec",
                        lambda name, kind: (model, codec[3]))
    test_export_idiom.test_the_export_writes_the_same_files_as_the_model(
        ("toy", model, loaded, None))
    for shape in ((1, 1), (17, 33), (3, 400)):
      test_contract.test_round_trip_is_exact_on_any_size(codec, shape)
    test_contract.test_tiled_coding_is_the_untiled_coding(codec)
    test_contract.test_one_string_per_latent_and_bits_match_the_estimate(
        codec)
    test_contract.test_evaluation_has_a_rate_column_per_latent(
        codec, tmp_path)
    test_contract.test_a_file_of_another_model_is_refused_with_one_line(codec)
    test_contract.test_crafted_headers_are_refused_before_decoding(codec)
    test_contract.test_an_image_shape_altered_within_the_padding_is_refused(
        codec)
    test_contract.test_extended_strings_are_refused(codec)
    test_contract.test_truncated_strings_are_refused(codec)
    test_contract.test_a_decoder_with_other_tables_refuses(codec)
  with pytest.raises(ValueError, match="unknown system"):
    systems.system("toy")


# Four 16-bit tables, the row each of 64 symbols is decoded with, and a
# string: an overflow escape at its start, 7171 zero bytes, a zero byte.
# The escape's Elias-gamma prefix counts the string's zeros and the guard's
# zero bytes, and its value bits take as many again from the ones after
# them; with ones of 4 bytes a symbol and 8 kB alone (not counting the
# string's length), the decoder then read past them, and its 26th symbol,
# an escape, began a prefix in the zeros beyond that never ended (found by
# searching a model of TFC's decoder; checked with TFC's ops).
_LONG_STRING_SCRIPT = """
import os, threading, time
import tensorflow as tf
from tensorflow_compression.python.ops import gen_ops
from tfc_repro import latent_coders
rows = [[0, 20000, 45000, 65000, 65536], [0, 30000, 65535, 65536],
        [0, 1000, 60000, 65530, 65536], [0, 16000, 32000, 48000, 65536]]
table = [value for row in rows for value in [-16] + row]
order = [2, 3, 3, 0, 2, 0, 1, 3, 3, 0, 1, 3, 3, 2, 0, 1, 2, 0, 3, 0, 3, 1, 2,
         0, 1]
index = [0] + order + [0] * (63 - len(order))
string = (rows[0][-2] << 16).to_bytes(4, "big") + bytes(7172)
def decode():
  handle = gen_ops.create_range_decoder(
      latent_coders.guarded(tf.constant(string), len(index)),
      tf.constant(table, tf.int32))
  gen_ops.entropy_decode_index(handle, tf.constant([index], tf.int32),
                               [1, len(index)], tf.int32)[1].numpy()
worker = threading.Thread(target=decode, daemon=True)
start = time.time()
worker.start()
worker.join(30)
print("still decoding" if worker.is_alive() else "decoded", flush=True)
os._exit(0)
"""


def test_the_guard_outlasts_a_long_string_of_zeros():
  """TFC's decoder, given a guarded string whose zeros feed a long
  overflow prefix, still meets ones until it has decoded every symbol (in
  a process of its own: a decoder that loops cannot be stopped)."""
  run = subprocess.run([sys.executable, "-c", _LONG_STRING_SCRIPT],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=ROOT))
  assert run.stdout.strip().splitlines()[-1:] == ["decoded"], (
      run.stdout + run.stderr[-2000:])
