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

from tfc_repro import argutil
from tfc_repro import data
from tfc_repro import files

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


def running_command():
  """The command line of the running program as a user types it: `python -m
  MODULE ARGS` (quoted) for a module run with -m, never the module's path on
  the machine that ran it."""
  spec = getattr(sys.modules.get("__main__"), "__spec__", None)
  if spec is not None and spec.name:
    return argutil.command_line(spec.name.removesuffix(".__main__"),
                                sys.argv[1:])
  if sys.argv and os.path.isfile(sys.argv[0]):  # python SCRIPT ARGS
    return argutil.command_line_of(
        ["python", os.path.relpath(sys.argv[0])] + sys.argv[1:])
  return argutil.command_line_of(["python"] + sys.argv)


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
      "command": command if command is not None else running_command(),
  }
  return _clean(document)


def write_rd_json(path, *args, **kwargs):
  """Writes `rd_document(*args, **kwargs)` to `path`; returns the document."""
  return write_document(path, rd_document(*args, **kwargs))


def write_document(path, document):
  """Writes a results document to `path` (creating its folder); returns it.
  Paths in the data folder are written as $TFC_REPRO_DATA/…"""
  document = data.portable(_clean(document))
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  # Whole or not at all: a file that exists is complete (scripts take an
  # existing results file as work done).
  with files.replaced_atomically(path) as partial:
    with open(partial, "w") as f:
      json.dump(document, f, indent=2)
      f.write("\n")
  return document


def merged_document(documents, name, command=None):
  """One results document of the points of several (e.g. each model of a
  curve evaluated on its own as it finished training), ordered by rate. The
  documents must share their dataset; the description is the first's. Each
  point's metadata keeps the command and machine that evaluated it
  (`evaluated_by`, `evaluated_on`)."""
  if not documents:
    raise ValueError("no results to merge")
  datasets = {d.get("dataset") for d in documents}
  if len(datasets) > 1:
    raise ValueError(
        f"results of different datasets: {sorted(map(str, datasets))}")
  points = []
  for document in documents:
    for point in document["points"]:
      metadata = dict(point.get("metadata", {}))
      metadata.setdefault("evaluated_by", document.get("command"))
      metadata.setdefault("evaluated_on", document.get("machine"))
      points.append(dict(point, metadata=metadata))
  ids = [p["metadata"]["model_id"] for p in points
         if p["metadata"].get("model_id")]
  if len(set(ids)) < len(ids):
    raise ValueError("the same model's point is given twice")

  def rate(point):
    mean = _mean([r.get("bpp") for r in point["per_image"]])
    return mean if math.isfinite(mean) else math.inf
  points.sort(key=rate)
  return rd_document(name, documents[0]["description"], points,
                     dataset=documents[0].get("dataset"), command=command)


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


def main(argv=None):
  parser = argutil.ArgumentParser(
      prog="python -m tfc_repro.results",
      description="Tools for results files.")
  commands = parser.add_subparsers(dest="command", required=True)
  merge = commands.add_parser(
      "merge", help="Writes one RD curve made of the points of several "
                    "results files (e.g. one per model, each evaluated as "
                    "it finished training), ordered by rate.")
  merge.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="Results files (JSON) of the same dataset.")
  merge.add_argument("--output", required=True, help="The merged file.")
  merge.add_argument("--name", required=True, help="The curve's name.")
  args = parser.parse_args(argv)
  documents = []
  for path in args.inputs:
    try:
      documents.append(read_rd_json(path))
      if not isinstance(documents[-1].get("points"), list):
        raise ValueError("no points")
    except (OSError, ValueError, AttributeError, TypeError) as e:
      parser.exit(1, f"error: {path}: {argutil.first_line(e)}\n")
  command = argutil.command_line(
      "tfc_repro.results", sys.argv[1:] if argv is None else argv)
  try:
    write_document(args.output,
                   merged_document(documents, args.name, command=command))
  except (OSError, ValueError, KeyError, TypeError) as e:
    parser.exit(1, f"error: {argutil.first_line(e)}\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
