"""Each paper's rate-distortion figures, from measured and published results.

Within a figure every curve has its own colour and its own marker.
Measured curves are solid; published curves are dashed and labelled
"(published)". A run given with --add (e.g. the quickstart's) is labelled
"(this run)" and stands out: a large star, drawn on top, its legend entry in
bold. Rate-distortion figures have a PSNR and an MS-SSIM panel side by side
(the MS-SSIM panel only where some curve has MS-SSIM values). Where the
measured files a figure needs are missing, the figure is still drawn from what
exists and names the missing files on it.

Inputs (under --results, default `results`):

  kodak/<system>*.json, quickstart/<system>*.json   learned models
  kodak/<codec>.json                                classical codecs
  published/                                        published curves
                                                    (tfc_repro.published)

Regularized models (`regularized` figure): `kodak/regularized-<backbone>.json`
holds the model trained with the regularizer and
`kodak/regularized-<backbone>-baseline.json` (or `-unregularized`) the same
backbone trained without it, e.g. regularized-hyperprior.json and
regularized-hyperprior-baseline.json; `-seed<S>` before the suffix names a
seed (regularized-hyperprior-seed1.json). The same names under
`scientific/` (evaluate --images scientific) give the out-of-domain table.

Command line:

  python -m tfc_repro.figures bmshj2018            # -> results/figures/
  python -m tfc_repro.figures all
  python -m tfc_repro.figures per-image --image kodim01.png \\
      results/kodak/jpeg.json
  python -m tfc_repro.figures visual --original kodim23.png \\
      --reconstruction "bmshj2018:0.31:recon/kodim23.png"
"""

import collections
import fnmatch
import glob
import math
import os
import sys
import textwrap

import numpy as np

from tfc_repro import argutil
from tfc_repro import bdrate
from tfc_repro import metrics
from tfc_repro import published as published_lib
from tfc_repro import results as results_lib
from tfc_repro import systems

# One figure per registered system, plus the classical codecs'.
PAPERS = (*systems.NAMES, "codecs")
CLASSICAL = ("jpeg", "jpeg444", "webp", "jpeg2000", "avif", "hevc444",
             "hevc420", "jpegxl")
MEASURED_DIRS = ("kodak", "quickstart")

# Preferred colour of each family: the first curve of a family in a figure
# takes it, later curves the first colour of PALETTE not used there yet.
COLORS = {
    "bls2017": "#1f3b8a", "bmshj2018-factorized": "#17becf",
    "bmshj2018-hyperprior": "#1f77b4", "lee2019": "#2ca02c",
    "hcae": "#e377c2", "minnen2018": "#7f7f7f", "jpeg": "#8c564b",
    "jpeg444": "#c49c94", "webp": "#bcbd22", "jpeg2000": "#9467bd",
    "avif": "#ff7f0e", "hevc444": "#d62728", "hevc420": "#ff9896",
    "regularized": "#2ca02c", "baseline": "#7f7f7f", "jpegxl": "#6a3d9a",
    "vtm": "#000000",
}
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

METRIC_AXES = {"psnr": "PSNR (dB, RGB)",
               "ms-ssim": "MS-SSIM (dB) = -10 log10(1 - MS-SSIM)"}

# family: key of COLORS; highlight: a run given with --add.
Curve = collections.namedtuple(
    "Curve", "label document published family highlight")
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
    free = [c for c in (COLORS.get(curve.family), *PALETTE)
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


# ---------------------------------------------------------------------------
# Finding inputs.


class Sources:
  """Reads measured and published curves and remembers what is missing."""

  def __init__(self, results_dir, published_dir=None, extra=()):
    self.results_dir = results_dir
    self.published_dir = published_dir or os.path.join(results_dir,
                                                       "published")
    # Measured files given by the user (e.g. a quickstart run's), drawn with
    # their system's curves, labelled "(this run)" and highlighted (also
    # when the file lies in the results folder).
    self.extra = tuple(extra)
    self.missing = []

  def _relative(self, path):
    return os.path.relpath(path, os.path.dirname(
        os.path.abspath(self.results_dir)))

  def measured(self, system, family=None, exact=False, dirs=MEASURED_DIRS):
    """Measured curves of `system` (`<system>*.json`, or exact name)."""
    pattern = f"{system}.json" if exact else f"{system}*.json"
    curves = []
    extra = [path for path in self.extra
             if fnmatch.fnmatch(os.path.basename(path), pattern)]
    claimed = {os.path.realpath(path) for path in extra}
    found = [(sub, path) for sub in dirs for path in sorted(glob.glob(
        os.path.join(self.results_dir, sub, pattern)))
             if os.path.realpath(path) not in claimed]
    found += [("this run", path) for path in extra]
    for sub, path in found:
      try:
        document = results_lib.read_rd_json(path)
      except (ValueError, OSError, KeyError, TypeError) as e:
        self.missing.append(f"{self._relative(path)} (unreadable: "
                            f"{argutil.first_line(e)[:60]})")
        continue
      label = os.path.splitext(os.path.basename(path))[0]
      if sub != "kodak":
        label += f" ({sub})"
      curves.append(Curve(label, document, False, family or system,
                          sub == "this run"))
    if not curves:
      self.missing.append(os.path.join(
          os.path.basename(os.path.normpath(self.results_dir)), "kodak",
          pattern))
    return curves

  def published(self, key, family):
    """The published curve `key` of `published.CURVES` (or nothing)."""
    try:
      document = published_lib.load_curve(key, self.published_dir)
    except (ValueError, OSError) as e:
      self.missing.append(f"published {key} ({argutil.first_line(e)[:70]})")
      return []
    return [Curve(document["label"], document, True, family, False)]


# ---------------------------------------------------------------------------
# Drawing.


def _values(document, metric):
  results = document["results"]
  bpp = results.get("bpp", [])
  if metric == "psnr":
    values = results.get("psnr-rgb")
  elif metric == "ms-ssim":
    values = [metrics.ms_ssim_db(v) for v in results.get("ms-ssim-rgb", [])]
  else:  # any other results key, e.g. "bpp-z"
    values = results.get(metric)
  if not values:
    return np.zeros(0), np.zeros(0)
  pairs = sorted((float(b), float(v)) for b, v in zip(bpp, values)
                 if b is not None and v is not None
                 and math.isfinite(b) and math.isfinite(v))
  if not pairs:
    return np.zeros(0), np.zeros(0)
  pairs = np.asarray(pairs)
  return pairs[:, 0], pairs[:, 1]


def _plot(ax, x, y, curve, style):
  options = {"linewidth": 1.2 if curve.published else 1.6, "markersize": 4.5}
  if curve.highlight:
    options = {"linewidth": 2.2, "markersize": 14, "zorder": 10,
               "markeredgecolor": "black", "markeredgewidth": 0.8,
               "gid": HIGHLIGHT}
  ax.plot(x, y, linestyle=style.linestyle, color=style.color,
          marker=style.marker, label=curve.label, **options)


def plot_curves(ax, curves, metric, max_bpp=None):
  """Draws curves on `ax` (styles from `curve_styles(curves)`, so the same
  list gives the same styles on every panel); returns the number of curves
  with data."""
  drawn = 0
  for curve, style in zip(curves, curve_styles(curves)):
    bpp, values = _values(curve.document, metric)
    if max_bpp is not None:
      keep = bpp <= max_bpp
      bpp, values = bpp[keep], values[keep]
    if not len(bpp):
      continue
    _plot(ax, bpp, values, curve, style)
    drawn += 1
  ax.set_xlabel("bits per pixel (Kodak)")
  ax.set_ylabel(METRIC_AXES.get(metric, metric))
  ax.grid(True, alpha=0.3)
  if max_bpp is not None:
    ax.set_xlim(0, max_bpp)
  return drawn


def _new_figure(panels, height=5.0):
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


def _note_missing(fig, missing, extra=()):
  lines = list(extra)
  if missing:
    lines.append("Missing measured/published data: " + ", ".join(missing))
  if lines:
    text = "\n".join(textwrap.fill(line, 160) for line in lines)
    fig.text(0.01, 0.995, text, ha="left", va="top", fontsize=7,
             color="#b00000")


def _finish(fig, axes, output_dir, name, missing, extra_notes=()):
  """Adds legend and notes, writes <name>.png and .pdf; returns the paths."""
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = _legend_below(fig, axes)
  notes = len(missing) + len(extra_notes)
  fig.subplots_adjust(bottom=min(0.1 + 0.035 * rows, 0.5),
                      top=0.9 - (0.05 if notes else 0.0), wspace=0.25)
  _note_missing(fig, missing, extra_notes)
  os.makedirs(output_dir, exist_ok=True)
  paths = []
  for extension in ("png", "pdf"):
    path = os.path.join(output_dir, f"{name}.{extension}")
    fig.savefig(path, dpi=150, bbox_inches="tight", pad_inches=0.1)
    paths.append(path)
  plt.close(fig)
  return paths


def rd_figure(sources, curves, output_dir, name, title,
              metrics_=("psnr", "ms-ssim"), max_bpp=2.2, extra_notes=()):
  """One RD figure with a panel per metric that some curve has values of
  (the first metric's panel at least)."""
  metrics_ = [m for m in metrics_ if any(
      len(_values(c.document, m)[0]) for c in curves)] or list(metrics_[:1])
  fig, axes = _new_figure(len(metrics_))
  for ax, metric in zip(axes, metrics_):
    plot_curves(ax, curves, metric, max_bpp)
    ax.set_title(f"{title}: {metric.upper()}", fontsize=10)
  return _finish(fig, axes, output_dir, name, sources.missing, extra_notes)


# ---------------------------------------------------------------------------
# The papers.


def _codec_curves(sources, codecs):
  curves = []
  for codec in codecs:
    curves += sources.measured(codec, exact=True)
  return curves


# The published VTM curve of the figures: CompressAI's has PSNR and MS-SSIM
# (lossy-vae's VTM 18.0, PSNR only, stands beside QRes-VAE in hcae's).
VTM = "vtm-compressai"


def figure_bls2017(sources, output_dir):
  """Ballé et al. 2017: bls2017 against JPEG, JPEG 2000 and VTM."""
  curves = sources.measured("bls2017")
  curves += _codec_curves(sources, ("jpeg", "jpeg2000"))
  curves += sources.published("balle2017-mse", "bls2017")
  curves += sources.published("jpeg420", "jpeg")
  curves += sources.published("j2k-opj", "jpeg2000")
  curves += sources.published(VTM, "vtm")
  return rd_figure(sources, curves, output_dir, "bls2017",
                   "bls2017 on Kodak")


_BMSHJ2018 = (("bmshj2018-factorized-mse", "bmshj2018-factorized"),
              ("bmshj2018-factorized-ms-ssim", "bmshj2018-factorized"),
              ("bmshj2018-hyperprior-mse", "bmshj2018-hyperprior"),
              ("bmshj2018-hyperprior-ms-ssim", "bmshj2018-hyperprior"))


def figure_bmshj2018(sources, output_dir):
  """Ballé et al. 2018 Fig. 5 (RD) and Fig. 7 (side information)."""
  curves = []
  for system, family in _BMSHJ2018:
    curves += sources.measured(system, family)
  curves += _codec_curves(sources, ("jpeg", "jpeg2000", "webp", "hevc444"))
  for key, family in (
      ("balle2018-hyperprior-mse", "bmshj2018-hyperprior"),
      ("balle2018-hyperprior-msssim", "bmshj2018-hyperprior"),
      ("balle2017-mse", "bmshj2018-factorized"),
      ("balle2017-msssim", "bmshj2018-factorized"),
      ("compressai-bmshj2018-hyperprior-mse", "bmshj2018-hyperprior"),
      ("compressai-bmshj2018-hyperprior-ms-ssim", "bmshj2018-hyperprior"),
      ("compressai-bmshj2018-factorized-mse", "bmshj2018-factorized"),
      ("compressai-bmshj2018-factorized-ms-ssim", "bmshj2018-factorized"),
      ("bpg444", "hevc444"), (VTM, "vtm")):
    curves += sources.published(key, family)
  paths = rd_figure(sources, curves, output_dir, "bmshj2018-fig5",
                    "bmshj2018 Fig. 5, Kodak",
                    extra_notes=(
                        "Published factorized-prior curves: TFC's Ballé 2017 "
                        "files (the same numbers as CompressAI's official "
                        "bmshj2018-factorized)",))
  return paths + figure_side_information(sources, output_dir)


def figure_side_information(sources, output_dir):
  """Fig. 7: side-information rate (results key bpp-z) vs total rate."""
  side = Sources(sources.results_dir, sources.published_dir)
  curves = []
  for system in ("bmshj2018-hyperprior-mse", "bmshj2018-hyperprior-ms-ssim"):
    curves += side.measured(system, "bmshj2018-hyperprior")
  with_z = [c for c in curves if "bpp-z" in c.document["results"]]
  notes = [f"{c.label}: no bpp-z in results" for c in curves
           if c not in with_z]
  fig, axes = _new_figure(2)
  plot_curves(axes[0], with_z, "bpp-z")
  axes[0].set_ylabel("side information bpp (z)")
  axes[0].set_title("bmshj2018 Fig. 7: side information", fontsize=10)
  for curve, style in zip(with_z, curve_styles(with_z)):
    bpp, side_bpp = _values(curve.document, "bpp-z")
    _plot(axes[1], bpp, 100 * side_bpp / bpp, curve, style)
  axes[1].set_xlabel("bits per pixel (Kodak)")
  axes[1].set_ylabel("side information (% of total rate)")
  axes[1].grid(True, alpha=0.3)
  axes[1].set_title("share of the total rate", fontsize=10)
  return _finish(fig, axes, output_dir, "bmshj2018-fig7", side.missing,
                 notes + ["No published numbers for Fig. 7."])


def _lee_measured(sources, metric):
  """The measured lee2019 curve for a metric's models (or None)."""
  if metric == "psnr":
    names = (("lee2019-mse", False), ("lee2019", True))
  else:
    names = (("lee2019-ms-ssim", False), ("lee2019-msssim", False))
  probe = Sources(sources.results_dir, sources.published_dir)
  for name, exact in names:
    found = probe.measured(name, "lee2019", exact=exact)
    if found:
      return found[0]
  return None


def _first(curves):
  return curves[0] if curves else None


# Lee et al. 2019's own BD-rate claims (savings).
LEE2019_CLAIMS = {
    ("psnr", "jpeg2000"): -34.08, ("psnr", "bmshj2018"): -11.97,
    ("psnr", "hevc"): -6.85, ("ms-ssim", "jpeg2000"): -68.82,
    ("ms-ssim", "bmshj2018"): -13.93, ("ms-ssim", "hevc"): -49.68,
}


def lee2019_bdrate_table(sources):
  """Markdown table: BD-rate of lee2019 vs JPEG 2000, bmshj2018 and HEVC."""
  probe = Sources(sources.results_dir, sources.published_dir)
  rows = []
  for metric in ("psnr", "ms-ssim"):
    suffix = "mse" if metric == "psnr" else "ms-ssim"
    published_suffix = "mse" if metric == "psnr" else "msssim"
    measured_anchors = {
        "jpeg2000": _first(probe.measured("jpeg2000", exact=True)),
        "bmshj2018": _first(probe.measured(f"bmshj2018-hyperprior-{suffix}")),
        "hevc": _first(probe.measured("hevc444", exact=True)),
    }
    published_anchors = {
        "jpeg2000": _first(probe.published("j2k-opj", "jpeg2000")),
        "bmshj2018": _first(probe.published(
            f"balle2018-hyperprior-{published_suffix}",
            "bmshj2018-hyperprior")),
        "hevc": _first(probe.published("bpg444", "hevc444")),
    }
    tests = (("measured", _lee_measured(sources, metric), measured_anchors),
             ("published", _first(probe.published(f"lee2019-{suffix}",
                                                   "lee2019")),
              published_anchors))
    for kind, test, anchors in tests:
      for anchor_name, anchor in anchors.items():
        rows.append(_bd_row(metric, kind, test, anchor_name, anchor))
  header = [
      "| metric | curves | test | anchor | BD-rate (%) | paper's claim (%) "
      "| notes |", "|---|---|---|---|---|---|---|"]
  lines = ["# lee2019: BD-rate on Kodak", "",
           "Negative = fewer bits than the anchor at equal quality. Measured "
           "rows use tfc-repro's files (HEVC = hevc444, x265 4:4:4); "
           "published rows use the published curves (JPEG 2000 = TFC's "
           "OpenJPEG, BPG = TFC's BPG 4:4:4, Ballé 2018 from TFC). The "
           "paper's claims are from Lee et al. 2019 (their reported BD-rates). MS-SSIM "
           "rows compare MS-SSIM-optimized models in dB.", ""]
  return "\n".join(lines + header + rows) + "\n"


def _bd_row(metric, kind, test, anchor_name, anchor):
  claim = LEE2019_CLAIMS[(metric, anchor_name)]
  name = bdrate.METRICS[metric][1]
  if test is None or anchor is None:
    what = "lee2019" if test is None else anchor_name
    return (f"| {name} | {kind} | {test.label if test else 'missing'} | "
            f"{anchor.label if anchor else 'missing'} | n/a | {claim:+.2f} | "
            f"{what} curve missing |")
  report = bdrate.compare(anchor.document, test.document, metric)
  notes = "; ".join(report["notes"]).replace("|", "/")
  value = report["bd_rate"]
  shown = "n/a" if math.isnan(value) else f"{value:+.2f}"
  return (f"| {name} | {kind} | {test.label} | {anchor.label} | {shown} | "
          f"{claim:+.2f} | {notes} |")


def figure_lee2019(sources, output_dir):
  """Lee et al. 2019 Fig. 5 (PSNR and MS-SSIM) and the BD-rate table."""
  curves = sources.measured("lee2019", "lee2019")
  for system in ("bmshj2018-hyperprior-mse", "bmshj2018-hyperprior-ms-ssim"):
    curves += sources.measured(system, "bmshj2018-hyperprior")
  curves += _codec_curves(sources, ("hevc444", "jpeg2000"))
  for key, family in (("lee2019-mse", "lee2019"), ("lee2019-ms-ssim",
                                                   "lee2019"),
                      ("balle2018-hyperprior-mse", "bmshj2018-hyperprior"),
                      ("balle2018-hyperprior-msssim", "bmshj2018-hyperprior"),
                      ("minnen2018-mse", "minnen2018"),
                      ("minnen2018-msssim", "minnen2018"),
                      ("bpg444", "hevc444"), ("j2k-opj", "jpeg2000"),
                      (VTM, "vtm")):
    curves += sources.published(key, family)
  paths = rd_figure(sources, curves, output_dir, "lee2019-fig5",
                    "lee2019 Fig. 5, Kodak", max_bpp=2.0)
  table_path = os.path.join(output_dir, "lee2019-bdrate.md")
  with open(table_path, "w", encoding="utf-8") as f:
    f.write(lee2019_bdrate_table(sources))
  return paths + [table_path]


def figure_hcae(sources, output_dir):
  """HCAE report Fig. 6: rate-PSNR of JPEG, BLS (bls2017) and HCAE, at an
  equal training budget (with the bmshj2018 hyperprior), QRes-VAE and VTM."""
  curves = []
  for system, family in (("hcae", "hcae"), ("bls2017", "bls2017"),
                         ("bmshj2018", "bmshj2018-hyperprior")):
    curves += sources.measured(f"equal-budget-{system}", family,
                               dirs=("kodak",))
  curves += _codec_curves(sources, ("jpeg",))
  curves += sources.published("qres-vae", "hcae")
  curves += sources.published("balle2017-mse", "bls2017")
  curves += sources.published("jpeg420", "jpeg")
  curves += sources.published("vtm18", "vtm")
  paths = rd_figure(sources, curves, output_dir, "hcae-fig6",
                    "hcae report Fig. 6, Kodak", max_bpp=2.0,
                    extra_notes=(
                        "Solid: hcae, bls2017 and the bmshj2018 hyperprior "
                        "trained at one equal budget "
                        "(scripts/reproduce_hcae.sh). The HCAE report "
                        "publishes no numeric RD data.",))
  table_path = os.path.join(output_dir, "hcae-bdrate.md")
  with open(table_path, "w", encoding="utf-8") as f:
    f.write(hcae_table(sources))
  return paths + [table_path]


def hcae_table(sources):
  """Markdown: BD-rates of the equal-budget curves and hcae's rate shares."""
  curves = {}
  for system in ("hcae", "bls2017", "bmshj2018"):
    found = sources.measured(f"equal-budget-{system}", system,
                             dirs=("kodak",))
    if found:
      curves[system] = found[0].document
  jpeg = _codec_curves(sources, ("jpeg",))
  lines = ["# hcae at an equal training budget (Kodak)", "",
           "BD-rate (PSNR) of the row's curve against the column's anchor; "
           "negative = fewer bits at equal PSNR. Every curve from "
           "scripts/reproduce_hcae.sh (same data, crops, batch, steps, "
           "learning-rate schedule, seed and λ).", ""]
  anchors = [(name, curves[name]) for name in ("bls2017", "bmshj2018")
             if name in curves]
  if jpeg:
    anchors.append(("jpeg", jpeg[0].document))
  if "hcae" not in curves or not anchors:
    return "\n".join(lines + ["(equal-budget results missing)", ""])
  lines += ["| curve | " + " | ".join(f"vs {a}" for a, _ in anchors) + " |",
            "|---|" + "---|" * len(anchors)]
  for name, document in curves.items():
    cells = []
    for anchor_name, anchor in anchors:
      if anchor_name == name:
        cells.append("—")
        continue
      try:
        value = bdrate.compare(anchor, document, metric="psnr")["bd_rate"]
        cells.append("n/a" if math.isnan(value) else f"{value:+.1f} %")
      except (ValueError, KeyError) as e:
        cells.append(f"n/a ({e})")
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  # Share of hcae's payload per level, per λ (from the files).
  results = curves["hcae"]["results"]
  levels = sorted((k[4:] for k in results
                   if k.startswith("bpp-z") and k.count("-") == 1),
                  key=lambda n: -int(n[1:]))
  if levels:
    lines += ["", "Share of hcae's coded bits per level (from the files):",
              "", "| bpp | " + " | ".join(levels) + " |",
              "|---|" + "---|" * len(levels)]
    for i, bpp in enumerate(results["bpp"]):
      payload = results["bpp-payload"][i]
      shares = [100 * results[f"bpp-{n}"][i] / payload for n in levels]
      lines.append(f"| {bpp:.3f} | " +
                   " | ".join(f"{s:.1f} %" for s in shares) + " |")
  return "\n".join(lines + [""])


# Backbone name aliases in file names -> the regularizer paper's names.
# (tfc-repro's lee2019 stands in for the paper's autoregressive mbt2018.)
_BACKBONES = {
    "hyperprior": ("hyperprior", "mbt2018-mean", "meanscale", "mean-scale",
                   "bmshj2018-meanscale"),
    "autoregressive": ("autoregressive", "ar", "mbt2018", "context",
                       "lee2019"),
    "attention": ("attention", "attn", "cheng2020-attn", "cheng2020"),
}
_BASELINE_SUFFIXES = ("-baseline", "-unregularized")
_COMPRESSAI_PRETRAINED = {"hyperprior": "compressai-mbt2018-mean-mse",
                          "autoregressive": "compressai-mbt2018-mse",
                          "attention": "compressai-cheng2020-attn-mse"}


def _canonical_backbone(name):
  for canonical, aliases in _BACKBONES.items():
    if name in aliases:
      return canonical
  return name


def regularized_pairs(sources, subdir="kodak"):
  """{backbone: {seed: (regularized curve or None, baseline curve or None)}}
  from `<subdir>/regularized-<backbone>[-seed<S>][-baseline].json` (seed None
  when the name has none)."""
  probe = Sources(sources.results_dir, sources.published_dir)
  pairs = {}
  for curve in probe.measured("regularized-", "regularized", dirs=(subdir,)):
    backbone = curve.label.removesuffix(f" ({subdir})")[len("regularized-"):]
    baseline = False
    for suffix in _BASELINE_SUFFIXES:
      if backbone.endswith(suffix):
        backbone, baseline = backbone[:-len(suffix)], True
    seed = None
    head, _, tail = backbone.rpartition("-seed")
    if head and tail.isdigit():
      backbone, seed = head, int(tail)
    seeds = pairs.setdefault(_canonical_backbone(backbone), {})
    regularized, unregularized = seeds.get(seed, (None, None))
    if baseline:
      unregularized = curve
    else:
      regularized = curve
    seeds[seed] = (regularized, unregularized)
  return pairs


def _published_bdrates(sources):
  try:
    table = published_lib.load_regularized_bdrate(sources.published_dir)
  except (ValueError, OSError) as e:
    sources.missing.append(f"published BD-rates ({argutil.first_line(e)})")
    return {}, {}
  return (table.get("regularized_vs_unregularized", {}),
          table.get("reproduced_baseline_vs_compressai_pretrained",
                    {}).get("Kodak", {}))


# Measured evaluation sets of the regularizer's table: (results sub-folder,
# the paper's domain it stands beside). The scientific set (microscopy,
# retina, astronomy) is out of the training domain, like the paper's
# unseen domains; its microscopy image is closest to the paper's Pathology.
REGULARIZED_SETS = (("kodak", "Natural"), ("scientific", "Pathology"))


def _regularizer_settings(document):
  """"α …, σ₀ …, N steps" of a regularized model's results, from the
  metadata of its points (models exported before `--source_scale` existed
  started their source model at σ₀ = 8)."""
  settings = set()
  for point in document.get("points", []):
    metadata = point.get("metadata", {})
    config = metadata.get("config", {})
    if "alpha" not in config:
      continue
    scale = config.get("source_scale")
    scale = f"{scale:g}" if scale is not None else "8 (before --source_scale)"
    settings.add(f"α {config['alpha']:g}, σ₀ {scale}, "
                 f"{metadata.get('steps', '?')} steps")
  return sorted(settings)


def regularized_table(sources, subdir="kodak", domain="Natural"):
  """Rows of measured and published BD-rates per backbone on one evaluation
  set; with several seeds, the mean over seeds and each seed's value."""
  pairs = regularized_pairs(sources, subdir)
  domains, pretrained = _published_bdrates(sources)
  natural = domains.get(domain, {})
  if subdir != "kodak":
    pretrained = {}
  rows = []
  for backbone in list(_BACKBONES) + sorted(set(pairs) - set(_BACKBONES)):
    seeds = pairs.get(backbone, {None: (None, None)})
    row = {"backbone": backbone, "psnr": math.nan, "ms-ssim": math.nan,
           "published": natural.get(backbone, math.nan),
           "vs_pretrained": math.nan,
           "published_vs_pretrained": pretrained.get(backbone, math.nan),
           "per_seed": [], "notes": []}
    values = {"psnr": [], "ms-ssim": []}
    for seed in sorted(seeds, key=lambda s: (s is not None, s)):
      regularized, baseline = seeds[seed]
      name = backbone if seed is None else f"{backbone}-seed{seed}"
      if not (regularized and baseline):
        missing = [f"regularized-{name}{s}.json" for s, c in
                   (("", regularized), ("-baseline", baseline)) if c is None]
        row["notes"].append("missing " + ", ".join(missing))
        continue
      for setting in _regularizer_settings(regularized.document):
        if setting not in row["notes"]:
          row["notes"].insert(0, setting)
      for metric in ("psnr", "ms-ssim"):
        report = bdrate.compare(baseline.document, regularized.document,
                                metric)
        values[metric].append(report["bd_rate"])
        row["notes"] += [f"{metric}: {n}" for n in report["notes"]]
      if seed is not None:
        row["per_seed"].append({"seed": seed, "psnr": values["psnr"][-1],
                                "ms-ssim": values["ms-ssim"][-1]})
      pretrained_key = _COMPRESSAI_PRETRAINED.get(backbone)
      if pretrained_key and math.isnan(row["vs_pretrained"]):
        reference = _first(sources.published(pretrained_key, "baseline"))
        if reference:
          row["vs_pretrained"] = bdrate.bd_rate(reference.document,
                                                baseline.document, "psnr")
    for metric, found in values.items():
      if found:
        row[metric] = float(np.mean(found))
    rows.append(row)
  return rows


def _percent(value):
  return "n/a" if value is None or math.isnan(value) else f"{value:+.2f}"


def _seed_values(row, metric):
  """Each seed's BD-rate in `metric` ("psnr" or "ms-ssim"), as text, and
  their spread when two or more are known."""
  values = [entry[metric] for entry in row["per_seed"]]
  text = ", ".join(f"seed {entry['seed']}: {_percent(entry[metric])}"
                   for entry in row["per_seed"]) or "—"
  known = [v for v in values if not math.isnan(v)]
  if len(known) >= 2:
    text += f" (spread {max(known) - min(known):.2f})"
  return text


def regularized_markdown(rows, out_of_domain=()):
  lines = [
      "# regularized: BD-rate of regularized vs unregularized models (Kodak)",
      "", "Negative = the regularized model needs fewer bits at equal "
      "quality. Published values: the regularizer paper (arXiv 2411.16727) "
      "Table 1 'Natural' row and Table 3 'Kodak' column.", "",
      "| backbone | BD-rate PSNR (%) | BD-rate MS-SSIM (%) | published "
      "BD-rate (%) | baseline vs CompressAI pretrained, PSNR (%) | published "
      "(%) | BD-rate PSNR per seed (%) | BD-rate MS-SSIM per seed (%) | "
      "notes |",
      "|---|---|---|---|---|---|---|---|---|"]
  lines += _regularized_rows(rows)
  if out_of_domain:
    lines += [
        "", "## Out of domain: scientific images", "",
        "The 'scientific' evaluation set ships with scikit-image: stained "
        "tissue under a microscope, a retinal fundus photograph and the "
        "Hubble deep field. Published values: the paper's 'Pathology' row "
        "(its unseen-domain set closest to microscopy).", "",
        "| backbone | BD-rate PSNR (%) | BD-rate MS-SSIM (%) | published "
        "BD-rate (%) | baseline vs CompressAI pretrained, PSNR (%) | "
        "published (%) | BD-rate PSNR per seed (%) | BD-rate MS-SSIM per "
        "seed (%) | notes |",
        "|---|---|---|---|---|---|---|---|---|"]
    lines += _regularized_rows(out_of_domain)
  lines += ["", "With several seeds, the BD-rate columns are the mean over "
            "seeds (each seed's regularized model against the baseline of "
            "the same seed); the spread across seeds is the size of effect "
            "that seed noise alone can produce at this budget."]
  return "\n".join(lines) + "\n"


def _regularized_rows(rows):
  lines = []
  for row in rows:
    notes = "; ".join(row["notes"]).replace("|", "/")
    lines.append(
        f"| {row['backbone']} | {_percent(row['psnr'])} | "
        f"{_percent(row['ms-ssim'])} | {_percent(row['published'])} | "
        f"{_percent(row['vs_pretrained'])} | "
        f"{_percent(row['published_vs_pretrained'])} | "
        f"{_seed_values(row, 'psnr')} | {_seed_values(row, 'ms-ssim')} | "
        f"{notes} |")
  return lines


def figure_regularized(sources, output_dir):
  """Bar chart and table: BD-rate of regularized vs unregularized."""
  tables = {subdir: regularized_table(sources, subdir, domain)
            for subdir, domain in REGULARIZED_SETS}
  rows = tables["kodak"]
  out_of_domain = [row for row in tables["scientific"] if row["per_seed"] or
                   not math.isnan(row["psnr"])]
  fig, axes = _new_figure(1, height=4.5)
  ax = axes[0]
  x = np.arange(len(rows))
  bars = [("kodak", "Kodak, measured (PSNR)", COLORS["regularized"], None),
          ("kodak", "regularizer paper, Natural (published)", "white", "//")]
  if out_of_domain:
    bars += [("scientific", "scientific, measured (PSNR)", "#98df8a", None),
             ("scientific", "regularizer paper, Pathology (published)",
              "white", "..")]
  width = 0.8 / len(bars)
  for i, (subdir, label, color, hatch) in enumerate(bars):
    table = tables[subdir]
    # A measured bar is the PSNR BD-rate, or the MS-SSIM one (labelled)
    # where the PSNR curves do not allow one.
    metrics = [None if hatch else
               "psnr" if not math.isnan(row["psnr"]) else "ms-ssim"
               for row in table]
    values = [row[metric or "published"] for row, metric in zip(table, metrics)]
    offset = (i - (len(bars) - 1) / 2) * width
    ax.bar(x + offset, np.nan_to_num(values), width, color=color,
           edgecolor="#555555" if hatch else None, hatch=hatch, label=label)
    if not hatch:
      for j, (row, metric, value) in enumerate(zip(table, metrics, values)):
        if math.isnan(value):
          ax.text(j + offset, 0, " no measured data", rotation=90,
                  ha="center", va="top", fontsize=7, color="#b00000")
          continue
        if metric == "ms-ssim":
          ax.text(j + offset, 0, " MS-SSIM ", rotation=90, ha="center",
                  va="bottom" if value >= 0 else "top", fontsize=7,
                  color="white")
        for entry in row["per_seed"]:  # each seed as a dot
          ax.plot(j + offset, entry[metric], "k.", markersize=4)
  ax.axhline(0, color="black", linewidth=0.8)
  ax.set_xticks(x)
  ax.set_xticklabels([row["backbone"] for row in rows])
  ax.set_ylabel("BD-rate vs unregularized (%)")
  ax.set_title("regularized: BD-rate (negative = better; dots: seeds)",
               fontsize=10)
  ax.grid(True, axis="y", alpha=0.3)
  missing = [n for row in rows for n in row["notes"] if n.startswith("missing")]
  paths = _finish(fig, axes, output_dir, "regularized-bdrate",
                  sources.missing, missing)
  table_path = os.path.join(output_dir, "regularized-bdrate.md")
  with open(table_path, "w", encoding="utf-8") as f:
    f.write(regularized_markdown(rows, out_of_domain))
  return paths + [table_path]


def figure_codecs(sources, output_dir):
  """All classical codecs (measured) with the published anchors and VTM."""
  curves = _codec_curves(sources, CLASSICAL)
  for key, family in (("jpeg420", "jpeg"), ("compressai-jpeg", "jpeg"),
                      ("j2k-opj", "jpeg2000"),
                      ("compressai-jpeg2000", "jpeg2000"), ("webp", "webp"),
                      ("compressai-webp", "webp"), ("bpg444", "hevc444"),
                      ("compressai-bpg444", "hevc444"), ("bpg420", "hevc420"),
                      (VTM, "vtm")):
    curves += sources.published(key, family)
  return rd_figure(sources, curves, output_dir, "codecs",
                   "Classical codecs on Kodak")


# Every name of PAPERS has its `figure_<name>` (a registered system without
# one fails here, at import).
FIGURES = {paper: globals()[f"figure_{paper}"] for paper in PAPERS}


def draw(paper, results_dir="results", output_dir=None, published_dir=None,
         extra=()):
  """Draws one paper's figures; returns (written paths, missing inputs).
  `extra`: measured files outside `results_dir` to draw too."""
  if paper not in FIGURES:
    raise ValueError(f"unknown paper {paper!r}; choose from "
                     f"{', '.join(FIGURES)}")
  if not os.path.isdir(results_dir):
    raise ValueError(f"no such results folder: {results_dir}")
  sources = Sources(results_dir, published_dir, extra)
  output_dir = output_dir or os.path.join(results_dir, "figures")
  paths = FIGURES[paper](sources, output_dir)
  return paths, sources.missing


# ---------------------------------------------------------------------------
# Per-image plots and visual comparisons.


def per_image_figure(curves, image, path, metrics_=("psnr", "ms-ssim")):
  """RD curves of one image, from the per-image values of results files.

  Args:
    curves: list of (label, document) with "points"/"per_image" entries.
    image: the image's name as stored ("kodim01.png"; the extension may be
      left out).
    path: output file (PNG; a PDF is written beside it).
    metrics_: panels to draw.
  Returns:
    The written paths.
  """
  found = []
  for label, document in curves:
    per_point = []
    for point in document.get("points", []):
      for row in point.get("per_image", []):
        if row.get("image") in (image, image + ".png") or \
            os.path.splitext(row.get("image", ""))[0] == image:
          per_point.append(row)
    if not per_point:
      continue
    single = {"results": {
        "bpp": [r.get("bpp") for r in per_point],
        "psnr-rgb": [r.get("psnr-rgb") for r in per_point],
        "ms-ssim-rgb": [r.get("ms-ssim-rgb") for r in per_point]}}
    found.append(Curve(label, single, False, label, False))
  if not found:
    raise ValueError(f"no per-image values for {image!r} in the given files")
  fig, axes = _new_figure(len(metrics_))
  for ax, metric in zip(axes, metrics_):
    plot_curves(ax, found, metric)
    ax.set_title(f"{image}: {metric.upper()}", fontsize=10)
  directory, name = os.path.split(os.path.splitext(path)[0])
  return _finish(fig, axes, directory or ".", name, [])


def _crop(image, crop):
  top, left, height, width = crop
  return image[top:top + height, left:left + width]


def default_crop(shape, size=256):
  """A centred square crop (top, left, height, width) of at most `size`."""
  height, width = shape[:2]
  side = min(size, height, width)
  return ((height - side) // 2, (width - side) // 2, side, side)


def visual_comparison(original, reconstructions, path, crop=None):
  """Side-by-side crops of an original and its reconstructions.

  Args:
    original: RGB uint8 array.
    reconstructions: list of (label, image, bpp, psnr); bpp and PSNR are
      shown in the caption as given (normally over the whole image).
    path: output PNG path (a PDF is written beside it).
    crop: (top, left, height, width); default: a centred 256x256 crop.
  Returns:
    The written paths.
  """
  original = np.asarray(original)
  crop = crop or default_crop(original.shape)
  top, left, height, width = crop
  if (top < 0 or left < 0 or height <= 0 or width <= 0
      or top + height > original.shape[0] or left + width > original.shape[1]):
    raise ValueError(f"crop {crop} does not fit the image "
                     f"{original.shape[1]}x{original.shape[0]}")
  panels = [("original", original, None, None)] + list(reconstructions)
  fig, axes = _new_figure(len(panels), height=4.6)
  fig.set_size_inches(3.4 * len(panels), 4.0)
  for ax, (label, image, bpp, psnr) in zip(axes, panels):
    image = np.asarray(image)
    if image.shape != original.shape:
      raise ValueError(f"{label}: shape {image.shape} differs from the "
                       f"original's {original.shape}")
    ax.imshow(_crop(image, crop), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    caption = label if bpp is None else (
        f"{label}\n{bpp:.3f} bpp, {psnr:.2f} dB")
    ax.set_title(caption, fontsize=9)
  fig.suptitle(f"crop {width}x{height} at ({left}, {top}); PSNR over the "
               "whole image", fontsize=8)
  directory, name = os.path.split(os.path.splitext(path)[0])
  return _finish(fig, axes, directory or ".", name, [])


def _parse_reconstruction(spec):
  parts = spec.split(":", 2)
  if len(parts) != 3:
    raise ValueError(f"--reconstruction {spec!r}: expected LABEL:BPP:PATH")
  label, bpp, path = parts
  try:
    bpp = float(bpp)
  except ValueError:
    raise ValueError(f"--reconstruction {spec!r}: bad bpp {bpp!r}") from None
  return label, bpp, path


def _parse_crop(text):
  try:
    values = tuple(int(v) for v in text.split(","))
  except ValueError:
    values = ()
  if len(values) != 4:
    raise ValueError(f"--crop {text!r}: expected TOP,LEFT,HEIGHT,WIDTH")
  return values


def _visual(args):
  from tfc_repro import codecs  # pylint: disable=g-import-not-at-top
  from tfc_repro import data  # pylint: disable=g-import-not-at-top
  original = data.read_image(args.original)
  panels = []
  for spec in args.reconstruction:
    label, bpp, path = _parse_reconstruction(spec)
    image = data.read_image(path)
    if image.shape != original.shape:
      raise ValueError(f"{path}: size {image.shape[1]}x{image.shape[0]} "
                       "differs from the original's")
    panels.append((label, image, bpp, metrics.psnr(original, image)))
  target = args.jpeg_bpp if args.jpeg_bpp is not None else (
      panels[0][2] if panels else None)
  if target is not None:
    quality, bitstream, image = codecs.encode_at_bpp("jpeg", original, target)
    height, width = original.shape[:2]
    panels.insert(0, (f"JPEG 4:2:0 q={quality}", image,
                      metrics.bits_per_pixel(len(bitstream), height, width),
                      metrics.psnr(original, image)))
  crop = _parse_crop(args.crop) if args.crop else None
  output = args.path or os.path.join(args.output, "visual.png")
  return visual_comparison(original, panels, output, crop)


def _per_image(args):
  curves = []
  for path in args.files:
    curves.append((os.path.splitext(os.path.basename(path))[0],
                   results_lib.read_rd_json(path)))
  output = args.path or os.path.join(
      args.output, f"per-image-{os.path.splitext(args.image)[0]}.png")
  return per_image_figure(curves, args.image, output)


# ---------------------------------------------------------------------------
# Command line.


def _parser():
  parser = argutil.ArgumentParser(
      prog="python -m tfc_repro.figures",
      description="Draw the papers' RD figures (PNG and PDF) from measured "
      "results and published curves.")
  common = argutil.ArgumentParser(add_help=False)
  common.add_argument("--results", default="results",
                      help="results folder (default %(default)s)")
  common.add_argument("--output", default=None,
                      help="output folder (default RESULTS/figures)")
  common.add_argument("--published", default=None,
                      help="published curves (default RESULTS/published)")
  common.add_argument("--add", action="append", default=[], metavar="FILE",
                      help="a measured results file (e.g. your own run) "
                      "drawn with its system's curves, labelled '(this run)' "
                      "and highlighted; repeatable")
  commands = parser.add_subparsers(dest="command", metavar="PAPER",
                                   parser_class=argutil.ArgumentParser)
  commands.required = True
  for paper in PAPERS:
    commands.add_parser(paper, parents=[common],
                        help=(FIGURES[paper].__doc__ or "").split("\n")[0])
  commands.add_parser("all", parents=[common], help="every paper's figures")
  per_image = commands.add_parser(
      "per-image", parents=[common],
      help="RD curves of one image from results files' per-image values")
  per_image.add_argument("--image", required=True,
                         help="image name as stored, e.g. kodim01.png")
  per_image.add_argument("--path", default=None, help="output PNG path")
  per_image.add_argument("files", nargs="+", help="results JSON files")
  visual = commands.add_parser(
      "visual", parents=[common],
      help="crops of an original, JPEG at matched bpp and reconstructions")
  visual.add_argument("--original", required=True, help="original image")
  visual.add_argument("--reconstruction", action="append", default=[],
                      help="LABEL:BPP:PATH of a reconstruction PNG "
                      "(repeatable)")
  visual.add_argument("--jpeg_bpp", type=float, default=None,
                      help="JPEG rate to match (default: the first "
                      "reconstruction's bpp)")
  visual.add_argument("--crop", default=None,
                      help="TOP,LEFT,HEIGHT,WIDTH (default: centred 256x256)")
  visual.add_argument("--path", default=None, help="output PNG path")
  return parser


def main(argv):
  args = _parser().parse_args(argv)
  args.output = args.output or os.path.join(args.results, "figures")
  if args.command == "visual":
    paths = _visual(args)
  elif args.command == "per-image":
    paths = _per_image(args)
  else:
    paths = []
    for paper in (PAPERS if args.command == "all" else (args.command,)):
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
