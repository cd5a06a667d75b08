"""The published-curve loader on the copies kept in results/published/."""

import json
import math
import os

import pytest

from tfc_repro import argutil, published
from conftest import ROOT, run_cli

PUBLISHED = os.path.join(ROOT, "results", "published")
TFC_PSNR = os.path.join(PUBLISHED, "tfc", "kodak", "PSNR_sRGB_RGB",
                        "balle-2018-iclr-opt-mse.txt")
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "published")


def test_tfc_text_file_with_merged_ms_ssim():
  document = published.load(TFC_PSNR)
  assert document["published"] is True
  assert document["source"] == TFC_PSNR
  assert document["name"] == "Ballé 2018 (ICLR, opt. MSE)"
  assert document["dataset"] == "kodak"
  results = document["results"]
  assert len(results["bpp"]) == len(results["psnr-rgb"]) == 8
  # The published curve's first and last points.
  assert results["bpp"][0] == pytest.approx(0.115239)
  assert results["psnr-rgb"][0] == pytest.approx(27.106351)
  assert results["ms-ssim-rgb"][-1] == pytest.approx(0.995267)
  assert len(document["sources"]) == 2  # the MS-SSIM companion was merged


def test_tfc_text_file_without_merge():
  document = published.load_tfc_text(TFC_PSNR, merge=False)
  assert set(document["results"]) == {"bpp", "psnr-rgb"}


def test_compressai_json():
  path = os.path.join(PUBLISHED, "compressai",
                      "compressai-bmshj2018-hyperprior_mse_cuda.json")
  document = published.load(path)
  assert document["published"] is True and document["source"] == path
  results = document["results"]
  assert len(results["bpp"]) == 8
  # CompressAI's bmshj2018-hyperprior q1: 0.131 bpp / 27.58 dB.
  assert results["bpp"][0] == pytest.approx(0.131, abs=5e-4)
  assert results["psnr-rgb"][0] == pytest.approx(27.58, abs=5e-3)
  assert 0 < results["ms-ssim-rgb"][0] < 1


def test_lee2019_transcribed_table():
  mse = published.load_curve("lee2019-mse", PUBLISHED)
  assert mse["results"]["bpp"] == [0.1005, 0.1453, 0.2025, 0.2982, 0.4340,
                                   0.6900, 0.9943, 1.2711, 1.5926]
  assert mse["results"]["psnr-rgb"][-1] == 40.378
  assert mse["label"].endswith("(published)")
  ms_ssim = published.load_curve("lee2019-ms-ssim", PUBLISHED)
  assert ms_ssim["results"]["lambda"][4] == 0.1
  assert ms_ssim["results"]["ms-ssim-rgb"][0] == 0.9583


def test_vtm_curves():
  """lossy-vae's flat file (lists at the top level, `psnr` = RGB PSNR) and
  CompressAI's, as their files hold them."""
  vtm18 = published.load_curve("vtm18", PUBLISHED)
  results = vtm18["results"]
  assert len(results["bpp"]) == len(results["psnr-rgb"]) == 36
  assert results["psnr-rgb"] == results["psnr"]
  assert results["bpp"][0] == pytest.approx(2.821609, abs=1e-6)
  assert results["psnr-rgb"][0] == pytest.approx(44.568655, abs=1e-6)
  assert vtm18["label"] == "VTM 18.0 intra 4:4:4 (lossy-vae) (published)"
  compressai = published.load_curve("vtm-compressai", PUBLISHED)
  results = compressai["results"]
  assert len(results["bpp"]) == len(results["ms-ssim-rgb"]) == 8
  assert results["bpp"][0] == pytest.approx(0.048245, abs=1e-6)
  assert results["psnr-rgb"][0] == pytest.approx(26.144845, abs=1e-6)
  assert results["ms-ssim-rgb"][0] == pytest.approx(0.860608, abs=1e-6)


def test_every_curve_the_figures_use_loads():
  for key in published.CURVES:
    document = published.load_curve(key, PUBLISHED)
    assert len(document["results"]["bpp"]) >= 4, key
    assert "psnr-rgb" in document["results"], key


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="shared/ not present")
def test_copies_are_unchanged_bytes():
  for relative in published.files_to_copy():
    with open(os.path.join(PUBLISHED, relative), "rb") as copy, \
        open(os.path.join(SHARED, relative), "rb") as original:
      assert copy.read() == original.read(), relative


def test_ms_ssim_db_is_converted(tmp_path):
  path = tmp_path / "paper.json"
  path.write_text(json.dumps({"name": "x", "results": {
      "bpp": [0.1, 0.2], "ms-ssim-db-rgb": [10.0, 20.0]}}))
  document = published.load(str(path))
  assert document["results"]["ms-ssim-rgb"] == pytest.approx([0.9, 0.99])


def test_bad_files(tmp_path):
  text = tmp_path / "broken.txt"
  text.write_text("# Aggregate rate-distortion data for \"X\" on kodak.\n"
                  "0.1; 30\n")
  with pytest.raises(published.PublishedError, match="expected 'bpp, value'"):
    published.load(str(text))
  not_rd = tmp_path / "other.json"
  not_rd.write_text(json.dumps({"results": {"psnr": [1]}}))
  with pytest.raises(published.PublishedError, match="no results.bpp"):
    published.load(str(not_rd))
  with pytest.raises(published.PublishedError, match="no such file"):
    published.load(str(tmp_path / "absent.json"))
  with pytest.raises(published.PublishedError, match="unknown"):
    published.load_curve("nope")


def test_nulls_become_nan(tmp_path):
  path = tmp_path / "ours.json"
  path.write_text(json.dumps({"name": "x", "results": {
      "bpp": [0.1, 0.2], "psnr-rgb": [30.0, None]}}))
  assert math.isnan(published.load(str(path))["results"]["psnr-rgb"][1])


@pytest.mark.slow
def test_cli(tmp_path):
  result = run_cli("tfc_repro.published", TFC_PSNR)
  assert result.returncode == 0, result.stderr
  assert "8 points" in result.stdout and "ms-ssim-rgb" in result.stdout
  result = run_cli("tfc_repro.published", str(tmp_path / "absent.txt"))
  assert result.returncode == 1
  assert len(result.stderr.strip().splitlines()) == 1


def test_wrongly_typed_values_are_one_line_naming_the_field(tmp_path,
                                                            capsys):
  path = tmp_path / "paper.json"
  path.write_text(json.dumps({"name": "x", "results": {
      "bpp": [0.1, "0.2"], "psnr-rgb": [30.0, 31.0]}}))
  status = argutil.run(published.main, "published", [str(path)])
  assert status == 1
  assert capsys.readouterr().err == (
      f"published: error: {path}: results.bpp[1] is the string '0.2', not a "
      "finite number\n")
  # lossy-vae's flat files are checked the same way.
  path.write_text(json.dumps({"bpp": [0.1, 0.2], "psnr": [30.0]}))
  with pytest.raises(published.PublishedError,
                     match="results.psnr has 1 values but results.bpp has 2"):
    published.load(str(path))
  # A TFC text file that is not UTF-8 is named.
  text = tmp_path / "curve.txt"
  text.write_bytes(b"# \xff\n0.1, 30\n")
  with pytest.raises(published.PublishedError, match=f"{text}: not UTF-8"):
    published.load(str(text))
