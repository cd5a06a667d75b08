"""import_compressai: CompressAI's models as tfc-repro models, checked
against CompressAI's own outputs.

The fixtures (tests/data/compressai, written by scripts/compressai_fixtures.py
where PyTorch and CompressAI are installed) hold, per architecture, a
CompressAI model with random weights (N=8, M=12) as a state dict, and what
CompressAI computes on input.png: forward() in eval mode (ŷ, ẑ, likelihoods,
x̂'s corners and channel sums, the estimated bits), the scale table entries of
ŷ and the bytes of compress(). These tests need neither PyTorch nor
CompressAI; `test_against_compressai_itself` runs the same comparison on
freshly drawn models when CompressAI is importable.
"""

import importlib.util
import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfc_repro import container, data, import_compressai, savedmodel
from tfc_repro import training
from conftest import ROOT, run_cli

FIXTURES = os.path.join(ROOT, "tests", "data", "compressai")
ARCHITECTURES = tuple(import_compressai.ARCHITECTURES)
N, M = 8, 12


def _summary():
  with open(os.path.join(FIXTURES, "fixtures.json")) as f:
    return json.load(f)


def _state(architecture):
  with np.load(os.path.join(FIXTURES, f"{architecture}.npz")) as stored:
    return {key: stored[key] for key in stored.files}


def _outputs(architecture):
  with np.load(os.path.join(FIXTURES, f"{architecture}-outputs.npz")) as f:
    return {key: f[key] for key in f.files}


def _image():
  return data.read_image(os.path.join(FIXTURES, "input.png"))


def _import(architecture, state=None):
  return import_compressai.import_state_dict(
      _state(architecture) if state is None else state, architecture,
      quality=3, num_filters=N, num_latents=M)


def _nhwc(array):
  """CompressAI's (1, C, H, W) as (1, H, W, C)."""
  return np.transpose(array, (0, 2, 3, 1))


def check_forward(architecture, model, image, reference):
  """The imported model's forward() against CompressAI's `reference`."""
  ours = import_compressai.forward(model, image)
  # ŷ and ẑ: the same values. Where they are integers plus a stored median
  # (factorized latents) or integers (the scale hyperprior's ŷ), exactly;
  # the mean-scale ŷ = round(y − μ) + μ carries μ's float error (same symbols).
  y_hat = _nhwc(reference["y_hat"])
  if architecture == "mbt2018-mean":
    np.testing.assert_allclose(ours["y_hat"], y_hat, rtol=0, atol=1e-4)
  else:
    np.testing.assert_array_equal(ours["y_hat"], y_hat)
  np.testing.assert_allclose(ours["likelihoods_y"],
                             _nhwc(reference["likelihoods_y"]), atol=1e-4)
  if architecture != "bmshj2018-factorized":
    np.testing.assert_array_equal(ours["z_hat"], _nhwc(reference["z_hat"]))
    np.testing.assert_allclose(ours["likelihoods_z"],
                               _nhwc(reference["likelihoods_z"]), atol=1e-4)
    # σ's table entry: the smallest CompressAI entry ≥ σ.
    np.testing.assert_array_equal(ours["indexes"],
                                  _nhwc(reference["indexes"]))
  # x̂ (on [0, 1], unclipped): both corners within 1e-4, and every pixel
  # through the per-channel sums.
  x_hat = np.transpose(ours["x_hat"][0], (2, 0, 1))
  corner = reference["x_hat_top_left"].shape[-1]
  np.testing.assert_allclose(x_hat[:, :corner, :corner],
                             reference["x_hat_top_left"], atol=1e-4)
  np.testing.assert_allclose(x_hat[:, -corner:, -corner:],
                             reference["x_hat_bottom_right"], atol=1e-4)
  np.testing.assert_allclose(x_hat.astype(np.float64).sum(axis=(1, 2)),
                             reference["x_hat_sums"],
                             atol=1e-4 * x_hat[0].size)
  # The model's rate (what training and `model(x, training=False)` report),
  # the sum of −log2 of the likelihoods, is CompressAI's estimated bits.
  terms = model(tf.cast(image[None], tf.float32), training=False)
  pixels = image.shape[0] * image.shape[1]
  for name in model.latent_names:
    bits = float(terms[f"bpp_{name}"]) * pixels
    # (Well within 0.5 %: the likelihoods agree to float rounding.)
    assert bits == pytest.approx(float(reference[f"bits_{name}"]), rel=1e-5)
  return ours


@pytest.fixture(scope="module", params=ARCHITECTURES)
def exported(request, tmp_path_factory):
  """(architecture, LoadedModel) of each fixture, exported as training
  exports a model."""
  architecture = request.param
  model = _import(architecture)
  path = str(tmp_path_factory.mktemp("import") / architecture)
  training.export(model, dict(imported_from=dict(library="compressai")), path)
  return architecture, savedmodel.LoadedModel(path)


# -- Against CompressAI's outputs ------------------------------------------------


def test_fixtures_stay_small():
  total = sum(os.path.getsize(os.path.join(FIXTURES, name))
              for name in os.listdir(FIXTURES))
  assert total < 1_000_000


def test_the_scale_table_is_compressais():
  table = np.array(_summary()["scale_table"], np.float32)
  np.testing.assert_array_equal(import_compressai.SCALE_TABLE, table)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_forward_gives_compressais_latents_likelihoods_and_image(architecture):
  check_forward(architecture, _import(architecture), _image(),
                _outputs(architecture))


def test_files_round_trip_and_weigh_what_compressais_do(exported):
  architecture, codec = exported
  reference = _outputs(architecture)
  image = _image()
  bitstream = codec.compress(image)
  assert codec.compress(image).strings == bitstream.strings
  names = ("y", "z")[:len(bitstream.strings)]
  ours = [len(s) for s in bitstream.strings]
  theirs = [int(reference[f"bytes_{n}"]) for n in names]
  # The entropy-coded data: within 0.5 % of CompressAI's compress() in all,
  # and each latent within 0.5 % plus the 8 bytes that CompressAI's rANS
  # coder flushes at the end of every string.
  assert sum(ours) == pytest.approx(sum(theirs), rel=5e-3)
  for a, b in zip(ours, theirs):
    assert abs(a - b) <= 5e-3 * b + 8
  # The file is that plus the container's header, and decodes to the image
  # the model's latents give, CompressAI's x̂ rounded to 8 bits.
  decoded = codec.decompress(container.unpack(container.pack(bitstream)))
  corner = reference["x_hat_top_left"].shape[-1]
  for ours_corner, theirs_corner in (
      (decoded[:corner, :corner], reference["x_hat_top_left"]),
      (decoded[-corner:, -corner:], reference["x_hat_bottom_right"])):
    expected = np.clip(np.transpose(theirs_corner, (1, 2, 0)), 0, 1) * 255
    assert np.abs(ours_corner.astype(np.float64) - expected).max() <= .501
  # The exported estimate codes σ with the table's scales, as the file does:
  # it predicts the file's y to 0.5 %.
  bits = codec.estimate_bits(image)
  assert bits["y"] == pytest.approx(8 * ours[0], rel=5e-3)


def test_an_imported_model_records_its_source_and_bound(exported):
  architecture, codec = exported
  metadata = codec.metadata
  assert metadata["system"] == "bmshj2018"
  assert metadata["config"]["model"] == import_compressai.ARCHITECTURES[
      architecture]
  assert metadata["config"]["coding"] == "compressai"
  assert metadata["config"]["gdn"] == "full"
  assert metadata["config"]["variant"] == "paper"
  assert metadata["imported_from"]["library"] == "compressai"
  assert "decode_bound" in metadata


def test_likelihoods_are_bounded_below_at_1e_9_as_compressais():
  model = _import("mbt2018-mean")
  gaussian = model.gaussian_entropy_model(compression=False)
  bottleneck = model.hyperprior_entropy_model(compression=False)
  bound_bits = -np.log2(1e-9)
  _, bits = bottleneck(tf.fill((1, 1, 1, N), 1e4), training=False)
  assert float(bits[0]) == pytest.approx(N * bound_bits, rel=1e-5)
  _, bits = gaussian(tf.fill((1, 1, 1, M), 1e4), tf.zeros((1, 1, 1, M)),
                     training=False)
  assert float(bits[0]) == pytest.approx(M * bound_bits, rel=1e-5)


# -- Key spellings and malformed state dicts ------------------------------------


def _respelled(state, spelling):
  """The state dict with the density's parameters spelled `_matrix0` (as
  the zoo's files store them, here also under DataParallel's "module."
  prefix), `_matrices.0` or `matrices.0` (as CompressAI 1.2 saves them),
  with all of CompressAI's CDF buffers."""
  out = {}
  for key, value in state.items():
    parts = key.split(".")
    if key.startswith("entropy_bottleneck.") and parts[1] in (
        "matrices", "biases", "factors"):
      singular = {"matrices": "matrix", "biases": "bias",
                  "factors": "factor"}[parts[1]]
      key = {"_matrix0": f"entropy_bottleneck._{singular}{parts[2]}",
             "_matrices.0": f"entropy_bottleneck._{parts[1]}.{parts[2]}",
             "matrices.0": key}[spelling]
    out["module." + key if spelling == "_matrix0" else key] = value
  # The fixtures leave out this table (64 x 3133 integers).
  prefix = "module." if spelling == "_matrix0" else ""
  out[prefix + "gaussian_conditional._quantized_cdf"] = np.zeros((64, 7),
                                                                 np.int32)
  return out


@pytest.mark.parametrize("spelling", ("_matrix0", "_matrices.0",
                                      "matrices.0"))
def test_every_spelling_of_the_density_is_accepted(spelling):
  state = _state("bmshj2018-hyperprior")
  expected = import_compressai.check_state_dict(
      state, "bmshj2018-hyperprior", N, M)
  respelled = _respelled(state, spelling)
  assert {"_matrix0": "module.entropy_bottleneck._matrix0",
          "_matrices.0": "entropy_bottleneck._matrices.0",
          "matrices.0": "entropy_bottleneck.matrices.0"}[spelling] in respelled
  params = import_compressai.check_state_dict(
      respelled, "bmshj2018-hyperprior", N, M)
  assert sorted(params) == sorted(expected)
  for key, value in expected.items():
    np.testing.assert_array_equal(params[key], value)


def test_an_old_spelling_imports_to_the_same_weights():
  a = _import("bmshj2018-hyperprior")
  b = _import("bmshj2018-hyperprior",
              _respelled(_state("bmshj2018-hyperprior"), "_matrix0"))
  for x, y in zip(a.weights, b.weights):
    assert x.name == y.name
    np.testing.assert_array_equal(x.numpy(), y.numpy())


def _broken(change):
  state = dict(_state("bmshj2018-hyperprior"))
  change(state)
  return state


BROKEN = {
    "unknown key": (lambda s: s.update(foo=np.zeros(3, np.float32)),
                    "unexpected key foo"),
    "missing key": (lambda s: s.pop("h_s.2.bias"), "no h_s.2.bias"),
    "wrong shape": (lambda s: s.update({"g_a.0.weight": np.zeros(
        (8, 3, 3, 3), np.float32)}), r"g_a.0.weight has shape \(8, 3, 3, 3\)"),
    "not finite": (lambda s: s["h_a.0.bias"].__setitem__(0, np.nan),
                   "h_a.0.bias holds NaN"),
    "not numeric": (lambda s: s.update({"g_s.0.bias": np.array(
        ["a"] * 8)}), "g_s.0.bias is not numeric"),
    "twice": (lambda s: s.update({"entropy_bottleneck._matrix0": s[
        "entropy_bottleneck.matrices.0"]}), "same parameter"),
    "quantiles": (lambda s: s["entropy_bottleneck.quantiles"].__setitem__(
        (0, 0, 0), 1e6), "lower quantile above"),
    "scale table": (lambda s: s.update({"gaussian_conditional.scale_table":
                                        np.linspace(.1, 200, 64)}),
                    "not CompressAI's default scale table"),
    "pedestal": (lambda s: s.update({"g_a.1.beta_reparam.pedestal":
                                     np.array([1e-3], np.float32)}),
                 "g_a.1.beta_reparam.pedestal is"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_malformed_state_dict_fails_in_one_line_naming_the_problem(case):
  change, message = BROKEN[case]
  with pytest.raises(import_compressai.StateDictError, match=message) as error:
    import_compressai.check_state_dict(_broken(change),
                                       "bmshj2018-hyperprior", N, M)
  assert "\n" not in str(error.value)


def test_another_architectures_state_dict_is_named():
  with pytest.raises(import_compressai.StateDictError,
                     match="looks like a bmshj2018-hyperprior state dict"):
    import_compressai.check_state_dict(_state("bmshj2018-hyperprior"),
                                       "bmshj2018-factorized", N, M)
  with pytest.raises(import_compressai.StateDictError,
                     match="h_s.0.weight has shape .* looks like a "
                           "bmshj2018-hyperprior"):
    import_compressai.check_state_dict(_state("bmshj2018-hyperprior"),
                                       "mbt2018-mean", N, M)
  with pytest.raises(import_compressai.StateDictError,
                     match="no h_a.0.weight .* looks like a "
                           "bmshj2018-factorized"):
    import_compressai.check_state_dict(_state("bmshj2018-factorized"),
                                       "bmshj2018-hyperprior", N, M)
  for architecture in ARCHITECTURES:
    assert import_compressai.guess_architecture(
        _state(architecture)) == architecture


def test_zoo_file_names_give_architecture_metric_and_quality():
  state = _state("bmshj2018-hyperprior")
  name = "bmshj2018-hyperprior-ms-ssim-3-92dd7878.pth.tar"
  assert import_compressai.resolve(name, state) == (
      "bmshj2018-hyperprior", 3, "ms-ssim", 128, 192)
  assert import_compressai.resolve(
      "mbt2018-mean-5-d504e8eb.pth.tar", state) == (
          "mbt2018-mean", 5, "mse", 192, 320)
  with pytest.raises(import_compressai.StateDictError, match="--quality 4"):
    import_compressai.resolve(name, state, quality=4)
  with pytest.raises(import_compressai.StateDictError, match="give --quality"):
    import_compressai.resolve("my.npz", state)
  assert import_compressai.resolve("my.npz", state, quality=7)[:2] == (
      "bmshj2018-hyperprior", 7)
  assert import_compressai.zoo_url("bmshj2018-factorized", "mse", 1) == (
      import_compressai.ZOO_URL +
      "bmshj2018-factorized-prior-1-446d5c7f.pth.tar")


def test_the_zoo_sizes_are_checked(tmp_path):
  path = str(tmp_path / "small.npz")
  np.savez(path, **_state("bmshj2018-factorized"))
  with pytest.raises(import_compressai.StateDictError,
                     match="a model with N=8, M=12 .*, not N=128, M=192 "
                           r"\(give --num_filters and --num_latents"):
    import_compressai.import_file(path, str(tmp_path / "out"),
                                  architecture="bmshj2018-factorized",
                                  quality=2)


# -- The command line ------------------------------------------------------------


def test_the_command_imports_and_the_model_codes_files(tmp_path, capfd,
                                                      run_main, load_once):
  """The command's `main` (as `python -m tfc_repro.import_compressai` runs
  it), then bmshj2018's compress and decompress on the model, in this
  process."""
  from tfc_repro import argutil, bmshj2018
  source = str(tmp_path / "mean.npz")
  np.savez(source, **_state("mbt2018-mean"))
  out = str(tmp_path / "mean")
  capfd.readouterr()
  assert argutil.run(import_compressai.main, "import_compressai", [
      source, out, "--quality", "2", "--num_filters", str(N),
      "--num_latents", str(M)]) == 0
  assert "mbt2018-mean mse quality 2" in capfd.readouterr().out
  metadata = load_once(out).metadata
  assert metadata["imported_from"]["sha256"]
  assert metadata["lmbda"] == 0.0035
  image = os.path.join(FIXTURES, "input.png")
  tfci = str(tmp_path / "x.tfci")
  png = str(tmp_path / "x.png")
  result = run_main(bmshj2018.SYSTEM, "--model_path", out, "compress", image,
                    tfci)
  assert result.returncode == 0, result.stderr
  result = run_main(bmshj2018.SYSTEM, "--model_path", out, "decompress",
                    tfci, png)
  assert result.returncode == 0, result.stderr
  assert data.read_image(png).shape == _image().shape


@pytest.mark.slow
def test_the_command_fails_in_one_line(tmp_path):
  broken = str(tmp_path / "broken.npz")
  state = _broken(BROKEN["wrong shape"][0])
  np.savez(broken, **state)
  cases = [
      ((broken, str(tmp_path / "a"), "--quality", "3", "--num_filters", "8",
        "--num_latents", "12"), "g_a.0.weight has shape"),
      ((str(tmp_path / "missing.npz"), str(tmp_path / "b"), "--quality", "3"),
       "no file"),
      ((broken,), "give the state dict and the model folder"),
  ]
  # An .npz that is not a whole zip (cut short, or not one at all).
  cut = str(tmp_path / "cut.npz")
  with open(broken, "rb") as f, open(cut, "wb") as g:
    g.write(f.read()[:200])
  cases.append(((cut, str(tmp_path / "e"), "--quality", "3"),
                "does not read as .npz"))
  # A file named as one of the zoo's must be that file (its SHA-256 begins
  # with the hash in the name).
  fake = str(tmp_path / "bmshj2018-hyperprior-3-6d87be32.pth.tar")
  with open(fake, "wb") as f:
    f.write(b"not the zoo's file")
  cases.append(((fake, str(tmp_path / "d")), "not the file of CompressAI's "
                "zoo of that name"))
  if importlib.util.find_spec("torch") is None:
    pth = str(tmp_path / "model.pth")
    with open(pth, "wb") as f:
      f.write(b"\x80\x02not a zip")
    cases.append(((pth, str(tmp_path / "c"), "--quality", "3"),
                  "needs PyTorch"))
  for args, message in cases:
    result = run_cli("tfc_repro.import_compressai", *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error: " in lines[0] and message in lines[0], (
        result.stderr)
  result = run_cli("tfc_repro.import_compressai", "--url", "--architecture",
                   "mbt2018-mean", "--quality", "8", "--metric", "ms-ssim")
  assert result.stdout.strip() == (import_compressai.ZOO_URL +
                                   "mbt2018-mean-ms-ssim-8-0cc7b94f.pth.tar")


# -- Against CompressAI itself -----------------------------------------------------


def _compressai_fixtures():
  """scripts/compressai_fixtures.py with CompressAI imported, or the reason
  it cannot be."""
  path = os.path.join(ROOT, "scripts", "compressai_fixtures.py")
  spec = importlib.util.spec_from_file_location("compressai_fixtures", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  try:
    module.import_compressai()
  except ImportError as e:
    return None, f"CompressAI is not importable here ({e})"
  return module, None


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_against_compressai_itself(architecture):
  fixtures, reason = _compressai_fixtures()
  if fixtures is None:
    pytest.skip(reason)
  image = fixtures.make_image((128, 192), seed=5)
  torch = sys.modules["torch"]
  x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.
  for seed in range(100, 200):
    net = fixtures.random_model(architecture, seed, image)
    rounding, scale, least = fixtures.margins(architecture, net, x)
    if (rounding >= fixtures.ROUNDING_MARGIN and
        scale >= fixtures.SCALE_MARGIN and
        least >= fixtures.LEAST_LIKELIHOOD):
      break
  reference = fixtures.outputs(architecture, net, image)
  model = _import(architecture, fixtures.state_arrays(net))
  check_forward(architecture, model, image, reference)
  model.prepare_for_compression()
  bitstream = savedmodel.Codec.from_model(model).compress(image)
  names = ("y", "z")[:len(bitstream.strings)]
  for string, name in zip(bitstream.strings, names):
    theirs = int(reference[f"bytes_{name}"])
    assert abs(len(string) - theirs) <= 5e-3 * theirs + 8
