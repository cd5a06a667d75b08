"""Rate-distortion result files in CompressAI's JSON schema, plus what made them.

A results file holds one RD curve:

    {"name": ..., "description": ...,
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...],
                 "encoding_time": [...], "decoding_time": [...], ...},
     "points": [{"metadata": {...}, "per_image": [{"image": ..., "bpp": ...}]}],
     "dataset": ..., "machine": {...}, "command": ...}

`results` is exactly CompressAI's layout (one entry per model or quality, means
over images), so CompressAI's and tfc-repro's plotting tools read each other's
files. `points` keeps the per-image values and each point's metadata (system,
lambda, training steps and data, codec quality, ...). Non-finite numbers are
written as null.
"""

import json
import math
import os
import platform
import sys

# Keys averaged over images and listed in "results", in this order.
CORE_KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
             "decoding_time")


def _mean(values):
  finite = [v for v in values if v is not None and math.isfinite(v)]
  if not finite:
    # All undefined (NaN) or all lossless (inf): keep that information.
    if any(v is not None and math.isinf(v) for v in values):
      return math.inf
    return math.nan
  return sum(finite) / len(finite)


def summarize(per_image):
  """Means over images of every numeric key of the per-image dicts."""
  keys = []
  for row in per_image:
    for key, value in row.items():
      if isinstance(value, (int, float)) and not isinstance(value, bool):
        if key not in keys:
          keys.append(key)
  return {key: _mean([row.get(key) for row in per_image]) for key in keys}


def _clean(value):
  """Replaces non-finite floats (recursively) by None for strict JSON."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {k: _clean(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_clean(v) for v in value]
  return value


def machine_info():
  """A short description of the machine that measured the times."""
  return {
      "platform": platform.platform(),
      "processor": platform.processor() or platform.machine(),
      "cpu_count": os.cpu_count(),
      "python": platform.python_version(),
  }


def rd_document(name, description, points, dataset=None, command=None):
  """Builds a results document from points.

  Args:
    name: the curve's name (e.g. "bls2017" or "jpeg").
    description: one line saying what was measured.
    points: list of dicts with "per_image" (list of dicts of per-image values)
      and optional "metadata" (dict); one point per model or codec quality.
    dataset: what the images were (e.g. "kodak (24 images)").
    command: the command line that made the file.
  Returns:
    A JSON-serialisable dict.
  """
  summaries = [summarize(p["per_image"]) for p in points]
  keys = list(CORE_KEYS)
  for summary in summaries:
    keys.extend(k for k in summary if k not in keys)
  results = {key: [s.get(key, math.nan) for s in summaries] for key in keys}
  document = {
      "name": name,
      "description": description,
      "results": results,
      "points": [{"metadata": p.get("metadata", {}),
                  "per_image": p["per_image"]} for p in points],
      "dataset": dataset,
      "machine": machine_info(),
      "command": command if command is not None else " ".join(sys.argv),
  }
  return _clean(document)


def write_rd_json(path, *args, **kwargs):
  """Writes `rd_document(*args, **kwargs)` to `path`; returns the document."""
  document = rd_document(*args, **kwargs)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  with open(path, "w") as f:
    json.dump(document, f, indent=2)
    f.write("\n")
  return document


def read_rd_json(path):
  """Reads a results file (tfc-repro's or CompressAI's); nulls become NaN."""
  with open(path) as f:
    document = json.load(f)
  if "results" not in document or "bpp" not in document["results"]:
    raise ValueError(f"{path}: not an RD results file (no results.bpp)")
  document["results"] = {
      k: [math.nan if v is None else v for v in values]
      for k, values in document["results"].items()}
  return document
