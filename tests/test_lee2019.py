"""lee2019: context model, exact wavefront coding, hybrid model."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import smooth_image, train_args
from tfc_repro import gaussian_coder, lee2019, training
from tfc_repro.lee2019 import ContextAdaptiveModel, HybridModel


def tiny(model_class=ContextAdaptiveModel, hybrid=0, seed=0, **kwargs):
  tf.keras.utils.set_random_seed(seed)
  model = model_class(lmbda=0.01, num_filters=16, num_latents=8,
                      num_hybrid_latents=hybrid, context_filters=32, **kwargs)
  return model


@pytest.fixture(scope="module")
def base_model():
  model = tiny()
  model.prepare_for_compression()
  return model


@pytest.fixture(scope="module")
def hybrid_model():
  model = tiny(HybridModel, hybrid=6)
  model.prepare_for_compression()
  return model


# -- Settings --------------------------------------------------------------------


@pytest.mark.parametrize("metric,quality,lmbda,sizes", [
    ("mse", 1, 0.5, (128, 192, 0)),
    ("mse", 5, 0.12, (128, 192, 0)),
    ("ms-ssim", 5, 0.1, (128, 192, 0)),
    ("mse", 6, 0.06, (320, 192, 228)),
    ("ms-ssim", 9, 0.01, (400, 192, 408)),
])
def test_quality_picks_lambda_and_model(metric, quality, lmbda, sizes):
  args = train_args(lee2019.SYSTEM, [
      "--model_path", "m", "train", "--profile", "paper", "--metric", metric,
      "--quality", str(quality)])
  assert args.lmbda == lmbda  # the λ a user gives stays eq. 6's
  expected = ((1 - lmbda) / (1000 * lmbda) if metric == "mse" else
              3 * (1 - lmbda) / lmbda)
  assert lee2019.converted_lambda(metric, lmbda) == pytest.approx(expected)
  assert (args.num_filters, args.num_latents,
          args.num_hybrid_latents) == sizes
  assert args.context_filters == 640
  assert args.lr == 5e-5 and args.lr_decay_factor == 0.5


def test_quick_profile_halves_sizes_and_lambda_is_checked():
  args = train_args(lee2019.SYSTEM, ["train", "--quality", "8"])
  assert (args.num_filters, args.num_latents, args.num_hybrid_latents,
          args.context_filters) == (200, 96, 204, 320)
  with pytest.raises(ValueError, match="λ"):
    train_args(lee2019.SYSTEM, ["train", "--lambda", "2"])


def test_paper_learning_rate_schedule_halves_four_times():
  schedule = training.learning_rate(5e-5, 1_000_000, (0.8, 0.85, 0.9, 0.95),
                                    0.5)
  rates = [float(schedule(s)) for s in (0, 799_999, 800_001, 850_001,
                                        900_001, 950_001)]
  assert rates == pytest.approx([5e-5, 5e-5, 2.5e-5, 1.25e-5, 6.25e-6,
                                 3.125e-6])


# -- The context model f --------------------------------------------------------


def test_dense_masked_f_equals_windowed_f():
  tf.keras.utils.set_random_seed(3)
  f = lee2019.ContextModel(5, num_filters=24)
  y_hat = tf.round(tf.random.normal((2, 6, 7, 5)) * 3)
  c_prime = tf.random.normal((2, 6, 7, 5))
  f(y_hat, c_prime)
  for weight in f.weights:  # not the near-zero initial biases
    weight.assign(tf.random.normal(weight.shape) * 0.3)
  mu, log_sigma = f(y_hat, c_prime)
  padded_y = np.pad(y_hat.numpy(), [(0, 0), (3, 0), (2, 1), (0, 0)])
  padded_c = np.pad(c_prime.numpy(), [(0, 0), (3, 0), (2, 1), (0, 0)])
  for b in range(2):
    for l in range(6):
      for k in range(7):
        window_y = padded_y[b, l:l + 4, k:k + 4].copy()
        window_y[3, 2:] = 123.  # masked: what is there must not matter
        m, s = f.windowed(window_y[None], padded_c[b, l:l + 4, k:k + 4][None])
        np.testing.assert_allclose(m[0], mu[b, l, k], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(s[0], log_sigma[b, l, k], rtol=1e-4,
                                   atol=1e-4)


def test_f_depends_only_on_causal_positions():
  tf.keras.utils.set_random_seed(4)
  f = lee2019.ContextModel(3, num_filters=16)
  y_hat = tf.random.normal((1, 8, 8, 3))
  c_prime = tf.random.normal((1, 8, 8, 3))
  with tf.GradientTape() as tape:
    tape.watch(y_hat)
    mu, _ = f(y_hat, c_prime)
    target = mu[0, 4, 4, 0]
  gradient = tf.reduce_sum(abs(tape.gradient(target, y_hat)), -1)[0].numpy()
  rows, cols = np.nonzero(gradient)
  for l, k in zip(rows, cols):
    assert l <= 4 and k + 2 * l < 4 + 2 * 4, (l, k)
  assert gradient[4, 3] > 0 and gradient[1, 5] > 0  # the window is used
  assert gradient[4, 4] == 0 and gradient[4, 5] == 0


def test_wavefront_schedule_respects_dependencies():
  height, width = 5, 9
  positions, starts = lee2019.wavefront_schedule(height, width)
  positions, starts = positions.numpy(), starts.numpy()
  assert len(starts) - 1 == width + 2 * height - 2
  assert sorted(map(tuple, positions)) == [
      (l, k) for l in range(height) for k in range(width)]
  step_of = {}
  for step in range(len(starts) - 1):
    for l, k in positions[starts[step]:starts[step + 1]]:
      step_of[(l, k)] = step
  for (l, k), step in step_of.items():
    for r, c in lee2019._VISIBLE_TAPS:  # pylint: disable=protected-access
      neighbour = (l + r - 3, k + c - 2)
      if neighbour in step_of:
        assert step_of[neighbour] < step


# -- Entropy coding ---------------------------------------------------------------


def _code(mean, log_scale, values_):
  cdf, offsets = gaussian_coder.build_tables()
  cell, rounded = gaussian_coder.cells(tf.constant(mean), tf.constant(log_scale))
  symbols = gaussian_coder.symbols(tf.constant(values_, tf.int32), cell,
                                   rounded, offsets)
  from tensorflow_compression.python.ops import gen_ops
  handle = gen_ops.create_range_encoder([], cdf)
  handle = gen_ops.entropy_encode_index(handle, cell, symbols)
  string = gen_ops.entropy_encode_finalize(handle).numpy()
  handle = gen_ops.create_range_decoder(string, cdf)
  handle, decoded = gen_ops.entropy_decode_index(handle, cell,
                                                 tf.shape(cell), tf.int32)
  assert gen_ops.entropy_decode_finalize(handle).numpy()
  return string, gaussian_coder.values(decoded, cell, rounded, offsets).numpy()


@pytest.mark.parametrize("scale_range", [(0.11, 1.), (0.5, 20.)])
def test_coded_size_within_half_a_percent_of_the_estimate(scale_range):
  rng = np.random.default_rng(0)
  count = 40_000
  mean = rng.uniform(-4, 4, count)
  scale = np.exp(rng.uniform(*np.log(scale_range), count))
  values_ = np.round(rng.normal(mean, scale)).astype(np.int32)
  string, decoded = _code(mean, np.log(scale), values_)
  np.testing.assert_array_equal(decoded, values_)
  estimate = float(tf.reduce_sum(gaussian_coder.discretized_bits(
      tf.constant(values_, tf.float64), mean, scale)))
  assert 8 * len(string) == pytest.approx(estimate, rel=0.005)


def test_values_far_outside_the_tables_round_trip():
  mean = np.array([0., 0.3, -2.7, 1e4, 0., 5e6, -3.])
  log_scale = np.log([0.11, 1., 300., 0.2, 0.01, 1., 1e9])
  values_ = np.array([100_000, -77_777, 2_000_000, -10_000, 1, -3, 12],
                     np.int32)
  _, decoded = _code(mean, log_scale, values_)
  np.testing.assert_array_equal(decoded, values_)


# -- Model coding -----------------------------------------------------------------


# Sizes whose latent grids (8x8, 8x4) are taller than f's 4-row window; the
# round trips of test_contract.py code grids of 4 rows (images up to 64 high).
@pytest.mark.parametrize("shape", [(80, 100), (70, 33)])
def test_round_trip_is_exact(base_model, shape):
  image = smooth_image(*shape, seed=shape[0])
  outputs = base_model.compress(image)
  decoded = base_model.decompress(*outputs[:-1])[0].numpy()
  assert decoded.shape == image.shape
  np.testing.assert_array_equal(decoded, base_model.reconstruct(image))


def test_hybrid_round_trip_is_exact(hybrid_model):
  image = smooth_image(72, 90, seed=5)  # an 8x8 grid, as above
  outputs = hybrid_model.compress(image)
  decoded = hybrid_model.decompress(*outputs[:-1])[0].numpy()
  np.testing.assert_array_equal(decoded, hybrid_model.reconstruct(image))


@pytest.mark.parametrize("fixture", ["base_model", "hybrid_model"])
def test_reference_path_codes_the_same_file(fixture, request):
  model = request.getfixturevalue(fixture)
  image = smooth_image(48, 80, seed=7)
  count = len(model.latent_names)
  outputs = model.compress(image)
  reference = model.compress_reference(image)
  for a, b in zip(outputs[:count], reference[:count]):
    assert a.numpy() == b.numpy()
  np.testing.assert_array_equal(model.decompress_reference(*outputs[:-1])[0],
                                model.decompress(*outputs[:-1])[0])


def test_latents_far_outside_the_tables_round_trip():
  model = tiny(seed=2)
  last = model.analysis_transform.layers[-1]
  last.bias_parameter.assign(tf.fill(last.bias.shape, 3000.))
  model.prepare_for_compression()
  image = smooth_image(64, 64, seed=1)
  outputs = model.compress(image)
  np.testing.assert_array_equal(model.decompress(*outputs[:-1])[0],
                                model.reconstruct(image))


def test_bytes_the_decoder_does_not_consume_are_refused(base_model):
  """Bytes after the string the encoder wrote fail the recode check of the
  context-coded latent. (Truncated or flipped files are caught earlier by
  the container's CRC-32.)"""
  image = smooth_image(64, 64, seed=2)
  string, side, *shapes, _ = base_model.compress(image)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"latent \W*y\W* is not what this model writes"):
    base_model.decompress(tf.constant(string.numpy() + bytes(20)), side,
                          *shapes)


# -- Training ---------------------------------------------------------------------


def test_rate_terms_and_loss(hybrid_model):
  terms = hybrid_model(smooth_image(64, 64)[None], training=True)
  for name in ("bpp_y1", "bpp_y2", "bpp_z"):
    assert float(terms[name]) > 0
  assert float(terms["bpp"]) == pytest.approx(
      float(terms["bpp_y1"] + terms["bpp_y2"] + terms["bpp_z"]), rel=1e-5)
  assert float(terms["loss"]) == pytest.approx(
      float(terms["bpp"] + 0.01 * terms["mse"]), rel=1e-5)


def test_rate_samples_scale_to_an_unbiased_estimate():
  model = tiny(rate_samples=5)
  weights = model._rate_weights(tf.constant([3, 4, 6, 8])).numpy()  # pylint: disable=protected-access
  assert weights.shape == (3, 4, 6, 1)
  for image in weights:
    assert np.count_nonzero(image) == 5
    assert image.sum() == pytest.approx(24.)


def test_quantized_latents_carry_identity_gradients():
  model = tiny()
  x = tf.constant(smooth_image(64, 64)[None])
  with tf.GradientTape() as tape:
    terms = model(x, training=True)
  gradients = tape.gradient(terms["mse"], model.analysis_transform.variables)
  assert all(g is not None and float(tf.reduce_sum(abs(g))) > 0
             for g in gradients)


def test_loss_decreases(train_dir):
  args = train_args(lee2019.SYSTEM, [
      "--model_path", "unused", "train", "--train_glob", train_dir,
      "--num_filters", "16", "--num_latents", "8", "--context_filters", "32",
      "--patchsize", "64", "--batchsize", "4", "--steps", "1", "--seed", "1"])
  model = lee2019.build_model(args)
  model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
  batch = tf.constant(np.stack([smooth_image(64, 64, seed=s)
                                for s in range(4)]))
  losses = [float(model.train_step(batch)["loss"]) for _ in range(30)]
  assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])


def test_the_lambda_given_is_the_lambda_reported(train_dir, tmp_path):
  # eq. 6's λ stays that λ in the training record (and so in the exported
  # metadata and evaluation); the loss weight λ′ is recorded beside it.
  args = train_args(lee2019.SYSTEM, [
      "--model_path", str(tmp_path / "m"), "train", "--train_glob", train_dir,
      "--num_filters", "8", "--num_latents", "8", "--context_filters", "16",
      "--patchsize", "64", "--batchsize", "2", "--steps", "2",
      "--quality", "2", "--seed", "1"])
  model, info = training.build_and_fit(lee2019.SYSTEM, args)
  assert info["lmbda"] == model.user_lambda == 0.4
  assert info["loss_lambda"] == model.loss_lambda == pytest.approx(0.6 / 400)
  assert info["steps"] == 2 and "loss" in info["final_terms"]
