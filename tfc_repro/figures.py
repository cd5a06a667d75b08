"""Each paper's rate-distortion figures, from measured and published results.

What a figure shows is declared in `tfc_repro.paper_figures`; this module
draws every declaration the same way, and `tfc_repro.report` writes the
tables beside the figures. Within a figure every curve has its own colour and
marker; measured curves are solid, published ones dashed and labelled
"(published)"; a run given with --add is labelled "(this run)": a large star
drawn on top, its legend entry in bold. RD figures have a PSNR and an MS-SSIM
panel (the latter where some curve has MS-SSIM values). Missing inputs are
named on the figure, which is drawn from what exists.

Inputs (under --results, default `results`): kodak/cpu/<name>.json (the CPU
reproduction), kodak/<codec>.json (classical codecs), published/.

  python -m tfc_repro.figures bmshj2018    # or all; -> results/figures/
  python -m tfc_repro.figures per-image --image kodim01.png results/kodak/jpeg.json
  python -m tfc_repro.figures visual --original kodim23.png \\
      --reconstruction "bmshj2018:0.31:recon/kodim23.png"
"""

import collections
import fnmatch
import math
import os
import sys
import textwrap

import numpy as np

from tfc_repro import argutil
from tfc_repro import curves as curves_lib
from tfc_repro import metrics
from tfc_repro import paper_figures
from tfc_repro import report
from tfc_repro import results as results_lib
from tfc_repro import systems

# The registered systems that declare figures, then the other papers
# ("codecs"); a system without a declaration has no figure.
PAPERS = (*(n for n in systems.NAMES if n in paper_figures.PAPERS),
          *(n for n in paper_figures.PAPERS if n not in systems.NAMES))

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#1b9e77", "#d95f02",
    "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#000000",
    "#1f3b8a", "#6a3d9a", "#b15928", "#005f5f", "#8b0000", "#556b2f",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#9edae5")
# Markers in the order they are handed out; the star is kept for the runs
# given with --add.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "d", "H",
           "8", "x", "+", "1", "2", "3", "4")
HIGHLIGHT_MARKER = "*"
HIGHLIGHT = "highlight"  # the gid of a highlighted curve's Line2D

Style = collections.namedtuple("Style", "color marker linestyle")


def curve_styles(curves):
  """The style of each curve of one figure: its own colour and marker.

  In the order given, a curve takes its family's colour unless an earlier
  curve has it, else the first unused colour of PALETTE; then the first
  marker of MARKERS not used yet (the star for a highlighted curve). Should
  colours or markers run out, no two curves still share both. Measured curves
  are solid, published ones dashed. The same curves in the same order always
  get the same styles.
  """
  styles = []
  for curve in curves:
    colors = {style.color for style in styles}
    free = [c for c in (paper_figures.COLORS.get(curve.family), *PALETTE)
            if c and c not in colors]
    color = free[0] if free else PALETTE[len(styles) % len(PALETTE)]
    markers = {style.marker for style in styles}
    candidates = [m for m in MARKERS if m not in markers] + list(MARKERS)
    if curve.highlight:
      candidates.insert(0, HIGHLIGHT_MARKER)
    taken = {(style.color, style.marker) for style in styles}
    marker = next(m for m in candidates if (color, m) not in taken)
    styles.append(Style(color, marker, "--" if curve.published else "-"))
  return styles


def values(document, metric):
  """(bpp, values) of a curve for a metric of `paper_figures`, finite,
  sorted by rate."""
  results = document["results"]
  bpp = results.get("bpp", [])
  if metric == "psnr":
    found = results.get("psnr-rgb")
  elif metric == "ms-ssim":
    found = [metrics.ms_ssim_db(v) for v in results.get("ms-ssim-rgb", [])]
  elif metric.startswith("share:"):
    found = [100 * v / b if b else math.nan for v, b in zip(
        results.get(metric[len("share:"):], []), bpp)]
  else:
    found = results.get(metric)
  pairs = np.asarray(sorted(
      (float(b), float(v)) for b, v in zip(bpp, found or ())
      if b is not None and v is not None
      and math.isfinite(b) and math.isfinite(v))).reshape(-1, 2)
  return pairs[:, 0], pairs[:, 1]


def plot_curves(ax, curves, metric, max_bpp=None, image_set="Kodak"):
  """Draws curves on `ax` (styles from `curve_styles(curves)`, so the same
  list gives the same styles on every panel), the rate axis naming
  `image_set` (if any); returns the number of curves with data."""
  drawn = 0
  for curve, style in zip(curves, curve_styles(curves)):
    bpp, found = values(curve.document, metric)
    if max_bpp is not None:
      bpp, found = bpp[bpp <= max_bpp], found[bpp <= max_bpp]
    if not len(bpp):
      continue
    options = {"linewidth": 1.2 if curve.published else 1.6,
               "markersize": 4.5}
    if curve.highlight:
      options = {"linewidth": 2.2, "markersize": 14, "zorder": 10,
                 "markeredgecolor": "black", "markeredgewidth": 0.8,
                 "gid": HIGHLIGHT}
    ax.plot(bpp, found, linestyle=style.linestyle, color=style.color,
            marker=style.marker, label=curve.label, **options)
    drawn += 1
  ax.set_xlabel("bits per pixel" + (f" ({image_set})" if image_set else ""))
  ax.set_ylabel(paper_figures.METRIC_AXES.get(metric, metric))
  ax.grid(True, alpha=0.3)
  if max_bpp is not None:
    ax.set_xlim(0, max_bpp)
  return drawn


def new_figure(panels, height=5.0):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, height),
                           squeeze=False)
  return fig, list(axes[0])


def _legend_below(fig, axes):
  """One legend below the panels (highlighted curves in bold); returns its
  number of rows."""
  handles, labels = [], []
  for ax in axes:
    for handle, label in zip(*ax.get_legend_handles_labels()):
      if label not in labels:
        handles.append(handle)
        labels.append(label)
  columns = 2 * len(axes)
  if handles:
    legend = fig.legend(handles, labels, loc="lower center", ncol=columns,
                        fontsize=7, frameon=False)
    for handle, text in zip(handles, legend.get_texts()):
      # (A bar chart's handles are containers, without a gid.)
      if getattr(handle, "get_gid", None) and handle.get_gid() == HIGHLIGHT:
        text.set_fontweight("bold")
  return math.ceil(len(labels) / columns)


def finish(fig, axes, output_dir, name, missing, notes=()):
  """Adds the legend and the notes (the missing inputs last), writes
  <name>.png and .pdf; returns the paths."""
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = _legend_below(fig, axes)
  lines = list(notes) + (["Missing measured/published data: " +
                          ", ".join(missing)] if missing else [])
  text = "\n".join(textwrap.fill(l, 160) for l in lines)
  fig.subplots_adjust(bottom=min(0.1 + 0.035 * rows, 0.5), wspace=0.25,
                      top=max(0.9 - 0.03 * (text.count("\n") + bool(lines)),
                              0.6))
  if lines:
    fig.text(0.01, 0.995, text, ha="left", va="top", fontsize=7,
             color="#b00000")
  os.makedirs(output_dir, exist_ok=True)
  paths = [os.path.join(output_dir, f"{name}.{e}") for e in ("png", "pdf")]
  for path in paths:
    # No creation date in the PDF: the same curves draw the same file.
    fig.savefig(path, dpi=150, bbox_inches="tight", pad_inches=0.1,
                metadata={"CreationDate": None} if path.endswith(".pdf")
                else None)
  plt.close(fig)
  return paths


def rd_figure(sources, curves, output_dir, name, title,
              metrics_=("psnr", "ms-ssim"), max_bpp=2.2, extra_notes=(),
              missing=None):
  """One figure with a panel per metric that some curve has values of
  (the first metric's panel at least)."""
  metrics_ = [m for m in metrics_ if any(
      len(values(c.document, m)[0]) for c in curves)] or list(metrics_[:1])
  fig, axes = new_figure(len(metrics_))
  for ax, metric in zip(axes, metrics_):
    plot_curves(ax, curves, metric, max_bpp)
    ax.set_title(f"{title}: {paper_figures.PANEL_TITLES.get(metric, metric)}",
                 fontsize=10)
  return finish(fig, axes, output_dir, name,
                sources.missing if missing is None else missing, extra_notes)


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
      if not any(len(values(c.document, m)[0]) for m in figure.panels)]
  return rd_figure(sources, curves, output_dir, figure.name, figure.title,
                   figure.panels, figure.max_bpp, notes,
                   sources.missing[start:])


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
