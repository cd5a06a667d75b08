"""hcae: levels and their shapes, flags, priors, the collapse warning.

The coding contract (exact round trips on any size, files within 1 % of the
estimate, one string per level, per-level evaluation columns, files of other
models refused) is checked for hcae with every system in test_contract.py.
"""

import dataclasses
import os
import shutil
import types

import numpy as np
import pytest
import tensorflow as tf

from tfc_repro import cli, container, hcae, savedmodel, training
from conftest import smooth_image, train_args


def parse(argv):
  return train_args(hcae.SYSTEM, ["--model_path", "m", "train", *argv])


@pytest.mark.parametrize("levels", [2, 3, 6])
def test_each_level_halves_the_resolution(levels):
  model = hcae.HierarchicalModel(
      num_filters=8, latent_channels=hcae.default_latent_channels(levels))
  assert model.stride == 2 ** levels
  assert model.latent_names == tuple(f"z{k}" for k in range(levels, 0, -1))
  x = tf.zeros((2, 2 ** levels * 2, 2 ** levels * 3, 3))
  features, mean_top = model.bottom_up_pass(x)
  assert [f.shape[1:] for f in features] == [
      (2 ** (levels - k) * 2, 2 ** (levels - k) * 3, 8)
      for k in range(1, levels)]
  assert mean_top.shape[1:] == (2, 3, 4 * 2 ** (levels - 1))
  terms = model(x, training=True)
  assert set(terms) >= {f"bpp_z{k}" for k in range(1, levels + 1)}
  np.testing.assert_allclose(
      float(terms["bpp"]),
      sum(float(terms[f"bpp_z{k}"]) for k in range(1, levels + 1)),
      rtol=1e-5)
  shapes = model.level_shapes(tf.constant([17, 100]))
  top = -(-17 // 2 ** levels) * 2 ** levels, -(-100 // 2 ** levels) * 2 ** levels
  assert [tuple(s.numpy()) for s in shapes] == [
      (top[0] // 2 ** k, top[1] // 2 ** k) for k in range(levels, 0, -1)]


def test_flags_resolve_to_the_reports_settings():
  args = parse([])
  assert args.levels == 6 and args.latent_channels == (4, 8, 16, 32, 64, 128)
  assert args.lmbda == hcae.REPORT_LAMBDAS[hcae.DEFAULT_QUALITY - 1]
  assert args.num_filters == 32 and args.prior == "meanscale"
  assert parse(["--profile", "paper"]).num_filters == 192
  assert parse(["--quality", "9"]).lmbda == 8.02
  assert parse(["--quality", "1", "--metric", "ms-ssim",
                "--patchsize", "256"]).lmbda == pytest.approx(0.0006 * 1300)
  assert parse(["--levels", "3"]).latent_channels == (4, 8, 16)
  assert parse(["--latent_channels", "2,5"]).levels == 2
  with pytest.raises(ValueError, match="lists 2 levels but --levels is 3"):
    parse(["--latent_channels", "2,5", "--levels", "3"])
  with pytest.raises(ValueError, match="at least 2"):
    parse(["--levels", "1"])
  with pytest.raises(ValueError, match="positive"):
    parse(["--latent_channels", "4,0"])


def test_scale_prior_has_zero_mean_and_meanscale_does_not():
  tf.keras.utils.set_random_seed(2)
  t = tf.random.normal((1, 4, 4, 8))
  scale = hcae.LatentBlock(8, 3, prior="scale")
  det, mean, index = scale.prior(t)
  assert not np.any(mean.numpy()) and det.shape == mean.shape == index.shape
  assert scale.prior_net.filters == 6
  meanscale = hcae.LatentBlock(8, 3, prior="meanscale")
  _, mean, index = meanscale.prior(t)
  assert np.any(mean.numpy()) and meanscale.prior_net.filters == 9
  # σ_p = 1 for a zero scale output, on the table of 64 scales.
  assert np.all((index.numpy() >= 0) & (index.numpy() <= 63))


def test_frozen_model_computes_what_it_trained():
  tf.keras.utils.set_random_seed(4)
  model = hcae.HierarchicalModel(num_filters=8, latent_channels=(2, 3, 4))
  model.prepare_for_compression()
  image = tf.constant(smooth_image(40, 24, seed=1))
  before = model.reconstruct(image).numpy()
  replaced = model.freeze_transforms()
  # Every convolution of every block, list and level is frozen.
  assert len(replaced) == 3 * 3 + 2 * 3 + 1 + 2 * 4
  assert model.freeze_transforms() == []
  np.testing.assert_array_equal(model.reconstruct(image).numpy(), before)


def test_files_of_other_levels_or_channels_are_refused():
  tf.keras.utils.set_random_seed(5)
  codecs = {}
  for channels in ((2, 3, 4), (2, 3), (2, 5, 4)):
    model = hcae.HierarchicalModel(num_filters=8, latent_channels=channels)
    model.prepare_for_compression()
    codecs[channels] = savedmodel.Codec.from_model(model)
  bitstream = codecs[(2, 3, 4)].compress(smooth_image(20, 30))
  for other in ((2, 3), (2, 5, 4)):
    with pytest.raises(container.ContainerError,
                       match="another configuration"):
      codecs[other].decompress(bitstream)
  # Shapes that do not follow from the image shape: refused, not decoded.
  bitstream.latent_shapes = [(s[0] + 1, s[1]) for s in bitstream.latent_shapes]
  with pytest.raises(container.ContainerError,
                     match="does not match the image of 20x30"):
    codecs[(2, 3, 4)].decompress(bitstream)


def test_images_above_its_own_limit_are_refused_with_the_reason(capsys):
  """hcae transforms whole images, so its codec has a lower default image
  size limit than the tiled systems, recorded with the model and shown by
  --help; a larger image is refused before any transform runs."""
  tf.keras.utils.set_random_seed(5)
  model = hcae.HierarchicalModel(num_filters=8, latent_channels=(2, 3))
  model.prepare_for_compression()
  codec = savedmodel.Codec.from_model(model)
  assert codec.max_pixels == hcae.HierarchicalModel.max_pixels == 1 << 21
  assert codec.max_pixels < savedmodel.DEFAULT_MAX_PIXELS
  side = 1449  # 1449² = 2,099,601 pixels > 2^21
  with pytest.raises(ValueError, match="transforms whole images"):
    codec.compress(np.zeros((side, side, 3), np.uint8))
  # An explicit limit overrides the model's.
  assert savedmodel.Codec(codec._module, codec.metadata,
                          max_pixels=1 << 22).max_pixels == 1 << 22
  with pytest.raises(SystemExit):
    cli.build_parser(hcae.SYSTEM).parse_args(["compress", "--help"])
  assert "(default: 2097152, i.e. 2^21)" in " ".join(
      capsys.readouterr().out.split())


class _ZeroLevelModel(hcae.HierarchicalModel):
  """hcae whose bottom level is forced to carry no rate."""

  def rate_distortion(self, x, x_hat, **bits):
    bits["z1"] = 0. * bits["z1"]
    return super().rate_distortion(x, x_hat, **bits)


def test_a_collapsed_level_is_reported(train_dir, tmp_path, capsys):
  """(With a validation set: its rates are the ones checked.)"""
  args = train_args(hcae.SYSTEM, [
      "--model_path", str(tmp_path / "m"), "train", "--train_glob",
      train_dir, "--num_filters", "8", "--levels", "3", "--patchsize", "32",
      "--batchsize", "2", "--steps", "4", "--steps_per_epoch", "2",
      "--seed", "1"])
  system = dataclasses.replace(hcae.SYSTEM, build_model=lambda a: (
      _ZeroLevelModel(num_filters=8, latent_channels=a.latent_channels)))
  _, info = training.build_and_fit(system, args)
  assert len(info["rate_share_warnings"]) == 1
  assert info["rate_share_warnings"][0].startswith("z1: 0.00 %")
  assert "latent z1" in capsys.readouterr().err
  # A resumed run reports the warnings of the steps it resumed after.
  # (The workers of a multi-worker run write the file each: one per level.)
  path = str(tmp_path / "m.train" / "rate_share_warnings.txt")
  with open(path) as f:
    assert f.read().splitlines() == info["rate_share_warnings"]
  with open(path, "a") as f:
    f.write(info["rate_share_warnings"][0] + "\n")
  resumed = training.RateShareMonitor(["z3", "z2", "z1"],
                                      hcae.MIN_RATE_SHARE, 4, path)
  assert resumed.warnings == info["rate_share_warnings"]
  # A new run in that folder does not inherit them.
  shutil.rmtree(str(tmp_path / "m.train" / "backup"))
  training.check_resumed_run(str(tmp_path / "m.train"), _ZeroLevelModel(
      num_filters=8, latent_channels=args.latent_channels), args)
  assert not os.path.exists(path)
  # Levels above the share are not reported, nor anything in the first
  # fifth of the steps.
  monitor = training.RateShareMonitor(["z2", "z1"], hcae.MIN_RATE_SHARE, 10)
  monitor.model = types.SimpleNamespace(optimizer=types.SimpleNamespace(
      iterations=tf.Variable(1)))
  monitor.on_epoch_end(0, {"val_bpp": 1., "val_bpp_z2": 0., "val_bpp_z1": 1.})
  monitor.model.optimizer.iterations.assign(10)
  monitor.on_epoch_end(1, {"val_bpp": 1., "val_bpp_z2": 0.1,
                           "val_bpp_z1": 0.9, "bpp_z2": 0.})
  assert monitor.warnings == []
