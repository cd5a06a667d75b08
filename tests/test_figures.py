"""Figures from small fixture results: files are written, gaps are reported."""

import json
import os
import re

import numpy as np
import pytest

from tfc_repro import argutil, figures, paper_figures, plotting, report
from tfc_repro import results, visual
from tfc_repro import curves as curves_lib
from tfc_repro import published as published_lib
from conftest import ROOT, run_cli, smooth_image

PUBLISHED = os.path.join(ROOT, "results", "published")
RATES = [0.1, 0.2, 0.4, 0.8, 1.6]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write(directory, name, offset=0.0, rate_scale=1.0, side=False,
           levels=()):
  """A fixture RD file: PSNR/MS-SSIM rising with log-rate; `levels` splits
  the payload into per-level columns in these proportions."""
  points = []
  for rate in RATES:
    log = np.log2(rate / RATES[0])
    row = {"image": "kodim01.png", "bpp": rate * rate_scale,
           "psnr-rgb": 26.0 + offset + 3.5 * log,
           "ms-ssim-rgb": 1 - 10 ** (-(9.0 + offset + 2.5 * log) / 10)}
    if side:
      row["bpp-z"] = 0.01 + 0.03 * rate
    if levels:
      row["bpp-payload"] = rate * rate_scale
      for i, share in enumerate(levels):
        row[f"bpp-z{len(levels) - i}"] = share * rate * rate_scale
    points.append({"metadata": {"lmbda": rate}, "per_image": [row]})
  path = os.path.join(directory, f"{name}.json")
  results.write_rd_json(path, name, "fixture", points, command="test")
  return path


@pytest.fixture()
def results_dir(tmp_path):
  kodak = tmp_path / "results" / "kodak"
  cpu = kodak / "cpu"
  cpu.mkdir(parents=True)
  for codec, offset in (("jpeg", -3), ("jpeg2000", -1.5), ("webp", -1),
                        ("hevc444", 0)):
    _write(str(kodak), codec, offset)
  _write(str(cpu), "bls2017", 0.5)
  _write(str(cpu), "bmshj2018-hyperprior", 1.0, side=True)
  _write(str(cpu), "lee2019", 1.5)
  _write(str(cpu), "regularized-bmshj2018-meanscale", 1.0, rate_scale=0.99)
  _write(str(cpu), "regularized-bmshj2018-meanscale-plain-a", 1.0)
  quickstart = tmp_path / "results" / "quickstart"
  quickstart.mkdir()
  _write(str(quickstart), "bls2017", 0.2)
  return str(tmp_path / "results")


def _assert_figure(path):
  assert os.path.getsize(path) > 5000, path
  with open(path, "rb") as f:
    head = f.read(8)
  if path.endswith(".png"):
    assert head == PNG_MAGIC
  else:
    assert head.startswith(b"%PDF")


@pytest.mark.parametrize("paper", figures.PAPERS)
def test_every_paper_draws(results_dir, tmp_path, paper):
  output = str(tmp_path / "figures")
  paths, missing = figures.draw(paper, results_dir, output, PUBLISHED)
  images = [p for p in paths if p.endswith((".png", ".pdf"))]
  assert images and all(p.startswith(output) for p in paths)
  for path in images:
    _assert_figure(path)
  if paper == "codecs":  # avif, jpeg444, hevc420 are not in the fixture
    assert any("avif.json" in m for m in missing)
  if paper == "bls2017":
    assert not missing
    # The same curves draw the same files, on any day (no date in the PDF).
    drawn = {p: open(p, "rb").read() for p in images}
    with pytest.MonkeyPatch.context() as patch:
      patch.setenv("SOURCE_DATE_EPOCH", "86400")  # matplotlib's "now"
      figures.draw(paper, results_dir, output, PUBLISHED)
    assert {p: open(p, "rb").read() for p in images} == drawn


def test_missing_measured_data_still_draws(tmp_path):
  empty = tmp_path / "results"
  empty.mkdir()
  paths, missing = figures.draw("bmshj2018", str(empty), str(tmp_path / "f"),
                                PUBLISHED)
  assert any(os.path.join("kodak", "cpu", "bmshj2018-hyperprior.json") in m
             for m in missing)
  for path in paths:
    _assert_figure(path)


def test_bdrate_tables(results_dir, tmp_path):
  output = str(tmp_path / "figures")
  figures.draw("regularized", results_dir, output, PUBLISHED)
  with open(os.path.join(output, "regularized-bdrate.md")) as f:
    table = f.read()
  row = [l for l in table.splitlines() if l.startswith("| hyperprior")][0]
  cells = [c.strip() for c in row.split("|")]
  assert cells[2] == "-1.00"  # every rate x 0.99
  assert cells[5] == "-0.88"  # the paper's published value
  figures.draw("lee2019", results_dir, output, PUBLISHED)
  with open(os.path.join(output, "lee2019-bdrate.md")) as f:
    table = f.read()
  measured = [l for l in table.splitlines() if "| measured | lee2019 |" in l]
  assert len(measured) == 3  # vs jpeg2000, bmshj2018 and hevc
  assert "n/a" not in measured[0].split("|")[5]


def test_per_image_and_visual(results_dir, tmp_path):
  document = results.read_rd_json(os.path.join(results_dir, "kodak",
                                               "jpeg.json"))
  paths = visual.per_image_figure([("jpeg", document)], "kodim01",
                                   str(tmp_path / "per-image.png"))
  _assert_figure(paths[0])
  with pytest.raises(ValueError, match="no per-image values"):
    visual.per_image_figure([("jpeg", document)], "kodim99",
                             str(tmp_path / "x.png"))
  # A per-image row without an image name is refused, naming the field.
  with open(os.path.join(results_dir, "kodak", "jpeg.json")) as f:
    document = json.load(f)
  document["points"][2]["per_image"][0]["image"] = None
  broken = tmp_path / "broken.json"
  broken.write_text(json.dumps(document))
  with pytest.raises(results.DocumentError, match=re.escape(
      f"{broken}: points[2].per_image[0].image is null, not a string")):
    figures.main(["per-image", "--image", "kodim01", str(broken), "--output",
                  str(tmp_path)])

  original = smooth_image(48, 64, seed=1)
  noisy = np.clip(original.astype(int) + 8, 0, 255).astype(np.uint8)
  paths = visual.visual_comparison(
      original, [("model", noisy, 0.25, 30.1)], str(tmp_path / "visual.png"),
      crop=(8, 8, 32, 32))
  _assert_figure(paths[0])
  with pytest.raises(ValueError, match="does not fit"):
    visual.visual_comparison(original, [], str(tmp_path / "v.png"),
                              crop=(0, 0, 100, 100))


@pytest.mark.slow
def test_cli(results_dir, tmp_path):
  output = tmp_path / "cli-figures"
  result = run_cli("tfc_repro.figures", "codecs", "--results", results_dir,
                   "--output", str(output), "--published", PUBLISHED)
  assert result.returncode == 0, result.stderr
  assert (output / "codecs.png").stat().st_size > 5000
  assert "missing" in result.stderr  # avif etc. are reported

  original = tmp_path / "original.png"
  recon = tmp_path / "recon.png"
  from tfc_repro import data  # pylint: disable=g-import-not-at-top
  image = smooth_image(96, 128, seed=2)
  data.write_png(str(original), image)
  data.write_png(str(recon), np.clip(image.astype(int) + 5, 0, 255).astype(
      np.uint8))
  result = run_cli("tfc_repro.figures", "visual", "--original", str(original),
                   "--reconstruction", f"model:0.5:{recon}", "--path",
                   str(tmp_path / "visual.png"), "--crop", "0,0,64,64")
  assert result.returncode == 0, result.stderr
  assert (tmp_path / "visual.png").stat().st_size > 5000

  for args, status in ((("nonsense",), 2),
                       (("codecs", "--results", str(tmp_path / "absent")), 1),
                       (("visual", "--original", str(original),
                         "--reconstruction", "bad-spec"), 1)):
    result = run_cli("tfc_repro.figures", *args)
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], result.stderr


def test_hcae_table_has_bd_rates_and_level_shares(tmp_path):
  kodak = tmp_path / "results" / "kodak"
  cpu = kodak / "cpu"
  cpu.mkdir(parents=True)
  _write(str(kodak), "jpeg", -3)
  _write(str(cpu), "bls2017", 0.0)
  _write(str(cpu), "bmshj2018-hyperprior", 0.0, rate_scale=0.9)
  _write(str(cpu), "hcae", 0.0, rate_scale=0.8, levels=(0.1, 0.3, 0.6))
  output = str(tmp_path / "figures")
  paths, _ = figures.draw("hcae", str(tmp_path / "results"), output,
                          PUBLISHED)
  assert any(p.endswith("hcae-fig6.png") for p in paths)
  with open(os.path.join(output, "hcae-bdrate.md")) as f:
    table = f.read()
  row = [l for l in table.splitlines() if l.startswith("| hcae |")][0]
  cells = [c.strip() for c in row.split("|")]
  assert cells[2:4] == ["-20.0 %", "-11.1 %"]  # rates x 0.8, and 0.8/0.9
  shares = [l for l in table.splitlines() if l.startswith("| 0.")]
  assert len(shares) == 4  # the rows of bpp < 1
  assert "| 10.0 % | 30.0 % | 60.0 % |" in shares[0]


def test_regularized_table_reports_the_effect_beside_its_noise_floor(
    tmp_path):
  kodak = tmp_path / "results" / "kodak" / "cpu"
  kodak.mkdir(parents=True)
  for arm, scale in (("", 0.98), ("-plain-a", 1.0), ("-plain-b", 1.01)):
    _write(str(kodak), f"regularized-bmshj2018-meanscale{arm}", 1.0,
           rate_scale=scale)
  output = str(tmp_path / "figures")
  figures.draw("regularized", str(tmp_path / "results"), output, PUBLISHED)
  with open(os.path.join(output, "regularized-bdrate.md")) as f:
    table = f.read()
  row = [l for l in table.splitlines() if l.startswith("| hyperprior")][0]
  cells = [c.strip() for c in row.split("|")]
  assert cells[2:5] == ["-2.00", "-2.00", "+1.00 / +1.00"]
  assert cells[5] == "-0.88"  # published
  lee = [l for l in table.splitlines() if l.startswith("| autoregressive")][0]
  assert "missing regularized-lee2019.json" in lee
  assert "Out of domain" not in table  # no scientific results


def test_regularized_table_out_of_domain(tmp_path):
  for subdir, scale in (("kodak", 0.99), ("scientific", 0.97)):
    folder = tmp_path / "results" / subdir / "cpu"
    folder.mkdir(parents=True)
    _write(str(folder), "regularized-lee2019", 1.0, rate_scale=scale)
    _write(str(folder), "regularized-lee2019-plain-a", 1.0)
  output = str(tmp_path / "figures")
  paths, _ = figures.draw("regularized", str(tmp_path / "results"), output,
                          PUBLISHED)
  with open(os.path.join(output, "regularized-bdrate.md")) as f:
    kodak, scientific = f.read().split("## Out of domain")
  rows = [[c.strip() for c in l.split("|")] for part in (kodak, scientific)
          for l in part.splitlines() if l.startswith("| autoregressive")]
  assert [(r[2], r[5]) for r in rows] == [("-1.00", "-0.92"),
                                           ("-3.00", "-0.81")]
  for path in paths[:-1]:  # the figures, then the table
    _assert_figure(path)


def test_a_file_from_outside_the_results_is_drawn(tmp_path):
  """`--add FILE` (the quickstart's own run) joins its system's curves,
  labelled "(this run)", without being written into the results folder."""
  results = tmp_path / "results"
  (results / "kodak").mkdir(parents=True)
  run = tmp_path / "mine" / "bls2017.json"
  run.parent.mkdir()
  document = {"name": "bls2017", "results": {
      "bpp": [0.5], "psnr": [28.0], "ms-ssim": [0.95]}}
  run.write_text(json.dumps(document))
  sources = curves_lib.Sources(str(results), extra=[str(run)])
  curves = sources.measured("bls2017")
  assert [c.label for c in curves] == ["bls2017 (this run)"]
  assert curves_lib.Sources(str(results), extra=[str(run)]).measured(
      "lee2019") == []
  assert sorted(os.listdir(results / "kodak")) == []


@pytest.fixture()
def drawn(monkeypatch):
  """The matplotlib figures drawn during a test, kept open to be inspected."""
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  close = pyplot.close
  kept = []
  monkeypatch.setattr(pyplot, "close", kept.append)
  yield kept
  for fig in kept:
    close(fig)


def _lines(ax):
  return [line for line in ax.get_lines()
          if not line.get_label().startswith("_")]


def _style(line):
  from matplotlib import colors  # pylint: disable=g-import-not-at-top
  return colors.to_hex(line.get_color()), line.get_marker()


REGISTERED = [label for label, _ in published_lib.CURVES.values()]
RD_PAPERS = ("bls2017", "bmshj2018", "lee2019", "hcae", "codecs")


@pytest.mark.parametrize("paper", RD_PAPERS)
def test_every_curve_has_its_own_style(results_dir, tmp_path, drawn, paper):
  figures.draw(paper, results_dir, str(tmp_path / "figures"), PUBLISHED)
  assert drawn
  for fig in drawn:
    styles = {}
    for ax in fig.axes:
      lines = _lines(ax)
      assert len({_style(l) for l in lines}) == len(lines)
      assert len({_style(l)[0] for l in lines}) == len(lines)  # colours
      assert len({_style(l)[1] for l in lines}) == len(lines)  # markers
      for line in lines:
        label = line.get_label()
        # The same curve looks the same on every panel.
        assert styles.setdefault(label, _style(line)) == _style(line), label
        is_published = any(label.startswith(r) for r in REGISTERED)
        assert ("published" in label) == is_published, label
        assert line.get_linestyle() == ("--" if is_published else "-"), label
    assert len(set(styles.values())) == len(styles)  # across the panels
  first = _lines(drawn[0].axes[0])
  assert any(l.get_linestyle() == "--" for l in first)
  assert any(l.get_linestyle() == "-" for l in first)
  # PSNR and MS-SSIM side by side: the fixture files have both.
  assert [ax.get_ylabel() for ax in drawn[0].axes] == [
      paper_figures.METRIC_AXES["psnr"], paper_figures.METRIC_AXES["ms-ssim"]]
  vtm = [l for l in first if "VTM" in l.get_label()]
  assert len(vtm) == 1 and "published" in vtm[0].get_label()


def test_vtm_on_both_panels_of_the_codec_figure(results_dir, tmp_path,
                                                drawn):
  figures.draw("codecs", results_dir, str(tmp_path / "figures"), PUBLISHED)
  for ax in drawn[0].axes:
    vtm = [l for l in _lines(ax) if "VTM" in l.get_label()]
    assert [l.get_label() for l in vtm] == [
        "VTM intra (CompressAI) (published)"]
    assert vtm[0].get_linestyle() == "--"


def test_a_psnr_only_figure_has_one_panel(tmp_path, drawn):
  document = {"results": {"bpp": [0.1, 0.5, 1.0], "psnr-rgb": [26, 31, 34]}}
  curves = [curves_lib.Curve("a", document, False, "jpeg", False)]
  plotting.rd_figure(curves_lib.Sources(str(tmp_path)), curves, str(tmp_path),
                    "one", "one")
  assert [ax.get_ylabel() for ax in drawn[0].axes] == [
      paper_figures.METRIC_AXES["psnr"]]


def test_this_run_is_highlighted(results_dir, tmp_path, drawn):
  run = tmp_path / "mine"
  run.mkdir()
  path = _write(str(run), "bls2017", 0.3)
  # A file of the results folder given with --add is "this run" too (once).
  inside = os.path.join(results_dir, "quickstart", "bls2017.json")
  figures.draw("bls2017", results_dir, str(tmp_path / "figures"), PUBLISHED,
               [path, inside])
  fig = drawn[0]
  lines = _lines(fig.axes[0])
  labels = [l.get_label() for l in lines]
  assert labels.count("bls2017 (this run)") == 2
  assert "bls2017 (quickstart)" not in labels
  runs = [l for l in lines if l.get_label() == "bls2017 (this run)"]
  others = [l for l in lines if l not in runs]
  for line in runs:
    assert line.get_marker() == "*"
    assert line.get_markersize() > max(l.get_markersize() for l in others)
    assert line.get_zorder() > max(l.get_zorder() for l in others)
  assert all(l.get_marker() != "*" for l in others)
  weights = {text.get_text(): text.get_fontweight()
             for text in fig.legends[0].get_texts()}
  assert weights["bls2017 (this run)"] == "bold"
  assert weights["bls2017"] == "normal"


def test_styles_stay_distinct_and_deterministic():
  document = {"results": {"bpp": [], "psnr-rgb": []}}
  curves = [curves_lib.Curve(f"c{i}", document, i % 3 == 0, "jpeg", i == 5)
            for i in range(3 * len(plotting.PALETTE))]
  styles = plotting.curve_styles(curves)
  assert styles == plotting.curve_styles(curves)
  assert styles[0].color == paper_figures.COLORS["jpeg"]
  assert len({(s.color, s.marker) for s in styles}) == len(curves)
  assert len({s.color for s in styles[:len(plotting.PALETTE)]}) == len(
      plotting.PALETTE)
  assert len({s.marker for s in styles[:len(plotting.MARKERS) + 1]}) == len(
      plotting.MARKERS) + 1  # with the highlighted curve's star
  assert styles[5].marker == plotting.HIGHLIGHT_MARKER
  assert [s.linestyle for s in styles[:3]] == ["--", "-", "-"]


def test_regularized_table_names_each_models_alpha_and_source_scale():
  document = {"points": [
      {"metadata": {"steps": 300,
                    "config": {"alpha": 0.1, "source_scale": 64.0}}},
      {"metadata": {"steps": 300, "config": {"alpha": 0.1}}},
      {"metadata": {"steps": 300, "config": {"lmbda": 0.01}}}]}
  assert report._regularizer_settings(document) == [
      "α 0.1, σ₀ 64, 300 steps",
      "α 0.1, σ₀ 8 (before --source_scale), 300 steps"]


def test_a_run_of_another_image_set_is_not_drawn_on_kodak(results_dir,
                                                          tmp_path, drawn):
  run = tmp_path / "mine"
  run.mkdir()
  path = _write(str(run), "bls2017", 0.3)
  with open(path) as f:
    document = json.load(f)
  document["dataset"] = "scientific (3 images)"
  with open(path, "w") as f:
    json.dump(document, f)
  with pytest.raises(ValueError, match=re.escape(
      f"{path} is measured on scientific (3 images), not Kodak")):
    figures.draw("bls2017", results_dir, str(tmp_path / "figures"), PUBLISHED,
                 [path])
  # A run that records no image set is drawn, and the figure says so.
  document["dataset"] = None
  with open(path, "w") as f:
    json.dump(document, f)
  figures.draw("bls2017", results_dir, str(tmp_path / "figures"), PUBLISHED,
               [path])
  text = " ".join(t.get_text() for t in drawn[-1].texts)
  assert "bls2017 (this run): image set not recorded (drawn as Kodak)" in text


def test_a_file_given_with_add_is_drawn_or_the_user_is_told_why(
    results_dir, tmp_path, capsys):
  mine = tmp_path / "mine.json"
  mine.write_text(open(os.path.join(results_dir, "kodak", "jpeg.json")).read())
  argv = ["bls2017", "--results", results_dir, "--published", PUBLISHED,
          "--output", str(tmp_path / "figures")]
  for path, message in ((tmp_path / "absent.json", "no such file"),
                        (tmp_path, "a folder, not a results file")):
    capsys.readouterr()
    assert argutil.run(figures.main, "figures", argv + ["--add",
                                                        str(path)]) == 1
    assert capsys.readouterr().err == (
        f"figures: error: --add {path}: {message}\n")
  assert figures.main(argv + ["--add", str(mine)]) == 0
  assert capsys.readouterr().err.splitlines()[0] == (
      f"warning: {mine} is not drawn: the bls2017 figures draw files named "
      "bls2017.json, jpeg.json, jpeg2000.json or bls2017*.json")


@pytest.mark.parametrize("argv, message", (
    (["visual", "--original", "o.png", "--jpeg_bpp", "nan"],
     "argument --jpeg_bpp: 'nan' is not a positive finite number"),
    (["visual", "--original", "o.png", "--jpeg_bpp", "-1"],
     "argument --jpeg_bpp: '-1' is not a positive finite number"),
    (["visual", "--original", "o.png", "--jpeg_bpp", "0"],
     "argument --jpeg_bpp: '0' is not a positive finite number"),
    (["visual", "--original", "o.png", "--jpeg_bpp", "inf"],
     "argument --jpeg_bpp: 'inf' is not a positive finite number"),
    # per-image and visual offer only the flags they use.
    (["per-image", "--image", "kodim01", "a.json", "--add", "b.json"],
     "unrecognized arguments: --add b.json"),
    (["visual", "--original", "o.png", "--results", "results"],
     "unrecognized arguments: --results results"),
    (["visual", "--original", "o.png", "--published", "p"],
     "unrecognized arguments: --published p"),
))
def test_visual_and_per_image_refuse_what_they_do_not_use(capsys, argv,
                                                          message):
  with pytest.raises(SystemExit) as exit_info:
    figures.main(argv)
  assert exit_info.value.code == 2
  error = capsys.readouterr().err
  assert error.startswith("python -m tfc_repro.figures"), error
  assert error.endswith(f": error: {message} (see --help)\n"), error
  assert error.count("\n") == 1


def test_a_reconstructions_rate_must_be_positive():
  with pytest.raises(ValueError, match="bad bpp: 'nan' is not a positive"):
    visual._parse_reconstruction(  # pylint: disable=protected-access
        "model:nan:r.png")
