"""Each paper's rate-distortion figures, from measured and published results.

What a figure shows is declared in `tfc_repro.paper_figures`; this module
draws every declaration the same way (with `tfc_repro.plotting`), and
`tfc_repro.report` writes the tables beside the figures. Within a figure
every curve has its own colour and marker; measured curves are solid,
published ones dashed and labelled "(published)"; a run given with --add is
labelled "(this run)": a large star drawn on top, its legend entry in bold.
RD figures have a PSNR and an MS-SSIM panel (the latter where some curve has
MS-SSIM values). Missing inputs are named on the figure, which is drawn from
what exists.

Inputs (under --results, default `results`): kodak/cpu/<name>.json (the CPU
reproduction), kodak/<codec>.json (classical codecs), published/.

  python -m tfc_repro.figures bmshj2018    # or all; -> results/figures/
  python -m tfc_repro.figures per-image --image kodim01.png results/kodak/jpeg.json
  python -m tfc_repro.figures visual --original kodim23.png \\
      --reconstruction "bmshj2018:0.31:recon/kodim23.png"
"""

import collections
import fnmatch
import os
import sys

from tfc_repro import argutil
from tfc_repro import curves as curves_lib
from tfc_repro import paper_figures
from tfc_repro import plotting
from tfc_repro import report
from tfc_repro import results as results_lib
from tfc_repro import systems

# The registered systems that declare figures, then the other papers
# ("codecs"); a system without a declaration has no figure.
PAPERS = (*(n for n in systems.NAMES if n in paper_figures.PAPERS),
          *(n for n in paper_figures.PAPERS if n not in systems.NAMES))


def _kodak_only(curves):
  """Refuses a measured curve that records another image set than Kodak,
  the image set of the figures; returns a note for each run given with
  --add that records none."""
  notes = []
  for curve in curves:
    if curve.published:
      continue
    found = results_lib.image_set(curve.document)
    if found is None:
      if curve.highlight:
        notes.append(f"{curve.label}: image set not recorded (drawn as "
                     "Kodak)")
    elif found[0] != "kodak":
      raise ValueError(f"{curve.path} is measured on "
                       f"{curve.document['dataset']}, not Kodak: the "
                       "figures compare curves on Kodak")
  return notes


def draw_figure(sources, figure, output_dir, paper=None):
  """Draws one `paper_figures.Figure`; returns the written paths. Runs of
  --add named after `paper` join it when no measured curve took them."""
  start = len(sources.missing)
  curves = []
  for name, family in figure.measured:
    curves += sources.measured(name, family, exact=True,
                               dirs=(curves_lib.CPU_DIR,))
  if figure.takes_added and paper:
    curves += sources.added(f"{paper}*.json")
  for codec in figure.codecs:
    curves += sources.measured(codec, codec, exact=True)
  for key, family in figure.published:
    curves += sources.published(key, family)
  image_set_notes = _kodak_only(curves)
  labels = collections.Counter(curve.label for curve in curves)
  curves = [c._replace(label=os.path.basename(c.path)[:-len(".json")])
            if labels[c.label] > 1 and c.path and not c.highlight else c
            for c in curves]  # two files of one name: their file names
  notes = list(figure.notes) + image_set_notes + [
      f"{c.label}: no {figure.panels[0]} values" for c in curves
      if not any(len(plotting.values(c.document, m)[0])
                 for m in figure.panels)]
  return plotting.rd_figure(sources, curves, output_dir, figure.name,
                            figure.title, figure.panels, figure.max_bpp,
                            notes, sources.missing[start:])


def draw(paper, results_dir="results", output_dir=None, published_dir=None,
         extra=()):
  """Draws one paper's figures and writes its tables; returns (written
  paths, missing inputs). `extra`: measured files outside `results_dir` to
  draw too."""
  if paper not in PAPERS:
    raise ValueError(f"unknown paper {paper!r}; choose from "
                     f"{', '.join(PAPERS)}")
  curves_lib.check_folders(results_dir, published_dir)
  sources = curves_lib.Sources(results_dir, published_dir, extra)
  output_dir = output_dir or os.path.join(results_dir, "figures")
  paths = []
  for figure in paper_figures.PAPERS[paper].figures:
    paths += draw_figure(sources, figure, output_dir, paper)
  for table in paper_figures.PAPERS[paper].tables:
    paths += report.TABLES[table](sources, output_dir)
  return paths, list(dict.fromkeys(sources.missing))


def added_file_patterns(paper):
  """The names of the files given with --add that a paper's figures draw:
  its measured curves' and codecs' names, and PAPER*.json for a figure that
  takes the user's runs."""
  patterns = []
  for figure in paper_figures.PAPERS[paper].figures:
    names = [name for name, _ in figure.measured] + list(figure.codecs)
    patterns += [f"{name}.json" for name in names]
    if figure.takes_added:
      patterns.append(f"{paper}*.json")
  return list(dict.fromkeys(patterns))


def check_added_files(paths, papers):
  """Refuses a file given with --add that does not exist or is a folder;
  returns a message for each that no figure of `papers` draws, saying why."""
  for path in paths:
    if os.path.isdir(path):
      raise ValueError(f"--add {path}: a folder, not a results file")
    if not os.path.exists(path):
      raise ValueError(f"--add {path}: no such file")
  patterns = [p for paper in papers for p in added_file_patterns(paper)]
  why = (f"the {papers[0]} figures draw files named "
         f"{', '.join(patterns[:-1])} or {patterns[-1]}" if len(papers) == 1
         else "no paper's figure draws a file of that name (PAPER*.json, "
         "e.g. bls2017-mine.json, or the name of one of its curves)")
  return [f"{path} is not drawn: {why}" for path in paths
          if not any(fnmatch.fnmatch(os.path.basename(path), pattern)
                     for pattern in patterns)]


def _parser():
  from tfc_repro import visual  # pylint: disable=g-import-not-at-top
  parser = argutil.ArgumentParser(
      prog="python -m tfc_repro.figures",
      description="Draw the papers' RD figures (PNG and PDF) from measured "
      "results and published curves.")
  # The papers' figures: their inputs and output folder.
  inputs = argutil.ArgumentParser(add_help=False)
  inputs.add_argument("--results", default="results",
                      help="results folder (default %(default)s)")
  inputs.add_argument("--output", default=None,
                      help="output folder (default RESULTS/figures)")
  inputs.add_argument("--published", default=None,
                      help="published curves (default RESULTS/published)")
  inputs.add_argument("--add", action="append", default=[], metavar="FILE",
                      help="a measured results file (e.g. your own run) "
                      "drawn with the curves of its name, labelled '(this "
                      "run)' and highlighted; repeatable")
  # per-image and visual: only where they write.
  output = argutil.ArgumentParser(add_help=False)
  output.add_argument("--output", default=os.path.join("results", "figures"),
                      help="output folder (default %(default)s)")
  commands = parser.add_subparsers(dest="command", metavar="PAPER",
                                   parser_class=argutil.ArgumentParser)
  commands.required = True
  for paper in PAPERS:
    commands.add_parser(paper, parents=[inputs],
                        help=paper_figures.PAPERS[paper].help)
  commands.add_parser("all", parents=[inputs], help="every paper's figures")
  visual.add_commands(commands, output)
  return parser


def main(argv):
  args = _parser().parse_args(argv)
  if args.command in ("visual", "per-image"):
    from tfc_repro import visual  # pylint: disable=g-import-not-at-top
    paths = visual.run(args)
  else:
    paths = []
    args.output = args.output or os.path.join(args.results, "figures")
    papers = PAPERS if args.command == "all" else (args.command,)
    for message in check_added_files(args.add, papers):
      print(f"warning: {message}", file=sys.stderr)
    for paper in papers:
      written, missing = draw(paper, args.results, args.output,
                              args.published, args.add)
      paths += written
      for item in missing:
        print(f"{paper}: missing {item}", file=sys.stderr)
  for path in paths:
    print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(argutil.run(main, "python -m tfc_repro.figures"))
