"""BD-rate and BD-quality on synthetic curves whose answer is known."""

import json
import math

import numpy as np
import pytest

from tfc_repro import argutil, bdrate, results
from conftest import run_cli

RATES = [0.1, 0.2, 0.4, 0.8, 1.6]


def _document(rates, name="curve", psnr=None, ms_ssim=None):
  """A results document with PSNR and MS-SSIM rising with log-rate."""
  logs = np.log2(np.asarray(RATES) / RATES[0])
  psnr = list(25.0 + 4.0 * logs - 0.3 * logs ** 2) if psnr is None else psnr
  if ms_ssim is None:
    ms_ssim_db = 8.0 + 3.0 * logs - 0.2 * logs ** 2
    ms_ssim = list(1.0 - 10.0 ** (-ms_ssim_db / 10.0))
  points = [{"metadata": {"i": i}, "per_image": [{
      "image": "a.png", "bpp": r, "psnr-rgb": p, "ms-ssim-rgb": m}]}
            for i, (r, p, m) in enumerate(zip(rates, psnr, ms_ssim))]
  return results.rd_document(name, "synthetic", points, command="test")


@pytest.mark.parametrize("metric", ["psnr", "ms-ssim"])
def test_curve_against_itself_is_zero(metric):
  anchor = _document(RATES)
  assert bdrate.bd_rate(anchor, anchor, metric) == pytest.approx(0, abs=1e-9)
  assert bdrate.bd_quality(anchor, anchor, metric) == pytest.approx(
      0, abs=1e-9)


@pytest.mark.parametrize("metric", ["psnr", "ms-ssim"])
@pytest.mark.parametrize("method", ["akima", "pchip"])
def test_ten_percent_fewer_bits_is_minus_ten_percent(metric, method):
  anchor = _document(RATES)
  test = _document([0.9 * r for r in RATES])
  assert bdrate.bd_rate(anchor, test, metric, method) == pytest.approx(
      -10.0, abs=0.1)
  assert bdrate.bd_rate(test, anchor, metric, method) == pytest.approx(
      100.0 / 0.9 - 100.0, abs=0.1)
  assert bdrate.bd_quality(anchor, test, metric, method) > 0


def test_fewer_than_four_points_gives_nan_and_point_savings():
  anchor = _document(RATES)
  short = _document([0.9 * r for r in RATES])
  short["results"] = {k: v[1:4] for k, v in short["results"].items()}
  assert math.isnan(bdrate.bd_rate(anchor, short))
  report = bdrate.compare(anchor, short, "psnr")
  assert math.isnan(report["bd_rate"])
  assert report["points"] == (5, 3)
  assert "-10.00%" in " ".join(report["notes"])


def test_rate_saving_at_equal_quality():
  anchor = _document(RATES)
  psnr = anchor["results"]["psnr-rgb"]
  # On the anchor curve: no difference; at 90 % of its rate: -10 %.
  assert bdrate.rate_saving_at_equal_quality(
      anchor, RATES[2], psnr[2]) == pytest.approx(0, abs=1e-9)
  assert bdrate.rate_saving_at_equal_quality(
      anchor, 0.9 * RATES[3], psnr[3]) == pytest.approx(-10, abs=1e-9)
  # Between points the interpolation is monotone in log-rate.
  between = bdrate.rate_saving_at_equal_quality(
      anchor, RATES[2], (psnr[2] + psnr[3]) / 2)
  assert -50 < between < 0
  ms_ssim = anchor["results"]["ms-ssim-rgb"]
  assert bdrate.rate_saving_at_equal_quality(
      anchor, 0.9 * RATES[1], ms_ssim[1], "ms-ssim") == pytest.approx(
          -10, abs=1e-6)
  assert math.isnan(bdrate.rate_saving_at_equal_quality(anchor, 1.0, 60.0))
  assert math.isnan(bdrate.rate_saving_at_equal_quality(anchor, 1.0, 10.0))


def test_curve_cleaning_drops_missing_and_non_monotone_points():
  psnr = [25.0, 27.0, 26.0, math.nan, 33.0]
  document = _document(RATES, psnr=psnr)
  rates, qualities, dropped = bdrate.curve(document, "psnr")
  assert list(rates) == [0.1, 0.2, 1.6]
  assert list(qualities) == [25.0, 27.0, 33.0]
  assert dropped == 2


def test_unsorted_input_gives_the_same_result():
  anchor = _document(RATES)
  test = _document([0.9 * r for r in RATES])
  shuffled = {"results": {k: v[::-1] for k, v in test["results"].items()}}
  assert bdrate.bd_rate(anchor, shuffled) == pytest.approx(
      bdrate.bd_rate(anchor, test))


def test_little_overlap_is_flagged():
  anchor = _document(RATES)
  high = _document(RATES, psnr=[33.0, 35.0, 37.0, 39.0, 41.0])
  report = bdrate.compare(anchor, high, "psnr")
  assert report["overlap_quality"] < 0.5
  assert any(n.startswith("WARNING") for n in report["notes"])
  assert bdrate.compare(anchor, anchor, "psnr")["notes"] == []


def test_markdown_table():
  anchor = _document(RATES)
  table, warnings = bdrate.markdown_table(
      ("anchor", anchor), [("better", _document([0.9 * r for r in RATES]))])
  rows = [l for l in table.splitlines() if l.startswith("| better")]
  assert len(rows) == 1
  cells = [c.strip() for c in rows[0].split("|")]
  assert cells[4] == "-10.00" and cells[6] == "-10.00"
  assert not warnings


@pytest.mark.slow
def test_cli_prints_table_and_rejects_bad_input(tmp_path):
  anchor = tmp_path / "anchor.json"
  test = tmp_path / "test.json"
  anchor.write_text(json.dumps(_document(RATES)))
  test.write_text(json.dumps(_document([0.9 * r for r in RATES])))
  output = tmp_path / "table.md"
  result = run_cli("tfc_repro.bdrate", str(anchor), str(test), "--output",
                   str(output))
  assert result.returncode == 0, result.stderr
  assert "| test | anchor |" in result.stdout and "-10.00" in result.stdout
  assert output.read_text() == result.stdout

  for args, status in (((str(anchor), str(tmp_path / "missing.json")), 1),
                       ((str(anchor),), 2),
                       ((str(anchor), str(test), "--method", "spline"), 2)):
    result = run_cli("tfc_repro.bdrate", *args)
    assert result.returncode == status
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], result.stderr


def test_quality_at_rate_and_the_at_rate_table():
  anchor = _document(RATES)
  # On the anchor's own points: its own quality, for both metrics.
  assert bdrate.quality_at_rate(anchor, 0.4) == pytest.approx(25 + 8 - 1.2)
  assert bdrate.quality_at_rate(anchor, 0.4, "ms-ssim") == pytest.approx(
      8 + 6 - 0.8)
  # Between two points, over log-rate: the curve is 25 + 4 L - 0.3 L² with
  # L = log2(bpp / 0.1), so at L = 2.5 it is 33.125 dB.
  assert bdrate.quality_at_rate(anchor, 0.1 * 2 ** 2.5) == pytest.approx(
      33.125, abs=0.05)
  assert math.isnan(bdrate.quality_at_rate(anchor, 0.05))  # below its range
  assert math.isnan(bdrate.quality_at_rate(anchor, 3.2))   # above it
  # A point 0.5 dB above the anchor at 0.4 bpp, MS-SSIM 1 dB below.
  test = _document([0.4], psnr=[32.3],
                   ms_ssim=[1.0 - 10.0 ** (-12.2 / 10.0)])
  table = bdrate.at_rate_table(("jpeg", anchor), [("model", test)])
  row = [l for l in table.splitlines() if l.startswith("| model")][0]
  cells = [c.strip() for c in row.strip("|").split("|")]
  assert cells[:8] == ["model", "0.4000", "32.30", "31.80", "+0.50", "12.20",
                       "13.20", "-1.00"]
  assert float(cells[8]) < 0 < float(cells[9])  # fewer bits in PSNR only


def test_wrongly_typed_values_are_one_line_naming_the_field(tmp_path,
                                                            capsys):
  anchor = tmp_path / "anchor.json"
  anchor.write_text(json.dumps(_document(RATES)))
  test = tmp_path / "test.json"
  document = _document(RATES)
  document["results"]["psnr-rgb"][2] = "31.5"
  test.write_text(json.dumps(document))
  status = argutil.run(bdrate.main, "bdrate", [str(anchor), str(test)])
  assert status == 1
  assert capsys.readouterr().err == (
      f"bdrate: error: {test}: results.psnr-rgb[2] is the string '31.5', "
      "not a finite number\n")


def test_curves_of_different_image_sets_are_refused(tmp_path, capsys):
  def write(name, dataset):
    document = _document(RATES)
    document["dataset"] = dataset
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(document))
    return str(path)
  kodak = write("kodak", "kodak (24 images)")
  scientific = write("scientific", "scientific (3 images)")
  fewer = write("fewer", "kodak (23 images)")
  tfc = write("tfc", "kodak")  # TFC's files give no number of images
  unknown = write("unknown", None)
  for other, dataset in ((scientific, "scientific (3 images)"),
                         (fewer, "kodak (23 images)")):
    assert argutil.run(bdrate.main, "bdrate", [kodak, other]) == 1
    assert capsys.readouterr().err == (
        f"bdrate: error: {other} is measured on {dataset}, {kodak} on "
        "another image set (kodak, 24 images): curves of different image "
        "sets are not compared\n")
  output = tmp_path / "table.md"
  assert argutil.run(bdrate.main, "bdrate", [kodak, tfc, unknown, "--output",
                                             str(output)]) == 0
  note = (f"the image set of {unknown} is not recorded: compared as if "
          "measured on the same images as the others.")
  assert capsys.readouterr().err == f"warning: {note}\n"
  assert output.read_text().endswith(f"\nNote: {note}\n")


def test_the_output_is_never_an_input(tmp_path, capsys):
  anchor = tmp_path / "anchor.json"
  test = tmp_path / "test.json"
  anchor.write_text(json.dumps(_document(RATES)))
  test.write_text(json.dumps(_document([0.9 * r for r in RATES])))
  before = test.read_text()
  assert argutil.run(bdrate.main, "bdrate", [str(anchor), str(test),
                                             "--output", str(test)]) == 1
  assert capsys.readouterr().err == (
      f"bdrate: error: output file {test} is the input file {test}; give "
      "another output file\n")
  assert test.read_text() == before
