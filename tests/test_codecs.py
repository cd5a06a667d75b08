"""Classical codecs: round trips, rate accounting, the results document, CLI."""

import json
import math
import os

import numpy as np
import pytest

from tfc_repro import codecs, data, metrics
from conftest import run_cli, smooth_image

HEIGHT, WIDTH = 48, 64


@pytest.fixture(scope="module")
def image():
  return smooth_image(HEIGHT, WIDTH, seed=3)


# Settings that reconstruct a tiny smooth image well but not losslessly.
GOOD = {"jpeg": 75, "jpeg444": 75, "webp": 75, "jpeg2000": 4.0, "avif": 70,
        "hevc444": 28, "hevc420": 28, "jpegxl": 2.0}


def test_every_codec_has_a_test_setting():
  assert set(GOOD) == set(codecs.CODECS)


@pytest.mark.parametrize("name", sorted(codecs.CODECS))
def test_round_trip_and_bpp(name, image):
  bitstream, reconstruction = codecs.encode_decode(name, image, GOOD[name])
  assert isinstance(bitstream, bytes) and len(bitstream) > 0
  assert reconstruction.dtype == np.uint8
  assert reconstruction.shape == image.shape
  # A mid-range setting reconstructs a smooth image well, but not losslessly.
  assert 24.0 < metrics.psnr(image, reconstruction) < math.inf

  row = codecs.measure(name, image, GOOD[name], "tiny.png")
  assert row["bpp"] == pytest.approx(8.0 * row["num_bytes"] / (HEIGHT * WIDTH))
  assert row["encoding_time"] > 0 and row["decoding_time"] > 0
  assert math.isnan(row["ms-ssim-rgb"])  # image smaller than 161 pixels


@pytest.mark.parametrize("name", sorted(codecs.CODECS))
def test_quality_controls_the_rate(name, image):
  codec = codecs.CODECS[name]
  low, high = codec.qualities[1], codec.qualities[-2]
  small, small_rec = codecs.encode_decode(name, image, low)
  large, large_rec = codecs.encode_decode(name, image, high)
  # The default sweep is ordered by increasing rate.
  assert len(small) < len(large)
  assert metrics.psnr(image, small_rec) < metrics.psnr(image, large_rec)


def test_odd_sizes_round_trip():
  odd = smooth_image(37, 53, seed=1)
  for name in ("jpeg", "hevc420", "avif", "jpegxl"):
    _, reconstruction = codecs.encode_decode(name, odd, GOOD[name])
    assert reconstruction.shape == odd.shape


def test_jpeg2000_quality_is_the_target_rate():
  image = smooth_image(96, 128, seed=2)
  bitstream, _ = codecs.encode_decode("jpeg2000", image, 1.0)
  assert metrics.bits_per_pixel(len(bitstream), 96, 128) == pytest.approx(
      1.0, rel=0.15)


def test_jpegxl_rate_is_the_encoded_codestream(image):
  codec = codecs.CODECS["jpegxl"]
  bitstream = codec.encode(image, 2.0)
  assert bitstream[:2] == b"\xff\x0a"  # a bare JPEG XL codestream
  decoded = codec.decode(bitstream)
  assert decoded.shape == image.shape and decoded.dtype == np.uint8
  assert 24.0 < metrics.psnr(image, decoded) < math.inf
  row = codecs.measure("jpegxl", image, 2.0, "tiny.png")
  assert row["num_bytes"] == len(bitstream)  # the encoder is deterministic
  assert row["bpp"] == 8.0 * len(bitstream) / (HEIGHT * WIDTH)
  assert row["psnr-rgb"] == metrics.psnr(image, decoded)
  assert "libjxl" in codec.library() and "effort 7" in codec.library()
  with pytest.raises(ValueError, match="out of range"):
    codecs.encode_decode("jpegxl", image, 30)


def test_encode_at_bpp_bisects_a_continuous_quality():
  image = smooth_image(96, 128, seed=4)
  distance, bitstream, reconstruction = codecs.encode_at_bpp(
      "jpegxl", image, 1.0)
  assert 0.1 < distance < 25 and reconstruction.shape == image.shape
  assert metrics.bits_per_pixel(len(bitstream), 96, 128) == pytest.approx(
      1.0, rel=0.05)


def test_chroma_subsampling_differs():
  image = smooth_image(HEIGHT, WIDTH, seed=5)
  full, _ = codecs.encode_decode("jpeg444", image, 90)
  sub, _ = codecs.encode_decode("jpeg", image, 90)
  assert len(sub) < len(full)


def test_invalid_quality_and_codec(image):
  with pytest.raises(ValueError, match="out of range"):
    codecs.encode_decode("jpeg", image, 101)
  with pytest.raises(ValueError, match="integer"):
    codecs.encode_decode("hevc444", image, 30.5)
  with pytest.raises(ValueError, match="unknown codec"):
    codecs.encode_decode("gif", image, 10)
  with pytest.raises(ValueError, match="RGB uint8"):
    codecs.encode_decode("jpeg", image.astype(np.float32), 50)


def test_evaluate_codec_document(tmp_path):
  paths = []
  for i in range(2):
    path = str(tmp_path / f"im{i}.png")
    data.write_png(path, smooth_image(HEIGHT, WIDTH, seed=10 + i))
    paths.append(path)
  document = codecs.evaluate_codec("webp", paths, [20, 80], dataset="tiny")
  assert document["name"] == "webp"
  assert len(document["points"]) == 2
  assert document["results"]["bpp"][0] < document["results"]["bpp"][1]
  for point, quality in zip(document["points"], [20, 80]):
    assert point["metadata"]["quality"] == quality
    assert [r["image"] for r in point["per_image"]] == ["im0.png", "im1.png"]
    for row in point["per_image"]:
      assert row["bpp"] == pytest.approx(8 * row["num_bytes"] / (HEIGHT * WIDTH))
  mean = np.mean([r["bpp"] for r in document["points"][0]["per_image"]])
  assert document["results"]["bpp"][0] == pytest.approx(mean)
  assert document["results"]["ms-ssim-rgb"] == [None, None]  # NaN -> null
  # The document says which images its MS-SSIM means leave out.
  for point in document["points"]:
    assert point["left_out_of_means"] == {
        "ms-ssim-rgb": {"im0.png": "undefined", "im1.png": "undefined"}}


def test_encode_at_bpp_finds_the_closest_quality():
  image = smooth_image(96, 128, seed=4)
  target = 1.0
  quality, bitstream, reconstruction = codecs.encode_at_bpp(
      "jpeg", image, target)
  achieved = metrics.bits_per_pixel(len(bitstream), 96, 128)
  assert reconstruction.shape == image.shape
  for other in (quality - 1, quality + 1):
    if 1 <= other <= 100:
      bits, _ = codecs.encode_decode("jpeg", image, other)
      assert abs(achieved - target) <= abs(
          metrics.bits_per_pixel(len(bits), 96, 128) - target)


def test_parse_qualities():
  assert codecs.parse_qualities("1, 5,10") == [1, 5, 10]
  assert codecs.parse_qualities("0.1,2") == [0.1, 2]
  with pytest.raises(ValueError):
    codecs.parse_qualities("a,b")


@pytest.mark.slow
def test_cli_writes_results(tmp_path):
  directory = tmp_path / "images"
  directory.mkdir()
  data.write_png(str(directory / "a.png"), smooth_image(HEIGHT, WIDTH, 7))
  output = tmp_path / "out" / "jpeg.json"
  result = run_cli("tfc_repro.codecs", "--codec", "jpeg", "--images",
                   str(directory), "--output", str(output), "--qualities",
                   "10,90", "--quiet")
  assert result.returncode == 0, result.stderr
  document = json.loads(output.read_text())
  assert document["command"].startswith("python -m tfc_repro.codecs")
  assert [p["metadata"]["quality"] for p in document["points"]] == [10, 90]


@pytest.mark.slow
@pytest.mark.parametrize("args,status", [
    (("--codec", "nope", "--output", "x.json"), 2),
    (("--codec", "jpeg"), 2),
    (("--codec", "jpeg", "--images", "/nonexistent/*.png", "--output",
      "x.json"), 1),
    (("--codec", "jpeg", "--images", ".", "--output", "x.json",
      "--qualities", "200"), 1),
])
def test_cli_bad_input_is_one_line(tmp_path, args, status):
  result = run_cli("tfc_repro.codecs", *args, cwd=str(tmp_path))
  assert result.returncode == status
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and "error" in lines[0], result.stderr
  assert "Traceback" not in result.stderr
  assert not os.path.exists(tmp_path / "x.json")
