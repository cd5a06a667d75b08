"""bmshj2018: quality levels, layouts, rate terms, exact coding."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfc_repro import bmshj2018, cli, container, savedmodel
from tfc_repro import scale_table, transforms
from conftest import smooth_image, train_args

SYSTEM = bmshj2018.SYSTEM


def _args(*flags, profile="paper"):
  return train_args(SYSTEM, ["--model_path", "unused", "train", "--profile",
                             profile, *flags])


def _convs(stack):
  return [l for l in stack.layers if isinstance(l, tfc.SignalConv2D)]


# -- Flags ---------------------------------------------------------------------


@pytest.mark.parametrize("quality", range(1, 9))
def test_quality_picks_lambda_and_sizes(quality):
  args = _args("--quality", str(quality))
  assert args.lmbda == bmshj2018.LAMBDAS["mse"][quality - 1]
  sizes = (128, 192) if quality <= 5 else (192, 320)
  assert (args.num_filters, args.num_latents) == sizes
  quick = _args("--quality", str(quality), profile="quick")
  assert (quick.num_filters, quick.num_latents) == (sizes[0] // 2,
                                                    sizes[1] // 2)
  ms_ssim = _args("--quality", str(quality), "--metric", "ms-ssim",
                  "--patchsize", "256")
  assert ms_ssim.lmbda == bmshj2018.LAMBDAS["ms-ssim"][quality - 1]


def test_defaults_and_overrides():
  args = _args()
  assert args.quality == 3 and args.lmbda == 0.0067
  assert args.model == "hyperprior" and args.variant == "paper"
  assert args.steps == 1_000_000 and args.lr == 1e-4 and args.batchsize == 8
  args = _args("--quality", "7", "--lambda", "0.5", "--num_filters", "24")
  assert (args.lmbda, args.num_filters, args.num_latents) == (0.5, 24, 320)
  args = _args("--variant", "tfc", "--quality", "6")
  assert args.num_filters == args.num_latents == 320
  args = _args("--variant", "tfc", "--num_latents", "16")
  assert args.num_filters == args.num_latents == 16
  with pytest.raises(ValueError, match="N = M"):
    _args("--variant", "tfc", "--num_filters", "8", "--num_latents", "12")
  with pytest.raises(ValueError, match="hyperprior only"):
    _args("--variant", "tfc", "--model", "factorized")
  with pytest.raises(SystemExit):
    _args("--quality", "9")


def test_help_explains_quality(capsys):
  with pytest.raises(SystemExit):
    cli.build_parser(SYSTEM).parse_args(["train", "--help"])
  text = " ".join(capsys.readouterr().out.split())
  for expected in ("--quality", "128/192 for q1-5", "192/320 for q6-8",
                   "halves N and M", "Overrides the λ of --quality",
                   "--variant", "--model", "--num_latents"):
    assert expected in text


# -- Layout --------------------------------------------------------------------


def test_paper_hyperprior_layout_and_shapes():
  model = bmshj2018.ScaleHyperpriorModel(num_filters=8, num_latents=12)
  g_a = _convs(model.analysis_transform)
  assert [c.kernel_support for c in g_a] == [(5, 5)] * 4
  assert [c.strides_down for c in g_a] == [(2, 2)] * 4
  assert [c.filters for c in g_a] == [8, 8, 8, 12]
  assert [c.filters for c in _convs(model.synthesis_transform)] == [8, 8, 8, 3]
  h_a = _convs(model.hyper_analysis_transform)
  assert [c.kernel_support for c in h_a] == [(3, 3), (5, 5), (5, 5)]
  assert [c.strides_down for c in h_a] == [(1, 1), (2, 2), (2, 2)]
  assert [c.use_bias for c in h_a] == [True, True, False]
  h_s = _convs(model.hyper_synthesis_transform)
  assert [c.filters for c in h_s] == [8, 8, 12]
  assert [c.strides_up for c in h_s] == [(2, 2), (2, 2), (1, 1)]
  assert h_s[-1].activation is tf.nn.relu     # the paper's h_s ends in ReLU
  assert all(isinstance(c.kernel_parameter, tfc.RDFTParameter) for c in h_s)

  x = tf.zeros((2, 128, 192, 3))
  y = model.analysis_transform(x)
  z = model.hyper_analysis_transform(abs(y))
  assert y.shape == (2, 8, 12, 12) and z.shape == (2, 2, 3, 8)
  assert model.scale_indexes(z, tf.shape(y)[1:3]).shape == y.shape
  assert model.synthesis_transform(y).shape == x.shape
  assert model.latent_names == ("y", "z") and model.stride == 64


@pytest.mark.parametrize("quality", range(1, 9))
def test_meanscale_quality_table(quality):
  args = _args("--model", "meanscale", "--quality", str(quality))
  assert args.lmbda == bmshj2018.LAMBDAS["mse"][quality - 1]
  sizes = (128, 192) if quality <= 4 else (192, 320)  # CompressAI's zoo
  assert (args.num_filters, args.num_latents) == sizes


def test_meanscale_layout_predicts_mean_and_scale():
  model = bmshj2018.MeanScaleHyperpriorModel(num_filters=8, num_latents=12)
  h_a = _convs(model.hyper_analysis_transform)
  assert [c.kernel_support for c in h_a] == [(3, 3), (5, 5), (5, 5)]
  assert [c.use_bias for c in h_a] == [True, True, True]
  assert h_a[0].activation is transforms.leaky_relu_001
  h_s = _convs(model.hyper_synthesis_transform)
  assert [c.filters for c in h_s] == [12, 18, 24]   # M, 3M/2, 2M
  assert h_s[-1].activation in (None, tf.keras.activations.linear)
  tf.keras.utils.set_random_seed(1)
  y = tf.random.normal((1, 8, 12, 12))
  assert model.hyper_input(y) is y                  # no |y|
  z = model.hyper_analysis_transform(y)
  indexes, mean = model.side_parameters(z, tf.shape(y)[1:3])
  assert indexes.shape == mean.shape == y.shape
  # The test-time latent is rounded around the mean, as coded.
  model.prepare_for_compression()
  y_hat = model.coders["y"].quantize(y, loc=mean)
  np.testing.assert_allclose((y_hat - mean).numpy(),
                             np.round((y - mean).numpy()), atol=1e-5)


def test_tfc_variant_matches_tfc_reference():
  model = bmshj2018.ScaleHyperpriorModel(num_filters=8, num_latents=8,
                                         variant="tfc")
  assert _convs(model.analysis_transform)[-1].filters == 8       # N = M
  h_s = _convs(model.hyper_synthesis_transform)
  assert [c.filters for c in h_s] == [8, 8, 8]                  # N outputs
  assert [c.kernel_support for c in h_s] == [(5, 5), (5, 5), (3, 3)]
  assert h_s[-1].activation is tf.keras.activations.linear      # no ReLU
  assert all(isinstance(c.kernel_parameter, tf.Variable) for c in h_s)
  z = tf.fill((1, 1, 1, 8), 3.)
  # The output is the index itself, not mapped from σ.
  np.testing.assert_array_equal(
      model.scale_indexes(z, (4, 4)), model.hyper_synthesis_transform(z))
  with pytest.raises(ValueError, match="N = M"):
    bmshj2018.ScaleHyperpriorModel(num_filters=8, num_latents=12,
                                   variant="tfc")


def test_tfc_variant_loss_is_tfc_scripts_loss():
  """The pin of the TFC comparison: on a fixed batch with fixed weights, --variant tfc's
  terms are those of TFC's models/bmshj2018.py, computed here from TFC's
  entropy models and the equations: z = h_a(|y|); ŷ coded under
  NoisyNormal with scale exp(ln .11 + i·(ln 256 − ln .11)/63) at index
  i = h_s(ẑ); R = (bits(ŷ) + bits(ẑ)) / (batch·H·W); D = MSE on 0..255;
  L = R + λD."""
  tf.keras.utils.set_random_seed(2)
  model = bmshj2018.ScaleHyperpriorModel(lmbda=0.01, num_filters=8,
                                         num_latents=8, variant="tfc")
  x = tf.constant(np.stack([smooth_image(64, 128, seed=s) for s in (1, 2)]),
                  tf.float32)
  terms = model(x, training=False)
  y = model.analysis_transform(x)
  side_model = tfc.ContinuousBatchedEntropyModel(
      model.hyperprior, coding_rank=3, compression=False)
  z_hat, side_bits = side_model(model.hyper_analysis_transform(abs(y)),
                                training=False)
  step = (np.log(256.) - np.log(.11)) / 63.
  main_model = tfc.LocationScaleIndexedEntropyModel(
      tfc.NoisyNormal, 64, lambda i: tf.exp(np.log(.11) + step * i),
      coding_rank=3, compression=False)
  y_hat, bits = main_model(y, model.hyper_synthesis_transform(z_hat),
                           training=False)
  mse = float(tf.reduce_mean(tf.square(x - model.synthesis_transform(y_hat))))
  bpp_y = float(tf.reduce_sum(bits)) / (2 * 64 * 128)
  bpp_z = float(tf.reduce_sum(side_bits)) / (2 * 64 * 128)
  assert bpp_y > 0 and bpp_z > 0 and mse > 0
  np.testing.assert_allclose(
      [float(terms[k]) for k in ("bpp_y", "bpp_z", "mse", "loss")],
      [bpp_y, bpp_z, mse, bpp_y + bpp_z + 0.01 * mse], rtol=1e-5)


def test_scale_index_inverts_the_scale_table():
  sigma = tf.constant([0., 0.05, 0.11, 1., 17.3, 256., 1e4])
  index = scale_table.scale_index(sigma).numpy()
  np.testing.assert_allclose(index[:3], 0., atol=1e-5)
  np.testing.assert_allclose(index[-2:], 63., atol=1e-4)
  np.testing.assert_allclose(scale_table.scale_fn(index),
                             [0.11, 0.11, 0.11, 1., 17.3, 256., 256.],
                             rtol=1e-5)
  np.testing.assert_allclose(scale_table.scale_fn(tf.range(64.)).numpy()[[0, 63]],
                             [0.11, 256.], rtol=1e-5)


# -- Loss ----------------------------------------------------------------------


def test_rate_of_y_and_z_in_the_loss():
  model = bmshj2018.ScaleHyperpriorModel(lmbda=0.5, num_filters=8,
                                         num_latents=12)
  x = tf.constant(smooth_image(64, 64)[None], tf.float32)
  terms = model(x, training=True)
  assert float(terms["bpp_y"]) > 0 and float(terms["bpp_z"]) > 0
  np.testing.assert_allclose(float(terms["bpp"]),
                             float(terms["bpp_y"]) + float(terms["bpp_z"]),
                             rtol=1e-5)
  np.testing.assert_allclose(float(terms["loss"]),
                             float(terms["bpp"]) + 0.5 * float(terms["mse"]),
                             rtol=1e-5)
  # Both rates train h_a and h_s: the gradient reaches them.
  with tf.GradientTape() as tape:
    loss = model(x, training=True)["loss"]
  variables = (model.hyper_analysis_transform.trainable_variables +
               model.hyper_synthesis_transform.trainable_variables)
  gradients = tape.gradient(loss, variables)
  assert all(g is not None for g in gradients)
  assert any(float(tf.reduce_max(abs(g))) > 0 for g in gradients)


def test_factorized_has_one_rate_term():
  model = bmshj2018.FactorizedModel(num_filters=8, num_latents=12)
  terms = model(tf.constant(smooth_image(32, 32)[None], tf.float32),
                training=True)
  assert "bpp_y" not in terms or "bpp_z" not in terms
  assert float(terms["bpp"]) > 0 and model.latent_names == ("y",)


def _ms_ssim_model_and_batch():
  tf.keras.utils.set_random_seed(4)
  model = bmshj2018.ScaleHyperpriorModel(
      lmbda=bmshj2018.LAMBDAS["ms-ssim"][2], metric="ms-ssim", num_filters=4,
      num_latents=6)
  x = tf.constant(np.stack([smooth_image(176, 176, seed=s) for s in (1, 2)]),
                  tf.float32)
  return model, x


def test_ms_ssim_loss_decreases():
  model, x = _ms_ssim_model_and_batch()
  optimizer = tf.keras.optimizers.Adam(1e-2)
  model.compile(optimizer=optimizer)
  before = float(model(x, training=False)["loss"])
  for _ in range(6):
    model.train_step(x)
  after = float(model(x, training=False)["loss"])
  assert after < 0.95 * before, (before, after)


def test_ms_ssim_gradients_are_finite_from_scratch():
  model, x = _ms_ssim_model_and_batch()
  with tf.GradientTape() as tape:
    loss = model(x, training=True)["loss"]
  gradients = tape.gradient(loss, model.trainable_variables)
  assert all(bool(tf.reduce_all(tf.math.is_finite(g))) for g in gradients)


# -- Coding --------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_hyperprior(tmp_path_factory):
  """A paper-variant model (N=8, M=12) after 12 eager training steps on
  smooth images, exported and loaded: (model, LoadedModel). The simplified
  GDN, as when the payload test's bounds were set: with the full GDN, 12
  steps leave more of y past the coding table's tails, where the estimate
  counts more bits than the range coder writes."""
  tf.keras.utils.set_random_seed(1)
  model = bmshj2018.ScaleHyperpriorModel(lmbda=0.01, num_filters=8,
                                         num_latents=12, gdn="simplified")
  model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
  images = np.stack([smooth_image(64, 64, seed=s) for s in range(4)])
  for _ in range(12):
    model.train_step(tf.constant(images, tf.float32))
  model.prepare_for_compression()
  path = str(tmp_path_factory.mktemp("models") / "bmshj2018")
  savedmodel.export(model, path, {"steps": 12})
  return model, savedmodel.LoadedModel(path)


@pytest.mark.parametrize("shape", [(1, 1), (17, 33), (70, 130)])
def test_round_trip_equals_quantized_reconstruction(tiny_hyperprior, shape):
  model, loaded = tiny_hyperprior
  image = smooth_image(*shape, seed=5)
  bitstream = container.unpack(container.pack(loaded.compress(image)))
  assert bitstream.image_shape == shape
  y_shape, z_shape = bitstream.latent_shapes
  assert y_shape == tuple(4 * d for d in z_shape)
  decoded = loaded.decompress(bitstream)
  assert decoded.shape == image.shape and decoded.dtype == np.uint8
  np.testing.assert_array_equal(
      decoded, model.reconstruct(tf.constant(image)).numpy())


def test_side_and_main_bits_make_the_payload(tiny_hyperprior):
  _, loaded = tiny_hyperprior
  image = smooth_image(128, 192, seed=7)
  bitstream = loaded.compress(image)
  assert loaded.latents == ("y", "z")
  string_y, string_z = bitstream.strings
  assert len(string_y) > 0 and len(string_z) > 0
  assert len(string_y) + len(string_z) == bitstream.payload_bytes
  # The model's bits are those of the file: closely for z, and for y up to
  # the values past the coding table's tails (frequent in an undertrained
  # model), which the range coder codes in fewer bits than −log₂ p.
  estimate = loaded.estimate_bits(image)
  assert abs(8 * len(string_z) - estimate["z"]) <= 0.02 * estimate["z"] + 32
  assert 8 * len(string_y) <= 1.02 * estimate["y"] + 32
  assert 8 * len(string_y) >= 0.5 * estimate["y"]


# -- Command line --------------------------------------------------------------
