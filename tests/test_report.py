"""Figure declarations: unknown curves, undeclared systems, known keys."""

import os
import subprocess
import sys

from tfc_repro import curves, figures, paper_figures, report
from conftest import ROOT

PUBLISHED = os.path.join(ROOT, "results", "published")


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
