"""Bjøntegaard-delta comparisons of rate-distortion curves.

BD-rate is the average difference in log-rate at equal quality (in percent:
negative means the test needs fewer bits than the anchor); BD-quality is the
average quality difference at equal log-rate (dB). Both are computed by the
`bjontegaard` package (Herglotz et al.) with Akima interpolation by default,
over the interval where the two curves overlap. Quality is PSNR (dB) or
MS-SSIM in dB, -10 log10(1 - MS-SSIM).

Before interpolation a curve is sorted by rate and reduced to the points whose
quality increases strictly (an RD curve must be monotone); points with
missing values are dropped. BD values need at least `MIN_POINTS` points per
curve; for shorter test curves `rate_saving_at_equal_quality` gives each
point's rate difference against the interpolated anchor curve instead.

Command line (Markdown table on stdout, warnings on stderr):

  python -m tfc_repro.bdrate results/kodak/jpeg.json results/kodak/hevc444.json
"""

import math
import os
import sys
import warnings

import numpy as np

from tfc_repro import argutil
from tfc_repro import markdown
from tfc_repro import metrics as metrics_lib
from tfc_repro import results as results_lib

MIN_POINTS = 4
DEFAULT_METHOD = "akima"
# Below this fraction of overlap (the part of the shorter curve's range, in
# quality or in log-rate, that the other curve also covers) the BD values are
# flagged as unreliable: they then describe only part of the curves.
DEFAULT_MIN_OVERLAP = 0.5

# metric -> (results key, display name)
METRICS = {
    "psnr": ("psnr-rgb", "PSNR"),
    "ms-ssim": ("ms-ssim-rgb", "MS-SSIM"),
}


def _metric_key(metric):
  try:
    return METRICS[metric][0]
  except KeyError:
    raise ValueError(f"unknown metric {metric!r}; use one of "
                     f"{', '.join(METRICS)}") from None


def _quality_values(values, metric):
  """Quality values on the scale the BD computation uses (dB)."""
  if metric == "ms-ssim":
    return [metrics_lib.ms_ssim_db(v) for v in values]
  return list(values)


def _finite(value):
  try:
    return value is not None and math.isfinite(float(value))
  except (TypeError, ValueError):
    return False


def curve(document, metric="psnr"):
  """The usable (rate, quality) points of a results document.

  Args:
    document: a results dict with results.bpp and the metric's key.
    metric: "psnr" or "ms-ssim" (the latter in dB).
  Returns:
    (rates, qualities, dropped): numpy arrays sorted by rate with strictly
    increasing quality, and the number of points left out.
  """
  key = _metric_key(metric)
  results = document.get("results", {})
  rates = list(results.get("bpp", []))
  qualities = _quality_values(results.get(key, [math.nan] * len(rates)),
                              metric)
  points = sorted((r, q) for r, q in zip(rates, qualities)
                  if _finite(r) and r > 0 and _finite(q))
  kept = []
  for rate, quality in points:
    if not kept or (rate > kept[-1][0] and quality > kept[-1][1]):
      kept.append((rate, quality))
  dropped = len(rates) - len(kept)
  if not kept:
    return np.zeros(0), np.zeros(0), dropped
  kept = np.asarray(kept, dtype=np.float64)
  return kept[:, 0], kept[:, 1], dropped


def overlap_fraction(low_a, high_a, low_b, high_b):
  """Overlap of two intervals divided by the shorter one (0 when disjoint).

  A wide anchor (e.g. a codec swept over 0.02-10 bpp) does not lower the
  value when it covers the whole test curve.
  """
  overlap = min(high_a, high_b) - max(low_a, low_b)
  if overlap < 0:
    return 0.0
  shorter = min(high_a - low_a, high_b - low_b)
  return 1.0 if shorter <= 0 else min(overlap / shorter, 1.0)


def _bd(function, anchor, test, metric, method):
  """Runs a bjontegaard function on two documents; NaN when not computable."""
  rate_a, quality_a, _ = curve(anchor, metric)
  rate_t, quality_t, _ = curve(test, metric)
  if len(rate_a) < MIN_POINTS or len(rate_t) < MIN_POINTS:
    return math.nan
  import bjontegaard  # pylint: disable=g-import-not-at-top
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # overlap is checked by `compare`
    value = getattr(bjontegaard, function)(
        rate_a, quality_a, rate_t, quality_t, method=method,
        require_matching_points=False, min_overlap=0)
  return float(value)


def bd_rate(anchor_doc, test_doc, metric="psnr", method=DEFAULT_METHOD):
  """BD-rate of `test_doc` against `anchor_doc` in percent (NaN if undefined).

  Negative values mean the test needs fewer bits for the same quality.
  """
  return _bd("bd_rate", anchor_doc, test_doc, metric, method)


def bd_quality(anchor_doc, test_doc, metric="psnr", method=DEFAULT_METHOD):
  """BD-PSNR (or BD-MS-SSIM in dB) of `test_doc` against `anchor_doc`."""
  return _bd("bd_psnr", anchor_doc, test_doc, metric, method)


def rate_saving_at_equal_quality(anchor_doc, bpp, quality, metric="psnr"):
  """Rate difference (%) of one test point against the anchor curve.

  The anchor's log-rate is interpolated monotonically (PCHIP) as a function
  of quality; the result is 100 * (bpp / anchor_bpp(quality) - 1), negative
  when the test point needs fewer bits. NaN when `quality` lies outside the
  anchor's range or the anchor has fewer than two usable points.

  Args:
    anchor_doc: results document of the anchor.
    bpp: the test point's rate.
    quality: its quality: PSNR in dB, or linear MS-SSIM for "ms-ssim".
    metric: "psnr" or "ms-ssim".
  """
  _metric_key(metric)
  rates, qualities, _ = curve(anchor_doc, metric)
  [quality] = _quality_values([quality], metric)
  if (len(rates) < 2 or not _finite(bpp) or bpp <= 0 or not _finite(quality)
      or not qualities[0] <= quality <= qualities[-1]):
    return math.nan
  from scipy import interpolate  # pylint: disable=g-import-not-at-top
  log_rate = interpolate.PchipInterpolator(qualities, np.log(rates))(quality)
  return float(100.0 * (bpp / math.exp(float(log_rate)) - 1.0))


def quality_at_rate(anchor_doc, bpp, metric="psnr"):
  """The anchor curve's quality at `bpp` (PSNR, or MS-SSIM in dB).

  Quality is interpolated monotonically (PCHIP) as a function of log-rate;
  NaN when `bpp` lies outside the anchor's rates or the anchor has fewer
  than two usable points.
  """
  _metric_key(metric)
  rates, qualities, _ = curve(anchor_doc, metric)
  if (len(rates) < 2 or not _finite(bpp) or bpp <= 0 or
      not rates[0] <= bpp <= rates[-1] or len(set(rates)) < len(rates)):
    return math.nan
  from scipy import interpolate  # pylint: disable=g-import-not-at-top
  return float(interpolate.PchipInterpolator(np.log(rates), qualities)(
      math.log(bpp)))


def compare(anchor_doc, test_doc, metric="psnr", method=DEFAULT_METHOD,
            min_overlap=DEFAULT_MIN_OVERLAP):
  """BD values of one metric plus what is needed to judge them.

  Returns:
    dict with "bd_rate", "bd_quality" (NaN when not computable), "points"
    (usable anchor and test points), "overlap_quality", "overlap_rate" and
    "notes" (list of strings: warnings and per-point savings for short test
    curves).
  """
  name = METRICS[metric][1] if metric in METRICS else _metric_key(metric)
  rate_a, quality_a, dropped_a = curve(anchor_doc, metric)
  rate_t, quality_t, dropped_t = curve(test_doc, metric)
  report = {"bd_rate": math.nan, "bd_quality": math.nan,
            "points": (len(rate_a), len(rate_t)), "overlap_quality": math.nan,
            "overlap_rate": math.nan, "notes": []}
  notes = report["notes"]
  if not len(rate_a) or not len(rate_t):
    notes.append(f"no {name} values" + (" for the anchor" if not len(rate_a)
                                         else " for the test"))
    return report
  for side, dropped in (("anchor", dropped_a), ("test", dropped_t)):
    if dropped:
      notes.append(f"{dropped} {side} point(s) without {name} or not "
                   "monotone left out")
  report["overlap_quality"] = overlap_fraction(
      quality_a[0], quality_a[-1], quality_t[0], quality_t[-1])
  report["overlap_rate"] = overlap_fraction(
      math.log(rate_a[0]), math.log(rate_a[-1]), math.log(rate_t[0]),
      math.log(rate_t[-1]))
  if len(rate_a) < MIN_POINTS:
    notes.append(f"anchor has {len(rate_a)} {name} point(s), BD needs "
                 f"{MIN_POINTS}")
  if len(rate_t) < MIN_POINTS:
    notes.append(f"test has {len(rate_t)} {name} point(s), BD needs "
                 f"{MIN_POINTS}; rate difference at equal {name}: "
                 + _point_savings(anchor_doc, rate_t, quality_t, metric))
  if len(rate_a) < MIN_POINTS or len(rate_t) < MIN_POINTS:
    return report
  for axis, value in (("quality", report["overlap_quality"]),
                      ("rate", report["overlap_rate"])):
    if value < min_overlap:
      notes.append(f"WARNING: {name} curves overlap only {100 * value:.0f}% "
                   f"in {axis} (< {100 * min_overlap:.0f}%): unreliable")
  report["bd_rate"] = bd_rate(anchor_doc, test_doc, metric, method)
  report["bd_quality"] = bd_quality(anchor_doc, test_doc, metric, method)
  return report


def _point_savings(anchor_doc, rates, qualities_db, metric):
  parts = []
  for rate, quality_db in zip(rates, qualities_db):
    quality = quality_db
    if metric == "ms-ssim":  # back to linear MS-SSIM for the public function
      quality = 1.0 - 10.0 ** (-quality_db / 10.0)
    saving = rate_saving_at_equal_quality(anchor_doc, rate, quality, metric)
    shown = "out of the anchor's range" if math.isnan(saving) else \
        f"{saving:+.2f}%"
    parts.append(f"{shown} at {rate:.3f} bpp")
  return "; ".join(parts)


# ---------------------------------------------------------------------------
# Tables.


def _number(value, digits=2):
  if value is None or not math.isfinite(value):
    return "n/a"
  return f"{value:+.{digits}f}"


def markdown_table(anchor, tests, method=DEFAULT_METHOD,
                   min_overlap=DEFAULT_MIN_OVERLAP):
  """A Markdown table of BD values of several tests against one anchor.

  Args:
    anchor: (label, document).
    tests: list of (label, document).
    method: interpolation method ("akima", "pchip" or "cubic").
    min_overlap: overlap fraction below which a row is flagged.
  Returns:
    (table text, list of warning lines).
  """
  anchor_label, anchor_doc = anchor
  anchor_label = markdown.cell(anchor_label)
  lines = [
      f"BD metrics against anchor **{anchor_label}** (interpolation "
      f"{method}; negative BD-rate = fewer bits than the anchor at equal "
      "quality; MS-SSIM in dB = -10 log10(1 - MS-SSIM)).",
      "",
      "| test | anchor | points PSNR (anchor/test) | BD-rate PSNR (%) | "
      "BD-PSNR (dB) | BD-rate MS-SSIM (%) | BD-MS-SSIM (dB) | notes |",
      "|---|---|---|---|---|---|---|---|",
  ]
  warning_lines = []
  for label, document in tests:
    psnr = compare(anchor_doc, document, "psnr", method, min_overlap)
    msssim = compare(anchor_doc, document, "ms-ssim", method, min_overlap)
    notes = [f"PSNR: {n}" for n in psnr["notes"]]
    notes += [f"MS-SSIM: {n}" for n in msssim["notes"]]
    warning_lines += [f"{label} vs {anchor_label}: {n}" for n in notes
                      if n.split(": ", 1)[1].startswith("WARNING")]
    cell = markdown.cell("; ".join(notes))
    lines.append(
        f"| {markdown.cell(label)} | {anchor_label} | {psnr['points'][0]}/{psnr['points'][1]}"
        f" | {_number(psnr['bd_rate'])} | {_number(psnr['bd_quality'], 3)} | "
        f"{_number(msssim['bd_rate'])} | {_number(msssim['bd_quality'], 3)} | "
        f"{cell} |")
  return "\n".join(lines) + "\n", warning_lines


def at_rate_table(anchor, tests):
  """A Markdown table of each test point against the anchor at its rate:
  the anchor's PSNR and MS-SSIM interpolated at the point's bpp, the
  differences (positive = the test point is better) and the rate
  differences at equal quality (negative = fewer bits than the anchor).

  Args:
    anchor: (label, document).
    tests: list of (label, document).
  """
  anchor_label, anchor_doc = anchor
  anchor_label = markdown.cell(anchor_label)
  lines = [
      f"Each point against **{anchor_label}** at the same rate (quality "
      "interpolated over log-rate; MS-SSIM in dB = -10 log10(1 - MS-SSIM); "
      "positive difference = better than the anchor; negative rate = fewer "
      "bits than the anchor at equal quality).",
      "",
      f"| test | bpp | PSNR (dB) | {anchor_label} PSNR (dB) | difference "
      f"(dB) | MS-SSIM (dB) | {anchor_label} MS-SSIM (dB) | difference (dB) "
      "| rate at equal PSNR (%) | rate at equal MS-SSIM (%) |",
      "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for label, document in tests:
    results = document.get("results", {})
    rates = results.get("bpp", [])
    for i, rate in enumerate(rates):
      if rate is None or not _finite(rate):
        continue
      cells = [markdown.cell(label), f"{rate:.4f}"]
      savings = []
      for metric in ("psnr", "ms-ssim"):
        values = results.get(_metric_key(metric), [])
        value = values[i] if i < len(values) else None
        if value is None or not _finite(value):
          cells += ["n/a"] * 3
          savings.append("n/a")
          continue
        [quality] = _quality_values([value], metric)
        reference = quality_at_rate(anchor_doc, rate, metric)
        cells += [f"{quality:.2f}",
                  "n/a" if math.isnan(reference) else f"{reference:.2f}",
                  _number(quality - reference)]
        savings.append(_number(rate_saving_at_equal_quality(
            anchor_doc, rate, value, metric)))
      lines.append("| " + " | ".join(cells + savings) + " |")
  return "\n".join(lines) + "\n"


def load_document(path):
  """Reads any RD file the project knows (ours, CompressAI JSON, TFC text)."""
  from tfc_repro import published  # pylint: disable=g-import-not-at-top
  return published.load(path)


def label_for(path):
  """A short row label for a results file: its name without extension."""
  return os.path.splitext(os.path.basename(path))[0]


def main(argv):
  parser = argutil.ArgumentParser(
      prog="python -m tfc_repro.bdrate",
      description="Print a Markdown table of BD-rate (%) and BD-quality (dB) "
      "for PSNR and MS-SSIM (dB) of each TEST file against the ANCHOR file. "
      "Files: tfc-repro or CompressAI results JSON, or TFC results text.")
  parser.add_argument("anchor", help="anchor RD file (e.g. results/kodak/"
                      "jpeg.json)")
  parser.add_argument("tests", nargs="+", help="RD files to compare")
  parser.add_argument("--method", default=DEFAULT_METHOD,
                      choices=("akima", "pchip", "cubic"),
                      help="interpolation (default %(default)s)")
  parser.add_argument("--min_overlap", type=float, default=DEFAULT_MIN_OVERLAP,
                      help="warn when less than this fraction of the shorter "
                      "curve's range is shared (default %(default)s)")
  parser.add_argument("--output", default=None,
                      help="also write the table to this Markdown file")
  parser.add_argument("--at_rate", action="store_true",
                      help="instead of BD values, compare each point of the "
                      "tests with the anchor at the same rate (for tests of "
                      "one or a few points)")
  args = parser.parse_args(argv)
  if not 0 <= args.min_overlap <= 1:
    parser.error("--min_overlap must be between 0 and 1")
  if args.output:  # never over an input
    for path in [args.anchor] + args.tests:
      argutil.check_output(path, args.output)
  anchor = (label_for(args.anchor), load_document(args.anchor))
  tests = [(label_for(p), load_document(p)) for p in args.tests]
  unrecorded = results_lib.check_image_sets(
      zip([args.anchor] + args.tests, [anchor[1]] + [d for _, d in tests]))
  if args.at_rate:
    table, warning_lines = at_rate_table(anchor, tests), []
  else:
    table, warning_lines = markdown_table(anchor, tests, args.method,
                                          args.min_overlap)
  if unrecorded:
    note = (f"the image set of {', '.join(unrecorded)} is not recorded: "
            "compared as if measured on the same images as the others.")
    table += f"\nNote: {note}\n"
    warning_lines.append(note)
  for line in warning_lines:
    print(f"warning: {line}", file=sys.stderr)
  print(table, end="")
  if args.output:
    directory = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(directory, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
      f.write(table)
  return 0


if __name__ == "__main__":
  sys.exit(argutil.run(main, "python -m tfc_repro.bdrate"))
