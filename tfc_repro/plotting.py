"""Drawing RD curves: each curve's colour and marker, panels, the legend
below them, notes and the PNG and PDF files (matplotlib, Agg).

Within a figure every curve has its own colour and marker; measured curves
are solid, published ones dashed; a highlighted curve (a run given with
`python -m tfc_repro.figures PAPER --add`) is a large star drawn on top, its
legend entry in bold. The same curves always draw the same files.
"""

import collections
import math
import os
import textwrap

import numpy as np

from tfc_repro import metrics
from tfc_repro import paper_figures

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
