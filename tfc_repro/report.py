"""The BD-rate tables: each paper's, and the report of the CPU reproduction.

Every number is computed from the results files (`tfc_repro.bdrate`), never
typed in; only the papers' own claims are quoted. Negative BD-rate = the
test needs fewer bits than the anchor at equal quality.

  python -m tfc_repro.report cpu          # -> results/figures/cpu-reproduction.md
  python -m tfc_repro.report lee2019      # -> results/figures/lee2019-bdrate.md
  python -m tfc_repro.report hcae         # -> results/figures/hcae-bdrate.md
  python -m tfc_repro.report regularized  # -> results/figures/regularized-bdrate.*

`python -m tfc_repro.figures PAPER` writes the paper's tables with its
figures.

The CPU reproduction (`scripts/reproduce_cpu.sh`) trains every system at one
CPU budget, one curve of four λ each, as results/kodak/cpu/NAME.json; the
regularizer's experiment adds, per backbone B, regularized-B.json (with the
regularizer), regularized-B-plain-a.json (the plain backbone on the same
data order) and regularized-B-plain-b.json (the plain backbone on another
order: its distance to plain-a is the noise floor of this budget).
"""

import glob
import math
import os
import re
import sys

import numpy as np

from tfc_repro import argutil
from tfc_repro import bdrate
from tfc_repro import curves as curves_lib
from tfc_repro import markdown
from tfc_repro import paper_figures
from tfc_repro import plotting
from tfc_repro import published as published_lib
from tfc_repro import results as results_lib

CPU = curves_lib.CPU_DIR
BACKBONES = ("bmshj2018-meanscale", "lee2019")


def _percent(value, digits=2):
  if value is None or not math.isfinite(value):
    return "n/a"
  return f"{value:+.{digits}f}"


def _probe(sources):
  """A fresh Sources on the same folders: a table's look-ups do not add to
  the missing inputs of the figures."""
  return curves_lib.Sources(sources.results_dir, sources.published_dir)


def _write(output_dir, name, text):
  os.makedirs(output_dir, exist_ok=True)
  path = os.path.join(output_dir, name)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  return path


# ---------------------------------------------------------------------------
# lee2019.

# Lee et al. 2019's own BD-rate claims (savings).
LEE2019_CLAIMS = {
    ("psnr", "jpeg2000"): -34.08, ("psnr", "bmshj2018"): -11.97,
    ("psnr", "hevc"): -6.85, ("ms-ssim", "jpeg2000"): -68.82,
    ("ms-ssim", "bmshj2018"): -13.93, ("ms-ssim", "hevc"): -49.68,
}


def lee2019_bdrate_table(sources):
  """Markdown table: BD-rate of lee2019 vs JPEG 2000, bmshj2018 and HEVC."""
  probe = _probe(sources)
  rows = []
  for metric in ("psnr", "ms-ssim"):
    # The CPU reproduction trains for MSE; MS-SSIM rows compare models
    # trained for MS-SSIM, where they exist.
    suffix = "" if metric == "psnr" else "-ms-ssim"
    published_suffix = "mse" if metric == "psnr" else "msssim"
    measured_anchors = {
        "jpeg2000": probe.first("jpeg2000"),
        "bmshj2018": probe.first(f"bmshj2018-hyperprior{suffix}", (CPU,)),
        "hevc": probe.first("hevc444"),
    }
    published_anchors = {
        "jpeg2000": probe.published_curve("j2k-opj"),
        "bmshj2018": probe.published_curve(
            f"balle2018-hyperprior-{published_suffix}"),
        "hevc": probe.published_curve("bpg444"),
    }
    published_key = "lee2019-mse" if metric == "psnr" else "lee2019-ms-ssim"
    tests = (("measured", probe.first(f"lee2019{suffix}", (CPU,)),
              measured_anchors),
             ("published", probe.published_curve(published_key),
              published_anchors))
    for kind, test, anchors in tests:
      for anchor_name, anchor in anchors.items():
        rows.append(_lee2019_row(metric, kind, test, anchor_name, anchor))
  lines = [
      "# lee2019: BD-rate on Kodak", "",
      "Negative = fewer bits than the anchor at equal quality. Measured rows "
      "use the CPU reproduction's curves (results/kodak/cpu/, trained for "
      "MSE: its MS-SSIM rows need models trained for MS-SSIM, "
      "lee2019-ms-ssim.json and bmshj2018-hyperprior-ms-ssim.json) and the "
      "measured codecs (HEVC = hevc444, x265 4:4:4); published rows use the "
      "published curves (JPEG 2000 = TFC's OpenJPEG, BPG = TFC's BPG 4:4:4, "
      "Ballé 2018 from TFC). The paper's claims are from Lee et al. 2019 "
      "(their reported BD-rates). MS-SSIM rows compare MS-SSIM-optimized "
      "models in dB.", "",
      "| metric | curves | test | anchor | BD-rate (%) | paper's claim (%) "
      "| notes |", "|---|---|---|---|---|---|---|"]
  return "\n".join(lines + rows) + "\n"


def _lee2019_row(metric, kind, test, anchor_name, anchor):
  claim = LEE2019_CLAIMS[(metric, anchor_name)]
  name = bdrate.METRICS[metric][1]
  if test is None or anchor is None:
    what = "lee2019" if test is None else anchor_name
    return (f"| {name} | {kind} | "
            f"{markdown.cell(test.label) if test else 'missing'} | "
            f"{markdown.cell(anchor.label) if anchor else 'missing'} | n/a | "
            f"{claim:+.2f} | {what} curve missing |")
  report = bdrate.compare(anchor.document, test.document, metric)
  notes = markdown.cell("; ".join(report["notes"]))
  return (f"| {name} | {kind} | {markdown.cell(test.label)} | "
          f"{markdown.cell(anchor.label)} | {_percent(report['bd_rate'])} | "
          f"{claim:+.2f} | {notes} |")


def write_lee2019(sources, output_dir):
  return [_write(output_dir, "lee2019-bdrate.md",
                 lee2019_bdrate_table(sources))]


# ---------------------------------------------------------------------------
# hcae.

HCAE_CURVES = ("hcae", "bls2017", "bmshj2018-hyperprior")


def hcae_table(sources):
  """Markdown: BD-rates of hcae, bls2017 and the hyperprior of the CPU
  reproduction against each other and JPEG, and hcae's rate shares."""
  probe = _probe(sources)
  curves = {name: curve.document for name in HCAE_CURVES
            for curve in [probe.first(name, (CPU,))] if curve}
  jpeg = probe.first("jpeg")
  lines = ["# hcae against bls2017 and the hyperprior, CPU reproduction "
           "(Kodak)", "",
           "BD-rate (PSNR) of the row's curve against the column's anchor; "
           "negative = fewer bits at equal PSNR. Every learned curve from "
           "scripts/reproduce_cpu.sh (the same data, crops, batch, recipe, "
           "seed and CPU budget; results/kodak/cpu/).", ""]
  anchors = [(name, curves[name]) for name in HCAE_CURVES[1:]
             if name in curves]
  if jpeg:
    anchors.append(("jpeg", jpeg.document))
  if "hcae" not in curves or not anchors:
    missing = [f"{name}.json" for name in HCAE_CURVES if name not in curves]
    return "\n".join(lines + [
        "(not trained yet: results/kodak/cpu/" + ", ".join(missing) + ")",
        ""])
  lines += ["| curve | " + " | ".join(f"vs {a}" for a, _ in anchors) + " |",
            "|---|" + "---|" * len(anchors)]
  for name, document in curves.items():
    cells = []
    for anchor_name, anchor in anchors:
      if anchor_name == name:
        cells.append("—")
        continue
      value = bdrate.compare(anchor, document, metric="psnr")["bd_rate"]
      cells.append("n/a" if math.isnan(value) else f"{value:+.1f} %")
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  # Share of hcae's payload per level, per λ (from the files).
  results = curves["hcae"]["results"]
  levels = sorted((k[4:] for k in results if re.fullmatch(r"bpp-z\d+", k)),
                  key=lambda n: -int(n[1:]))
  if levels and "bpp-payload" in results:
    lines += ["", "Share of hcae's coded bits per level (from the files):",
              "", "| bpp | " + " | ".join(levels) + " |",
              "|---|" + "---|" * len(levels)]
    for i, bpp in enumerate(results["bpp"]):
      payload = results["bpp-payload"][i]
      shares = [_share(results[f"bpp-{n}"][i], payload) for n in levels]
      lines.append(f"| {bpp:.3f} | " + " | ".join(shares) + " |")
  return "\n".join(lines + [""])


def _share(part, whole):
  """`part` as a percentage of `whole` ("n/a" unless both are finite and
  `whole` positive)."""
  if not (math.isfinite(part) and math.isfinite(whole) and whole > 0):
    return "n/a"
  return f"{100 * part / whole:.1f} %"


def write_hcae(sources, output_dir):
  return [_write(output_dir, "hcae-bdrate.md", hcae_table(sources))]


# ---------------------------------------------------------------------------
# regularized.

# Backbone name aliases in file names -> the regularizer paper's names.
# (tfc-repro's lee2019 stands in for the paper's autoregressive mbt2018.)
_BACKBONES = {
    "hyperprior": ("hyperprior", "mbt2018-mean", "meanscale", "mean-scale",
                   "bmshj2018-meanscale"),
    "autoregressive": ("autoregressive", "ar", "mbt2018", "context",
                       "lee2019"),
    "attention": ("attention", "attn", "cheng2020-attn", "cheng2020"),
}
# The plain backbone of a pair: -plain-a (the same data order as the
# regularized model), or -baseline / -unregularized.
_BASELINE = re.compile(r"-(baseline|unregularized|plain-a)$")
# A plain backbone on another data order: the noise floor's second arm.
_OTHER_ORDER = re.compile(r"-plain-(?!a$)[a-z0-9]+$")
# The tfc-repro backbone of each of the paper's backbones, as files name it.
_FILE_BACKBONES = {"hyperprior": "bmshj2018-meanscale",
                   "autoregressive": "lee2019"}
_COMPRESSAI_PRETRAINED = {"hyperprior": "compressai-mbt2018-mean-mse",
                          "autoregressive": "compressai-mbt2018-mse",
                          "attention": "compressai-cheng2020-attn-mse"}
# Measured evaluation sets of the regularizer's table: (results sub-folder,
# the paper's domain it stands beside). The scientific set (microscopy,
# retina, astronomy) is out of the training domain, like the paper's
# unseen domains; its microscopy image is closest to the paper's Pathology.
REGULARIZED_SETS = ((CPU, "Natural"),
                    (os.path.join("scientific", "cpu"), "Pathology"))


def _canonical_backbone(name):
  for canonical, aliases in _BACKBONES.items():
    if name in aliases:
      return canonical
  return name


def regularized_pairs(sources, subdir=CPU):
  """({backbone: (regularized or None, plain or None)}, {backbone: plain
  curve on another data order}) from `<subdir>/regularized-<backbone>.json`,
  `regularized-<backbone>-plain-a.json` (or -baseline) and
  `regularized-<backbone>-plain-b.json`."""
  probe = _probe(sources)
  pairs, other_order = {}, {}
  for curve in probe.measured("regularized-", "regularized", dirs=(subdir,),
                              report_missing=False):
    name = os.path.splitext(os.path.basename(curve.path))[0]
    backbone = name[len("regularized-"):]
    if _OTHER_ORDER.search(backbone):
      other_order[_canonical_backbone(
          _OTHER_ORDER.sub("", backbone))] = curve
      continue
    baseline = bool(_BASELINE.search(backbone))
    backbone = _canonical_backbone(_BASELINE.sub("", backbone))
    regularized, plain = pairs.get(backbone, (None, None))
    pairs[backbone] = (regularized, curve) if baseline else (curve, plain)
  return pairs, other_order


def _published_bdrates(sources):
  """The regularizer paper's BD-rates: ({domain: {backbone: %}}, {backbone:
  % against CompressAI's pretrained model on Kodak}); empty (and named in
  `sources.missing`) when the file is missing."""
  path = os.path.join(sources.published_dir, published_lib.REGULARIZED_BDRATE)
  if not os.path.exists(path):
    sources.missing.append(f"published BD-rates (no such file: {path})")
    return {}, {}
  table = published_lib.load_regularized_bdrate(sources.published_dir)
  return (table.get("regularized_vs_unregularized", {}),
          table.get("reproduced_baseline_vs_compressai_pretrained",
                    {}).get("Kodak", {}))


def _regularizer_settings(document):
  """"α …, σ₀ …, N steps" of a regularized model's results, from the
  metadata of its points (models exported before `--source_scale` existed
  started their source model at σ₀ = 8)."""
  settings = set()
  for point in document.get("points", []):
    metadata = point.get("metadata", {})
    config = metadata.get("config") or {}
    if "alpha" not in config:
      continue
    scale = config.get("source_scale")
    scale = f"{scale:g}" if scale is not None else "8 (before --source_scale)"
    settings.add(f"α {config['alpha']:g}, σ₀ {scale}, "
                 f"{metadata.get('steps', '?')} steps")
  return sorted(settings)


def regularized_table(sources, subdir=CPU, domain="Natural"):
  """Rows of measured and published BD-rates per backbone on one evaluation
  set, with the noise floor where a plain arm on another data order
  exists."""
  pairs, other_order = regularized_pairs(sources, subdir)
  domains, pretrained = _published_bdrates(sources)
  natural = domains.get(domain, {})
  if subdir != REGULARIZED_SETS[0][0]:
    pretrained = {}
  rows = []
  for backbone in list(_BACKBONES) + sorted(set(pairs) - set(_BACKBONES)):
    row = {"backbone": backbone, "psnr": math.nan, "ms-ssim": math.nan,
           "published": natural.get(backbone, math.nan),
           "vs_pretrained": math.nan,
           "published_vs_pretrained": pretrained.get(backbone, math.nan),
           "floor": {}, "notes": []}
    rows.append(row)
    name = _FILE_BACKBONES.get(backbone, backbone)
    if backbone not in pairs and name == backbone:
      row["notes"].append("no tfc-repro backbone (published value only)")
      continue
    regularized, baseline = pairs.get(backbone, (None, None))
    if not (regularized and baseline):
      missing = [f"regularized-{name}{s}.json" for s, c in
                 (("", regularized), ("-plain-a", baseline)) if c is None]
      row["notes"].append("missing " + ", ".join(missing))
      continue
    row["notes"] += _regularizer_settings(regularized.document)
    for metric in ("psnr", "ms-ssim"):
      report = bdrate.compare(baseline.document, regularized.document, metric)
      row[metric] = report["bd_rate"]
      row["notes"] += [f"{metric}: {n}" for n in report["notes"]]
    # (CompressAI's pretrained curves are Kodak's.)
    reference = (sources.published_curve(_COMPRESSAI_PRETRAINED[backbone],
                                         "baseline")
                 if backbone in _COMPRESSAI_PRETRAINED
                 and subdir == REGULARIZED_SETS[0][0] else None)
    if reference:
      row["vs_pretrained"] = bdrate.bd_rate(reference.document,
                                            baseline.document, "psnr")
    if backbone in other_order:
      row["floor"] = {m: bdrate.bd_rate(baseline.document,
                                        other_order[backbone].document, m)
                      for m in ("psnr", "ms-ssim")}
    else:
      row["notes"].append(f"no noise floor (regularized-{name}-plain-b.json "
                          "missing)")
  return rows


_REGULARIZED_HEADER = [
    "| backbone | BD-rate PSNR (%) | BD-rate MS-SSIM (%) | noise floor "
    "PSNR / MS-SSIM (%) | published BD-rate (%) | baseline vs CompressAI "
    "pretrained, PSNR (%) | published (%) | notes |",
    "|---|---|---|---|---|---|---|---|"]


def regularized_markdown(rows, out_of_domain=()):
  lines = [
      "# regularized: BD-rate of regularized vs unregularized models (Kodak)",
      "", "Negative = the regularized model needs fewer bits at equal "
      "quality. Measured: the CPU reproduction's regularizer experiment "
      "(results/kodak/cpu/regularized-B.json against "
      "regularized-B-plain-a.json, the plain backbone B fine-tuned from the "
      "same model on the same data order). Noise floor: "
      "regularized-B-plain-b.json (the plain backbone on another data "
      "order) against plain-a: the size of effect that training noise alone "
      "produces at this budget. Published values: the regularizer paper "
      "(arXiv 2411.16727) Table 1 'Natural' row and Table 3 'Kodak' "
      "column.", ""] + _REGULARIZED_HEADER
  lines += _regularized_rows(rows)
  if out_of_domain:
    lines += [
        "", "## Out of domain: scientific images", "",
        "The 'scientific' evaluation set ships with scikit-image: stained "
        "tissue under a microscope, a retinal fundus photograph and the "
        "Hubble deep field (results/scientific/cpu/, the same models). "
        "Published values: the paper's 'Pathology' row (its unseen-domain "
        "set closest to microscopy).", ""]
    lines += _REGULARIZED_HEADER + _regularized_rows(out_of_domain)
  return "\n".join(lines) + "\n"


def _regularized_rows(rows):
  lines = []
  for row in rows:
    notes = markdown.cell("; ".join(row["notes"]))
    floor = (f"{_percent(row['floor']['psnr'])} / "
             f"{_percent(row['floor']['ms-ssim'])}" if row["floor"] else "—")
    lines.append(
        f"| {markdown.cell(row['backbone'])} | {_percent(row['psnr'])} | "
        f"{_percent(row['ms-ssim'])} | {floor} | "
        f"{_percent(row['published'])} | {_percent(row['vs_pretrained'])} | "
        f"{_percent(row['published_vs_pretrained'])} | {notes} |")
  return lines


def write_regularized(sources, output_dir):
  """Bar chart and table: BD-rate of regularized vs unregularized."""
  tables = {subdir: regularized_table(sources, subdir, domain)
            for subdir, domain in REGULARIZED_SETS}
  rows = tables[REGULARIZED_SETS[0][0]]
  out_of_domain = [row for row in tables[REGULARIZED_SETS[1][0]]
                   if not (math.isnan(row["psnr"])
                           and math.isnan(row["ms-ssim"]))]
  fig, axes = plotting.new_figure(1, height=4.5)
  ax = axes[0]
  x = np.arange(len(rows))
  kodak, scientific = (subdir for subdir, _ in REGULARIZED_SETS)
  bars = [(kodak, "Kodak, measured (PSNR)", paper_figures.COLORS["regularized"],
           None),
          (kodak, "regularizer paper, Natural (published)", "white", "//")]
  if out_of_domain:
    bars += [(scientific, "scientific, measured (PSNR)", "#98df8a", None),
             (scientific, "regularizer paper, Pathology (published)",
              "white", "..")]
  width = 0.8 / len(bars)
  for i, (subdir, label, color, hatch) in enumerate(bars):
    table = tables[subdir]
    # A measured bar is the PSNR BD-rate, or the MS-SSIM one (labelled)
    # where the PSNR curves do not allow one.
    metrics = [None if hatch else
               "psnr" if not math.isnan(row["psnr"]) else "ms-ssim"
               for row in table]
    heights = [row[metric or "published"]
               for row, metric in zip(table, metrics)]
    offset = (i - (len(bars) - 1) / 2) * width
    ax.bar(x + offset, np.nan_to_num(heights), width, color=color,
           edgecolor="#555555" if hatch else None, hatch=hatch, label=label)
    if hatch:
      continue
    for j, (row, metric, value) in enumerate(zip(table, metrics, heights)):
      if math.isnan(value):
        ax.text(j + offset, 0, " no measured data", rotation=90,
                ha="center", va="top", fontsize=7, color="#b00000")
        continue
      if metric == "ms-ssim":
        ax.text(j + offset, 0, " MS-SSIM ", rotation=90, ha="center",
                va="bottom" if value >= 0 else "top", fontsize=7,
                color="white")
      if row["floor"] and not math.isnan(row["floor"][metric]):
        # The noise floor: an effect inside ±|plain-b vs plain-a| is noise.
        floor = abs(row["floor"][metric])
        ax.errorbar(j + offset, 0, yerr=floor, color="black", capsize=3,
                    linewidth=1)
  ax.axhline(0, color="black", linewidth=0.8)
  ax.set_xticks(x)
  ax.set_xticklabels([row["backbone"] for row in rows])
  ax.set_ylabel("BD-rate vs unregularized (%)")
  ax.set_title("regularized: BD-rate (negative = better; whiskers: the "
               "noise floor, ±|plain-b vs plain-a|)", fontsize=10)
  ax.grid(True, axis="y", alpha=0.3)
  missing = [n for row in rows for n in row["notes"] if n.startswith("missing")]
  paths = plotting.finish(fig, axes, output_dir, "regularized-bdrate", [],
                         missing)
  return paths + [_write(output_dir, "regularized-bdrate.md",
                         regularized_markdown(rows, out_of_domain))]


TABLES = {"lee2019": write_lee2019, "hcae": write_hcae,
          "regularized": write_regularized}


# ---------------------------------------------------------------------------
# The CPU reproduction.

# Every curve of results/kodak/cpu/ the reproduction trains, and the
# published curve of its paper (None: the paper publishes none).
CPU_CURVES = (
    ("bls2017", "balle2017-mse"),
    ("bmshj2018-factorized", "compressai-bmshj2018-factorized-mse"),
    ("bmshj2018-hyperprior", "compressai-bmshj2018-hyperprior-mse"),
    ("bmshj2018-meanscale", "compressai-mbt2018-mean-mse"),
    ("lee2019", "lee2019-mse"),
    ("hcae", None),  # the HCAE report publishes no RD numbers
    *((f"regularized-{backbone}{arm}", None) for backbone in BACKBONES
      for arm in ("", "-plain-a", "-plain-b")))
# The curves the goals speak of: every system (a regularized model, not its
# plain arms, for the regularizer).
SYSTEM_CURVES = ("bls2017", "bmshj2018-factorized", "bmshj2018-hyperprior",
                 "bmshj2018-meanscale", "lee2019", "hcae",
                 *(f"regularized-{backbone}" for backbone in BACKBONES))
CODEC_ANCHORS = (("jpeg", "JPEG 4:2:0"), ("webp", "WebP"),
                 ("jpegxl", "JPEG XL"), ("hevc444", "HEVC 4:4:4"))
# The papers' orderings: (test, anchor, claim). The claim is that the test
# needs fewer bits than the anchor ("≤": no more bits).
ORDERINGS = (
    ("bmshj2018-factorized", "bls2017", "≤"),
    ("bmshj2018-hyperprior", "bmshj2018-factorized", "<"),
    ("bmshj2018-meanscale", "bmshj2018-hyperprior", "<"),
    ("lee2019", "bmshj2018-meanscale", "<"),
    ("hcae", "bls2017", "<"),
    ("hcae", "bmshj2018-hyperprior", "<"),
    *((f"regularized-{backbone}", f"regularized-{backbone}-plain-a", "<")
      for backbone in BACKBONES))
NOT_TRAINED = "not trained yet"


def _cpu_curves(sources):
  """{name: Curve or None} of the expected curves, then any other curve
  found in results/kodak/cpu/."""
  probe = _probe(sources)
  found = {name: probe.first(name, (CPU,)) for name, _ in CPU_CURVES}
  for curve in probe.measured("*", exact=True, dirs=(CPU,),
                              report_missing=False):
    name = os.path.splitext(os.path.basename(curve.path))[0]
    found.setdefault(name, curve)
  return found


def _points_in_training(sources, name):
  """The results documents of the points of curve `name` evaluated so far
  (results/kodak/cpu/points/NAME-qQ.json, written while its models train;
  the curve is merged once all four are in)."""
  pattern = os.path.join(sources.results_dir, CPU, "points", f"{name}-q*.json")
  return [results_lib.read_rd_json(path) for path in sorted(glob.glob(pattern))]


def _published_of(name):
  return dict(CPU_CURVES).get(name)


def training_summary(document):
  """(steps text, CPU-hours, λ text) of a curve, from its points' metadata:
  the points trained from scratch and those fine-tuned (`init_from`)."""
  scratch, tuned, seconds, lambdas, without = [], [], 0.0, [], 0
  for point in document.get("points", []):
    metadata = point.get("metadata", {})
    (tuned if metadata.get("init_from") else scratch).append(
        metadata.get("steps"))
    if isinstance(metadata.get("train_cpu_seconds"), (int, float)):
      seconds += metadata["train_cpu_seconds"]
    else:
      without += 1
    if metadata.get("lmbda") is not None:
      lambdas.append(metadata["lmbda"])

  def counted(steps, what):
    if not steps:
      return []
    groups = {s: steps.count(s) for s in steps}
    return [", ".join(f"{n} × {s}" if n > 1 else f"{s}"
                      for s, n in groups.items()) + f" {what}"]
  steps = " + ".join(counted(scratch, "from scratch") +
                     counted(tuned, "fine-tuned")) or "?"
  hours = f"{seconds / 3600:.2f}"
  if without:
    hours += f" ({without} point(s) without train_cpu_seconds)"
  lambdas = ", ".join(f"{v:g}" for v in sorted(lambdas)) or "?"
  return steps, hours, lambdas


def _bd(anchor, test, metric="psnr"):
  """(BD-rate, notes) of two curves (either may be None)."""
  if anchor is None or test is None:
    return math.nan, []
  report = bdrate.compare(anchor.document, test.document, metric)
  return report["bd_rate"], report["notes"]


def ordering_rows(sources, curves=None):
  """The papers' orderings at this budget: a dict per ordering with the
  measured BD-rate (PSNR) of test against anchor, the noise floor (where a
  plain arm on another data order exists) and the verdict."""
  curves = _cpu_curves(sources) if curves is None else curves
  rows = []
  for test, anchor, claim in ORDERINGS:
    row = {"test": test, "anchor": anchor, "claim": claim, "bd": math.nan,
           "floor": math.nan, "notes": []}
    rows.append(row)
    absent = [n for n in (test, anchor) if curves.get(n) is None]
    if absent:
      row["verdict"] = f"{NOT_TRAINED} ({', '.join(absent)})"
      continue
    row["bd"], notes = _bd(curves[anchor], curves[test])
    row["notes"] += notes
    if anchor.endswith("-plain-a"):
      other = curves.get(anchor[:-len("a")] + "b")
      if other is None:
        row["notes"].append(f"no noise floor: {anchor[:-1]}b {NOT_TRAINED}")
      else:
        row["floor"] = abs(_bd(curves[anchor], other)[0])
        if math.isnan(row["floor"]):
          row["notes"].append("noise floor n/a (no BD-rate between the "
                              "plain arms)")
    else:
      row["notes"].append("no noise floor measured")
    if math.isnan(row["bd"]):
      row["verdict"] = "n/a (no BD-rate)"
    elif not math.isnan(row["floor"]) and abs(row["bd"]) <= row["floor"]:
      row["verdict"] = "within noise"
    elif row["bd"] < 0 or (claim == "≤" and row["bd"] <= 0):
      row["verdict"] = "holds"
    else:
      row["verdict"] = "does not hold"
  return rows


def _published_ordering(sources, test, anchor):
  """The papers' own BD-rate for an ordering, from the published curves
  (or the regularizer paper's table); NaN where there is none."""
  if test.startswith("regularized-"):
    domains, _ = _published_bdrates(_probe(sources))
    return domains.get("Natural", {}).get(
        _canonical_backbone(test[len("regularized-"):]), math.nan)
  keys = [_published_of(test), _published_of(anchor)]
  if None in keys:
    return math.nan
  probe = _probe(sources)
  published = [probe.published_curve(key) for key in keys]
  return _bd(published[1], published[0])[0]


def goal_rows(sources, curves=None):
  """The goals of the reproduction: ([(goal, status, details)], the system
  curves not trained yet). Status: met, not met, or not decided yet (a
  curve missing or without a BD-rate)."""
  curves = _cpu_curves(sources) if curves is None else curves
  probe = _probe(sources)
  missing = [name for name in SYSTEM_CURVES if curves.get(name) is None]

  def bd(codec, names):
    anchor = probe.first(codec)
    return {n: _bd(anchor, curves[n])[0] for n in names if n not in missing}

  def every(codec, names, passes):
    found = bd(codec, names)
    details = ", ".join(f"{n} {_percent(v, 1)}" for n, v in found.items())
    if any(not math.isnan(v) and not passes(v) for v in found.values()):
      return "not met", details
    undecided = [n for n in names if n in missing] + [
        n for n, v in found.items() if math.isnan(v)]
    if undecided:
      return f"not decided yet ({', '.join(undecided)})", details
    return "met", details

  def best(codec, passes):
    found = {n: v for n, v in bd(codec, SYSTEM_CURVES).items()
             if not math.isnan(v)}
    if not found:
      return "not decided yet", "no curve with a BD-rate"
    name = min(found, key=found.get)
    status = "met" if passes(found[name]) else (
        "not met so far" if missing else "not met")
    return status, f"best: {name} {_percent(found[name], 1)}"

  webp = ("bmshj2018-hyperprior", "bmshj2018-meanscale", "lee2019", "hcae")
  rows = [
      ("every system beats JPEG 4:2:0 by ≥ 25 % (PSNR BD-rate ≤ −25 %)",
       *every("jpeg", SYSTEM_CURVES, lambda v: v <= -25)),
      ("the hyperprior, mean-scale, lee2019 and hcae beat WebP (PSNR "
       "BD-rate < 0)", *every("webp", webp, lambda v: v < 0)),
      ("the best system beats JPEG XL (PSNR BD-rate < 0)",
       *best("jpegxl", lambda v: v < 0)),
      ("stretch: the best system within 10 % of HEVC 4:4:4 (PSNR BD-rate "
       "≤ +10 %)", *best("hevc444", lambda v: v <= 10))]
  return rows, missing


def cpu_report(sources):
  """The CPU reproduction's report (Markdown)."""
  curves = _cpu_curves(sources)
  probe = _probe(sources)
  codecs = [(probe.first(name), label) for name, label in CODEC_ANCHORS]
  lines = [
      "# The CPU reproduction: every system at one CPU budget (Kodak)", "",
      "Written by `python -m tfc_repro.report cpu` from the curves in "
      "`results/kodak/cpu/` (`scripts/reproduce_cpu.sh`), the measured "
      "codecs in `results/kodak/` and the published curves in "
      "`results/published/`; rerun it when a curve lands. Every number "
      "below is computed from those files by `tfc_repro.bdrate` (Akima "
      "interpolation over the range where both curves overlap, each curve "
      "reduced to its monotone points). BD-rate: negative = fewer bits than "
      "the anchor at equal quality; MS-SSIM in dB.", "",
      "## The models", "",
      "Each curve has four points (λ). The highest-rate point is trained "
      "from scratch; the three others are fine-tuned from it (`--init_from`) "
      "and their CPU time is their own fine-tuning only, so a curve's "
      "CPU-hours (the sum over its points of `train_cpu_seconds`) count its "
      "shared base model once.", "",
      "| curve | legend | points | λ | steps | CPU-hours |",
      "|---|---|---|---|---|---|"]
  in_training = 0.0
  for name, curve in curves.items():
    if curve is None:
      points = _points_in_training(sources, name)
      if not points:
        lines.append(f"| {markdown.cell(name)} | {NOT_TRAINED} | | | | |")
        continue
      evaluated = {"points": [p for d in points for p in d["points"]]}
      steps, hours, lambdas = training_summary(evaluated)
      in_training += sum(p["metadata"].get("train_cpu_seconds") or 0
                         for p in evaluated["points"])
      lines.append(f"| {markdown.cell(name)} | in training: {len(points)} of "
                   f"4 points (`results/kodak/cpu/points/{name}-q*.json`) | "
                   f"{len(points)} | {lambdas} | {steps} | {hours} |")
      continue
    steps, hours, lambdas = training_summary(curve.document)
    lines.append(f"| {markdown.cell(name)} | {markdown.cell(curve.label)} | "
                 f"{len(curve.document['results']['bpp'])} | {lambdas} | "
                 f"{steps} | {hours} |")
  total = sum(point.get("metadata", {}).get("train_cpu_seconds") or 0
              for curve in curves.values() if curve
              for point in curve.document.get("points", []))
  lines += ["", f"All curves found: {total / 3600:.2f} CPU-hours of "
            "training" + (f", and {in_training / 3600:.2f} in the points of "
                          "curves still in training." if in_training
                          else ".")]
  notes = []
  for metric, title in (("psnr", "PSNR"), ("ms-ssim", "MS-SSIM")):
    lines += ["", f"## BD-rate ({title}, %) against the codecs and the "
              "paper's published curve", "",
              "| curve | " + " | ".join(label for _, label in CODEC_ANCHORS)
              + " | published curve | vs published |",
              "|---|" + "---|" * (len(CODEC_ANCHORS) + 2)]
    for name, curve in curves.items():
      key = _published_of(name)
      if curve is None:
        lines.append(f"| {markdown.cell(name)} | {NOT_TRAINED} |" +
                     " |" * (len(CODEC_ANCHORS) + 1))
        continue
      cells = []
      published = probe.published_curve(key) if key else None
      for anchor, label in codecs + [(published, key)]:
        if anchor is None:
          cells.append("missing" if label else "—")
          continue
        value, found = _bd(anchor, curve, metric)
        cells.append(_percent(value))
        notes += [f"{name} vs {label} ({title}): {n}" for n in found]
      cells.insert(len(CODEC_ANCHORS), key or "none")
      lines.append(f"| {markdown.cell(name)} | " + " | ".join(cells) + " |")
  lines += ["", "## The papers' orderings at this budget", "",
            "Each claim: the test needs fewer bits than the anchor, the "
            "model it extends or is compared with in its paper (≤: "
            "bmshj2018's factorized prior is Ballé 2017's model, at least as "
            "good). "
            "BD-rate (PSNR, %) of the test against the anchor. 'within "
            "noise': |BD-rate| ≤ the noise floor, the BD-rate between two "
            "plain arms that differ only in data order; where no floor is "
            "measured the verdict is the sign alone. Published: the same "
            "BD-rate between the papers' published curves (the regularizer "
            "paper's own Table 1 'Natural' value for its rows).", "",
            "| ordering | BD-rate (%) | noise floor (%) | verdict | "
            "published (%) | notes |", "|---|---|---|---|---|---|"]
  for row in ordering_rows(sources, curves):
    floor = _percent(row["floor"]).lstrip("+") if not math.isnan(
        row["floor"]) else "not measured"
    published = _published_ordering(sources, row["test"], row["anchor"])
    row_notes = markdown.cell("; ".join(row["notes"]))
    lines.append(f"| {row['test']} {row['claim']} {row['anchor']} | "
                 f"{_percent(row['bd'])} | {floor} | {row['verdict']} | "
                 f"{_percent(published)} | {row_notes} |")
  goals, missing = goal_rows(sources, curves)
  lines += ["", "## Goals", "", "| goal | status | PSNR BD-rates (%) |",
            "|---|---|---|"]
  lines += [f"| {goal} | {status} | {markdown.cell(details)} |"
            for goal, status, details in goals]
  if missing:
    lines += ["", f"Not trained yet: {', '.join(missing)}."]
  if sources.missing:
    lines += ["", "Inputs missing (left out): "
              f"{'; '.join(sources.missing)}."]
  if notes:
    lines += ["", "## Notes", ""] + [f"* {n}" for n in notes]
  return "\n".join(lines) + "\n"


def write_cpu_report(sources, output_dir):
  return [_write(output_dir, "cpu-reproduction.md", cpu_report(sources))]


COMMANDS = {"cpu": write_cpu_report, **TABLES}


def main(argv):
  parser = argutil.ArgumentParser(
      prog="python -m tfc_repro.report",
      description="Write the BD-rate tables (Markdown) from measured results "
      "and published curves.")
  parser.add_argument("table", choices=list(COMMANDS),
                      help="cpu: the CPU reproduction's report "
                      "(cpu-reproduction.md); lee2019, hcae, regularized: "
                      "a paper's table")
  parser.add_argument("--results", default="results",
                      help="results folder (default %(default)s)")
  parser.add_argument("--output", default=None,
                      help="output folder (default RESULTS/figures)")
  parser.add_argument("--published", default=None,
                      help="published curves (default RESULTS/published)")
  args = parser.parse_args(argv)
  curves_lib.check_folders(args.results, args.published)
  sources = curves_lib.Sources(args.results, args.published)
  output = args.output or os.path.join(args.results, "figures")
  for path in COMMANDS[args.table](sources, output):
    print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(argutil.run(main, "python -m tfc_repro.report"))
