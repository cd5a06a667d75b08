"""The CPU reproduction's report and figure declarations, on tiny curves."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tfc_repro import argutil, bdrate, curves, figures, paper_figures, report
from tfc_repro import results
from conftest import ROOT

PUBLISHED = os.path.join(ROOT, "results", "published")
RATES = [0.1, 0.2, 0.4, 0.8]


def _write(directory, name, rate_scale=1.0, title=None, steps=(6000, 2000),
           cpu_seconds=900.0):
  """A four-point curve: PSNR and MS-SSIM rising with log-rate, every rate
  times `rate_scale` (so its BD-rate against a curve of scale s is
  rate_scale / s - 1); the highest rate trained from scratch, the others
  fine-tuned from it."""
  points = []
  for i, rate in enumerate(reversed(RATES)):
    log = np.log2(rate / RATES[0])
    row = {"image": "kodim01.png", "bpp": rate * rate_scale,
           "psnr-rgb": 26.0 + 3.5 * log,
           "ms-ssim-rgb": 1 - 10 ** (-(9.0 + 2.5 * log) / 10)}
    metadata = {"lmbda": rate / 10, "steps": steps[min(i, 1)],
                "train_cpu_seconds": cpu_seconds,
                "zoo_name": f"cpu:{name}-{4 - i}"}
    if i:
      metadata["init_from"] = {"path": f"cpu:{name}-4", "steps": steps[0]}
    points.append({"metadata": metadata, "per_image": [row]})
  path = os.path.join(directory, f"{name}.json")
  results.write_rd_json(path, title or name, "fixture", points,
                        command="test")
  return path


# The rate scale of each synthetic curve: smaller = fewer bits at equal
# quality. lee2019 is left out (not trained yet).
SCALES = {
    "bls2017": 1.0,
    "bmshj2018-factorized": 0.9,   # 10 % better than bls2017: holds
    "bmshj2018-hyperprior": 1.0,   # worse than the factorized: does not hold
    "bmshj2018-meanscale": 0.95,
    "hcae": 1.3,                   # worse than bls2017 and WebP
    "regularized-bmshj2018-meanscale": 0.99,          # -1 %
    "regularized-bmshj2018-meanscale-plain-a": 1.0,
    "regularized-bmshj2018-meanscale-plain-b": 1.02,  # floor 2 %
    "regularized-lee2019": 0.9,                       # -10 %
    "regularized-lee2019-plain-a": 1.0,
    "regularized-lee2019-plain-b": 1.02,              # floor 2 %
}
CODECS = {"jpeg": 2.0, "webp": 1.2, "jpegxl": 1.05, "hevc444": 0.8}


@pytest.fixture()
def results_dir(tmp_path):
  kodak = tmp_path / "results" / "kodak"
  (kodak / "cpu").mkdir(parents=True)
  for name, scale in CODECS.items():
    _write(str(kodak), name, scale)
  for name, scale in SCALES.items():
    _write(str(kodak / "cpu"), name, scale)
  return str(tmp_path / "results")


def _sources(results_dir):
  return curves.Sources(results_dir, PUBLISHED)


def test_orderings_holds_does_not_hold_and_within_noise(results_dir):
  rows = {(r["test"], r["anchor"]): r
          for r in report.ordering_rows(_sources(results_dir))}
  factorized = rows[("bmshj2018-factorized", "bls2017")]
  assert factorized["bd"] == pytest.approx(-10.0, abs=0.01)
  assert factorized["verdict"] == "holds"
  assert "no noise floor measured" in factorized["notes"]
  hyperprior = rows[("bmshj2018-hyperprior", "bmshj2018-factorized")]
  assert hyperprior["bd"] == pytest.approx(100 / 0.9 - 100, abs=0.01)
  assert hyperprior["verdict"] == "does not hold"
  assert rows[("hcae", "bls2017")]["verdict"] == "does not hold"
  meanscale = rows[("regularized-bmshj2018-meanscale",
                    "regularized-bmshj2018-meanscale-plain-a")]
  assert meanscale["bd"] == pytest.approx(-1.0, abs=0.01)
  assert meanscale["floor"] == pytest.approx(2.0, abs=0.01)
  assert meanscale["verdict"] == "within noise"
  lee = rows[("regularized-lee2019", "regularized-lee2019-plain-a")]
  assert lee["floor"] == pytest.approx(2.0, abs=0.01)
  assert lee["verdict"] == "holds"  # -10 %, beyond the 2 % floor
  missing = rows[("lee2019", "bmshj2018-meanscale")]
  assert missing["verdict"] == "not trained yet (lee2019)"
  assert np.isnan(missing["bd"])


def test_goals(results_dir):
  goals, missing = report.goal_rows(_sources(results_dir))
  assert missing == ["lee2019"]
  status = {goal.split(" (")[0]: s for goal, s, _ in goals}
  # Every present system is at least 35 % under JPEG; lee2019 is missing.
  assert status["every system beats JPEG 4:2:0 by ≥ 25 %"] == (
      "not decided yet (lee2019)")
  # hcae needs 1.3 / 1.2 - 1 = +8 % against WebP.
  assert status["the hyperprior, mean-scale, lee2019 and hcae beat WebP"] == (
      "not met")
  assert status["the best system beats JPEG XL"] == "met"  # 0.9 / 1.05
  assert status["stretch: the best system within 10 % of HEVC 4:4:4"] == (
      "not met so far")  # 0.9 / 0.8 = +12.5 %, lee2019 still to come


def test_the_report(results_dir, tmp_path):
  sources = _sources(results_dir)
  [path] = report.write_cpu_report(sources, str(tmp_path / "out"))
  with open(path, encoding="utf-8") as f:
    text = f.read()
  assert "`python -m tfc_repro.report cpu`" in text.splitlines()[2]
  lines = text.splitlines()
  assert "| lee2019 | not trained yet | | | | |" in lines
  [bls] = [l for l in lines if l.startswith("| bls2017 | bls2017 |")]
  cells = [c.strip() for c in bls.split("|")]
  assert cells[3:7] == ["4", "0.01, 0.02, 0.04, 0.08",
                        "6000 from scratch + 3 × 2000 fine-tuned", "1.00"]
  # 11 curves of four points of 900 CPU seconds.
  assert "All curves found: 11.00 CPU-hours of training." in lines
  # BD-rates against the codecs: 1.0 / 2.0, 1.2, 1.05, 0.8 - 1.
  psnr = lines.index(next(l for l in lines if l.startswith("## BD-rate (PSNR")))
  [row] = [l for l in lines[psnr:] if l.startswith("| bls2017 |")][:1]
  cells = [c.strip() for c in row.split("|")]
  assert cells[2:6] == ["-50.00", "-16.67", "-4.76", "+25.00"]
  assert cells[6] == "balle2017-mse" and cells[7] != "n/a"
  [hcae] = [l for l in lines[psnr:] if l.startswith("| hcae |")][:1]
  assert [c.strip() for c in hcae.split("|")][6:8] == ["none", "—"]
  [ordering] = [l for l in lines if l.startswith(
      "| regularized-bmshj2018-meanscale < ")]
  cells = [c.strip() for c in ordering.split("|")]
  assert cells[2:5] == ["-1.00", "2.00", "within noise"]
  assert cells[5] == "-0.88"  # the regularizer paper's own value


def test_a_curve_in_training_shows_its_points_so_far(results_dir, tmp_path):
  """A curve whose models are still training shows the points evaluated so
  far (results/kodak/cpu/points/NAME-qQ.json) and their CPU time."""
  cpu = os.path.join(results_dir, "kodak", "cpu")
  os.remove(os.path.join(cpu, "regularized-lee2019-plain-b.json"))
  whole = os.path.join(tmp_path, "whole")
  os.makedirs(whole)
  document = results.read_rd_json(
      _write(whole, "regularized-lee2019-plain-b", 1.02))
  for point in document["points"][:2]:
    q = point["metadata"]["zoo_name"][-1]
    results.write_rd_json(
        os.path.join(cpu, "points", f"regularized-lee2019-plain-b-q{q}.json"),
        "one point", "fixture", [point], command="test")
  lines = report.cpu_report(_sources(results_dir)).splitlines()
  [row] = [l for l in lines if l.startswith("| regularized-lee2019-plain-b |")
           ][:1]
  cells = [c.strip() for c in row.split("|")]
  assert cells[2].startswith("in training: 2 of 4 points")
  assert cells[3:7] == ["2", "0.04, 0.08", "6000 from scratch + 2000 fine-tuned",
                        "0.50"]
  assert ("All curves found: 10.00 CPU-hours of training, and 0.50 in the "
          "points of curves still in training.") in lines
  # A point that cannot be read is an error naming it (never left out).
  broken = os.path.join(cpu, "points", "regularized-lee2019-plain-b-q3.json")
  with open(broken, "w") as f:
    f.write("{not json")
  with pytest.raises(results.DocumentError,
                     match=re.escape(broken) + ": not valid JSON"):
    report.cpu_report(_sources(results_dir))


def test_a_report_without_any_curve(tmp_path):
  (tmp_path / "results").mkdir()
  text = report.cpu_report(_sources(str(tmp_path / "results")))
  for name, _ in report.CPU_CURVES:
    assert f"| {name} | not trained yet |" in text
  assert "| missing |" not in text  # no curve, so no codec cell either


def test_training_summary(tmp_path):
  document = results.read_rd_json(_write(str(tmp_path), "x",
                                         cpu_seconds=1800.0))
  steps, hours, lambdas = report.training_summary(document)
  assert steps == "6000 from scratch + 3 × 2000 fine-tuned"
  assert hours == "2.00"  # four points of 1800 CPU seconds
  assert lambdas == "0.01, 0.02, 0.04, 0.08"


def test_the_legend_says_what_each_curve_is(tmp_path, monkeypatch):
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  close, kept = pyplot.close, []
  monkeypatch.setattr(pyplot, "close", kept.append)
  cpu = tmp_path / "results" / "kodak" / "cpu"
  cpu.mkdir(parents=True)
  _write(str(cpu), "bls2017", title="bls2017 (CPU, 6000 + 2000 steps)")
  figures.draw("bls2017", str(tmp_path / "results"), str(tmp_path / "f"),
               PUBLISHED)
  labels = [line.get_label() for line in kept[0].axes[0].get_lines()]
  for fig in kept:
    close(fig)
  assert "bls2017 (CPU, 6000 + 2000 steps)" in labels
  assert "Ballé 2017 (MSE) (published)" in labels


def test_a_declaration_of_unknown_curves_still_draws(tmp_path):
  (tmp_path / "results").mkdir()
  sources = curves.Sources(str(tmp_path / "results"), PUBLISHED)
  figure = paper_figures.Figure(
      "unknown", "an unknown system", measured=(("no-such-system", "x"),),
      codecs=("no-such-codec",), published=(("no-such-key", "x"),
                                             ("jpeg420", "jpeg")))
  paths = figures.draw_figure(sources, figure, str(tmp_path / "out"))
  assert [os.path.basename(p) for p in paths] == ["unknown.png",
                                                  "unknown.pdf"]
  assert all(os.path.getsize(p) > 5000 for p in paths)
  missing = " ".join(sources.missing)
  assert os.path.join("kodak", "cpu", "no-such-system.json") in missing
  assert "no-such-codec.json" in missing and "no-such-key" in missing


def test_a_system_without_a_figure_declaration_imports():
  code = ("from tfc_repro import systems\n"
          "systems.NAMES += ('newsystem',)\n"
          "from tfc_repro import figures\n"
          "assert 'newsystem' not in figures.PAPERS, figures.PAPERS\n"
          "assert 'bls2017' in figures.PAPERS\n"
          "try:\n"
          "  figures.draw('newsystem')\n"
          "except ValueError as e:\n"
          "  print(e)\n")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, cwd=ROOT, timeout=300,
                          env=dict(os.environ, PYTHONPATH=ROOT))
  assert result.returncode == 0, result.stderr
  assert "unknown paper 'newsystem'" in result.stdout


def test_every_declared_published_curve_is_known():
  from tfc_repro import published  # pylint: disable=g-import-not-at-top
  for paper in paper_figures.PAPERS.values():
    for figure in paper.figures:
      for key, _ in figure.published:
        assert key in published.CURVES, key
    for table in paper.tables:
      assert table in report.TABLES
  for _, key in report.CPU_CURVES:
    assert key is None or key in published.CURVES, key


def _one_line_error(capsys, main, prog, argv):
  """Runs a program's `main` as its command line does: (status, the one
  line it wrote on stderr)."""
  capsys.readouterr()
  status = argutil.run(main, prog, argv)
  lines = capsys.readouterr().err.splitlines()
  assert len(lines) == 1, lines
  return status, lines[0]


def _edit(path, change):
  with open(path, encoding="utf-8") as f:
    document = json.load(f)
  change(document)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(document, f)


def test_a_corrupt_input_is_an_error_not_a_curve_to_train(results_dir,
                                                          tmp_path, capsys):
  """A file that exists but cannot be read is named in one line, status 1:
  never "not trained yet" nor "missing"."""
  prog = "python -m tfc_repro.report"
  argv = ["cpu", "--results", results_dir, "--published", PUBLISHED,
          "--output", str(tmp_path / "out")]
  jpeg = os.path.join(results_dir, "kodak", "jpeg.json")
  with open(jpeg, encoding="utf-8") as f:
    text = f.read()
  with open(jpeg, "w", encoding="utf-8") as f:
    f.write(text[:len(text) // 2])
  status, line = _one_line_error(capsys, report.main, prog, argv)
  assert status == 1
  assert line.startswith(f"{prog}: error: {jpeg}: not valid JSON"), line
  assert not (tmp_path / "out").exists()
  os.remove(jpeg)
  status, line = _one_line_error(
      capsys, report.main, prog, argv[:3] + ["--published",
                                             str(tmp_path / "nonexist")])
  assert (status, line) == (1, f"{prog}: error: no such published folder: "
                               f"{tmp_path / 'nonexist'}")


@pytest.mark.parametrize("name, change, field", (
    ("bls2017", lambda d: d.update(results=[1]), "results is a list"),
    ("bls2017", lambda d: d.update(points=["x"]), "points[0] is the string"),
    ("bls2017", lambda d: d["points"][0].update(metadata=None),
     "points[0].metadata is null"),
    ("hcae", lambda d: d["points"][1]["metadata"].update(lmbda="0.01"),
     "points[1].metadata.lmbda is the string '0.01'"),
    ("hcae", lambda d: d["points"][0]["metadata"].update(
        train_cpu_seconds="15 min"),
     "points[0].metadata.train_cpu_seconds is the string '15 min'"),
    ("hcae", lambda d: d["results"].update({"bpp-z1": [0.1]}),
     "results.bpp-z1 has 1 values but results.bpp has 4"),
))
def test_a_wrongly_typed_curve_is_one_line(results_dir, tmp_path, capsys,
                                           name, change, field):
  path = os.path.join(results_dir, "kodak", "cpu", f"{name}.json")
  _edit(path, change)
  for table in ("cpu", "hcae"):
    status, line = _one_line_error(
        capsys, report.main, "report",
        [table, "--results", results_dir, "--published", PUBLISHED,
         "--output", str(tmp_path / "out")])
    assert status == 1
    assert line.startswith(f"report: error: {path}: {field}"), line


def test_hcae_shares_of_an_empty_payload_are_not_a_division(results_dir):
  path = os.path.join(results_dir, "kodak", "cpu", "hcae.json")
  _edit(path, lambda d: d["results"].update({
      "bpp-payload": [0, 0.2, None, 0.8], "bpp-z2": [0.0, 0.1, 0.1, 0.4],
      "bpp-z1": [0.0, 0.1, 0.1, 0.4]}))
  lines = report.hcae_table(_sources(results_dir)).splitlines()
  shares = lines[lines.index("| bpp | z2 | z1 |") + 2:]
  assert shares[:4] == [
      "| 1.040 | n/a | n/a |", "| 0.520 | 50.0 % | 50.0 % |",
      "| 0.260 | n/a | n/a |", "| 0.130 | 50.0 % | 50.0 % |"]


def test_a_curve_name_cannot_break_the_tables(results_dir, tmp_path):
  """'|' and line breaks in a name stay inside their cell."""
  cpu = os.path.join(results_dir, "kodak", "cpu")
  _write(cpu, "bls2017", title="bls2017 | CPU\n(6000 steps)")
  lines = report.cpu_report(_sources(results_dir)).splitlines()
  [row] = [l for l in lines if l.startswith("| bls2017 |")][:1]
  assert row.startswith(r"| bls2017 | bls2017 \| CPU (6000 steps) | 4 |")
  assert len(row.replace(r"\|", "").split("|")) == 8  # six cells
  table, _ = bdrate.markdown_table(
      ("jpeg | 4:2:0", {"results": {"bpp": []}}),
      [("a\nb|c", {"results": {"bpp": []}})])
  [row] = [l for l in table.splitlines() if l.startswith("| a")]
  assert row.startswith(r"| a b\|c | jpeg \| 4:2:0 | 0/0 |")


def test_a_null_config_and_an_odd_level_column_are_read(results_dir):
  cpu = os.path.join(results_dir, "kodak", "cpu")
  _edit(os.path.join(cpu, "regularized-lee2019.json"),
        lambda d: d["points"][0]["metadata"].update(config=None))
  rows = report.regularized_table(_sources(results_dir))
  [row] = [r for r in rows if r["backbone"] == "autoregressive"]
  assert row["psnr"] == pytest.approx(-10.0, abs=0.01)
  _edit(os.path.join(cpu, "hcae.json"), lambda d: d["results"].update({
      "bpp-payload": d["results"]["bpp"], "bpp-z1": d["results"]["bpp"],
      "bpp-zx": d["results"]["bpp"]}))
  assert "| bpp | z1 |" in report.hcae_table(_sources(results_dir))
