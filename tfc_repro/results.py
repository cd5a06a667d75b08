"""Rate-distortion result files in CompressAI's JSON schema, plus what made them.

A results file holds one RD curve:

    {"name": ..., "description": ...,
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...],
                 "encoding_time": [...], "decoding_time": [...], ...},
     "points": [{"metadata": {...}, "per_image": [{"image": ..., "bpp": ...}],
                 "left_out_of_means": {"psnr-rgb": {"kodim05.png":
                                                    "infinite"}}}],
     "dataset": ..., "machine": {...}, "command": ...}

`results` is exactly CompressAI's layout (one entry per model or quality, means
over images), so CompressAI's and tfc-repro's plotting tools read each other's
files. `points` keeps the per-image values and each point's metadata (system,
lambda, training steps and data, codec quality, ...). Non-finite numbers are
written as null. A mean is over the images with a finite value; a point whose
mean leaves some image out (a lossless image's infinite PSNR, an MS-SSIM
undefined on a small image) names them in `left_out_of_means`, which complete
points do not have.
"""

import json
import math
import os
import platform
import re
import sys

from tfc_repro import argutil
from tfc_repro import data
from tfc_repro import files

# Keys averaged over images and listed in "results", in this order.
CORE_KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
             "decoding_time")
# Point metadata the project reads: key -> (the JSON types it may have,
# what they are called); null is always allowed.
_NUMBER = ((int, float), "a number")
_TEXT = ((str,), "a string")
METADATA_TYPES = {
    "lmbda": _NUMBER, "train_cpu_seconds": _NUMBER, "steps": _NUMBER,
    "quality": _NUMBER, "config": ((dict,), "an object"),
    "init_from": ((dict, str), "an object or a string"), "system": _TEXT,
    "codec": _TEXT, "model_id": _TEXT, "zoo_name": _TEXT,
    "model_path": _TEXT,
}
# Numbers of a point's `metadata.config` that reports print.
CONFIG_NUMBERS = ("lmbda", "alpha", "source_scale")


class DocumentError(ValueError):
  """A results document that cannot be used: names its file and the field."""


def read_json(path):
  """The JSON value of the file `path`; every error names the file."""
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise DocumentError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})"
                        ) from None
  except UnicodeDecodeError as e:
    raise DocumentError(f"{path}: not UTF-8 text (byte {e.start})") from None
  except RecursionError:
    raise DocumentError(f"{path}: JSON nested too deeply") from None


def _json_type(value):
  """The JSON name of a value's type, for messages."""
  if value is None:
    return "null"
  if isinstance(value, bool):
    return "a boolean"
  if isinstance(value, (int, float)):
    return f"the number {value!r}"
  if isinstance(value, str):
    return f"the string {value[:40]!r}"
  return "a list" if isinstance(value, list) else "an object"


def is_number(value):
  """Whether a JSON value is a number (not a boolean)."""
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite_or_null(value):
  return value is None or (is_number(value) and math.isfinite(value))


def check_document(document, path, required=()):
  """Raises `DocumentError` (naming `path` and the field) unless `document`
  is a results document in CompressAI's schema: an object whose `results`
  maps names to lists of finite numbers or nulls, all as long as
  `results.bpp`; `name`, `description`, `dataset` and `command` strings (or
  absent; those named in `required` must be present); `points`, if present,
  a list of objects, each with a `per_image` list of objects (an `image`
  name, numbers, booleans) and an object `metadata` (see METADATA_TYPES).
  Returns the document."""

  def fail(field, problem):
    raise DocumentError(f"{path}: {field} {problem}")

  if not isinstance(document, dict):
    raise DocumentError(f"{path}: not a results document (the file holds "
                        f"{_json_type(document)}, not an object)")
  for key in required:
    if document.get(key) is None:
      fail(key, "is missing")
  for key in ("name", "description", "dataset", "command"):
    if key in document and not isinstance(document[key], str) and not (
        key in ("dataset", "command") and document[key] is None):
      fail(key, f"is {_json_type(document[key])}, not a string")
  results = document.get("results")
  if results is None or (isinstance(results, dict) and "bpp" not in results):
    raise DocumentError(f"{path}: no results.bpp (not an RD results file)")
  if not isinstance(results, dict):
    fail("results", f"is {_json_type(results)}, not an object of lists")
  for key, values in results.items():
    if not isinstance(values, list):
      fail(f"results.{key}", f"is {_json_type(values)}, not a list")
    if len(values) != len(results["bpp"]):
      fail(f"results.{key}", f"has {len(values)} values but results.bpp has "
           f"{len(results['bpp'])}")
    for i, value in enumerate(values):
      if not _finite_or_null(value):
        fail(f"results.{key}[{i}]", f"is {_json_type(value)}, not a finite "
             "number")
  points = document.get("points")
  if points is None:
    return document
  if not isinstance(points, list):
    fail("points", f"is {_json_type(points)}, not a list")
  for i, point in enumerate(points):
    _check_point(point, f"points[{i}]", fail)
  return document


def _check_point(point, field, fail):
  """Checks one point of `check_document`."""
  if not isinstance(point, dict):
    fail(field, f"is {_json_type(point)}, not an object")
  metadata = point.get("metadata", {})
  if not isinstance(metadata, dict):
    fail(f"{field}.metadata", f"is {_json_type(metadata)}, not an object")
  for key, (types, kind) in METADATA_TYPES.items():
    value = metadata.get(key)
    if value is not None and (not isinstance(value, types) or isinstance(
        value, bool) or (is_number(value) and not math.isfinite(value))):
      fail(f"{field}.metadata.{key}", f"is {_json_type(value)}, not {kind}")
  config = metadata.get("config") or {}
  for key in CONFIG_NUMBERS:
    if not _finite_or_null(config.get(key)):
      fail(f"{field}.metadata.config.{key}",
           f"is {_json_type(config[key])}, not a number")
  left_out = point.get("left_out_of_means", {})
  if not (isinstance(left_out, dict) and all(
      isinstance(images, dict) and all(isinstance(why, str)
                                       for why in images.values())
      for images in left_out.values())):
    fail(f"{field}.left_out_of_means", "is not an object of {image: why} "
         "objects")
  rows = point.get("per_image")
  if not isinstance(rows, list):
    fail(f"{field}.per_image", "is missing" if rows is None else
         f"is {_json_type(rows)}, not a list")
  for j, row in enumerate(rows):
    where = f"{field}.per_image[{j}]"
    if not isinstance(row, dict):
      fail(where, f"is {_json_type(row)}, not an object")
    for key, value in row.items():
      if key == "image":
        if not isinstance(value, str):
          fail(f"{where}.image", f"is {_json_type(value)}, not a string")
      elif not (value is None or isinstance(value, bool) or
                is_number(value)):
        fail(f"{where}.{key}", f"is {_json_type(value)}, not a number")


def _mean(values):
  finite = [v for v in values if v is not None and math.isfinite(v)]
  if not finite:
    # All undefined (NaN) or all lossless (inf): keep that information.
    if any(v is not None and math.isinf(v) for v in values):
      return math.inf
    return math.nan
  return sum(finite) / len(finite)


def _numeric_keys(per_image):
  """The keys of the per-image dicts that hold numbers, in order."""
  keys = []
  for row in per_image:
    for key, value in row.items():
      if is_number(value) and key not in keys:
        keys.append(key)
  return keys


def summarize(per_image):
  """Means over images of every numeric key of the per-image dicts (over
  the images with a finite value: see `left_out_of_means`)."""
  return {key: _mean([row.get(key) for row in per_image])
          for key in _numeric_keys(per_image)}


def left_out_of_means(per_image):
  """{key: {image: "infinite" or "undefined"}} of the images that a mean of
  `summarize` leaves out (a lossless image's infinite PSNR, an MS-SSIM
  undefined on an image too small for it, a value missing); only the keys
  that leave some image out."""
  left_out = {}
  for key in _numeric_keys(per_image):
    for index, row in enumerate(per_image):
      value = row.get(key)
      if is_number(value) and math.isfinite(value):
        continue
      image = row.get("image") or f"image {index + 1}"
      left_out.setdefault(key, {})[image] = (
          "infinite" if is_number(value) and math.isinf(value)
          else "undefined")
  return left_out


def left_out_notes(point):
  """One line per mean of a results point that leaves images out, e.g.
  "psnr-rgb: mean of 23 of 24 images (left out: kodim05.png infinite)"."""
  total = len(point["per_image"])
  return [f"{key}: mean of {total - len(images)} of {total} images (left "
          "out: " + ", ".join(f"{image} {why}" for image, why in images.items())
          + ")" for key, images in point.get("left_out_of_means", {}).items()]


def _document_point(point):
  """A point as a results document holds it: its metadata, its per-image
  values and, where a mean leaves images out, which (`left_out_of_means`)."""
  document_point = {"metadata": point.get("metadata", {}),
                    "per_image": point["per_image"]}
  left_out = left_out_of_means(point["per_image"])
  # A point read back from a file keeps why (its values are null there).
  for key, images in point.get("left_out_of_means", {}).items():
    for image, why in images.items():
      if image in left_out.get(key, {}):
        left_out[key][image] = why
  if left_out:
    document_point["left_out_of_means"] = left_out
  return document_point


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
      "points": [_document_point(p) for p in points],
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


def image_set(document):
  """The image set a document records, as (name, number of images or None):
  "kodak (24 images)" -> ("kodak", 24), TFC's "kodak" -> ("kodak", None);
  None when it records none."""
  dataset = document.get("dataset")
  if not isinstance(dataset, str) or not dataset.strip():
    return None
  counted = re.fullmatch(r"(.*?)\s*\((\d+) images?\)", dataset.strip())
  if counted:
    return counted.group(1).lower(), int(counted.group(2))
  return dataset.strip().lower(), None


def check_image_sets(named_documents):
  """Refuses curves of different image sets, as far as they record theirs:
  a ValueError names the first two that differ (in name, or in number of
  images where both give it). Returns the names of the documents that
  record none.

  Args:
    named_documents: (name, document) pairs, e.g. (path, document).
  """
  recorded, unrecorded = [], []
  for name, document in named_documents:
    found = image_set(document)
    if found is None:
      unrecorded.append(name)
      continue
    for other_name, other in recorded:
      counts_differ = None not in (found[1], other[1]) and (
          found[1] != other[1])
      if found[0] != other[0] or counts_differ:
        raise ValueError(
            f"{name} is measured on {document['dataset']}, {other_name} on "
            f"another image set ({other[0]}"
            + (f", {other[1]} images" if other[1] is not None else "")
            + "): curves of different image sets are not compared")
    recorded.append((name, found))
  return unrecorded


# The settings in which the points of one curve differ: its quality (a
# model's λ or quality level, a codec's quality), wherever it is recorded.
QUALITY_SETTINGS = ("lmbda", "quality", "paper_lambda")


def curve_settings(metadata):
  """What every point of one curve shares, from a point's metadata: its
  system or codec and the configuration without the quality setting,
  flattened ({"system": ..., "codec": ..., "config.alpha": ..., ...})."""
  settings = {"system": metadata.get("system"),
              "codec": metadata.get("codec")}

  def flatten(prefix, config):
    for key, value in sorted(config.items()):
      if key in QUALITY_SETTINGS:
        continue
      if isinstance(value, dict):
        flatten(f"{prefix}{key}.", value)
      else:
        settings[f"{prefix}{key}"] = value
  flatten("config.", metadata.get("config") or {})
  return settings


def _check_one_curve(documents, names):
  """Refuses points of different systems or configurations (beyond the
  quality setting), naming the two files and the first field that
  differs."""
  first = None
  for document, name in zip(documents, names):
    for point in document["points"]:
      settings = curve_settings(point.get("metadata", {}))
      if first is None:
        first = settings, name
        continue
      for field in sorted(set(settings) | set(first[0])):
        mine, theirs = settings.get(field), first[0].get(field)
        if mine != theirs:
          raise ValueError(
              f"{name} is not a point of the curve of {first[1]}: its "
              f"{field} is {json.dumps(mine)}, {json.dumps(theirs)} there "
              "(the points of a curve differ only in "
              f"{', '.join(QUALITY_SETTINGS)})")


def merged_document(documents, name, command=None, paths=None):
  """One results document of the points of several (e.g. each model of a
  curve evaluated on its own as it finished training), ordered by rate. The
  documents must share their dataset, and their points the system and
  configuration but for the quality setting (`curve_settings`); the
  description is the first's. Each point's metadata keeps the command and
  machine that evaluated it (`evaluated_by`, `evaluated_on`). `paths`: the
  documents' files, for messages."""
  if not documents:
    raise ValueError("no results to merge")
  names = paths or [f"document {i + 1}" for i in range(len(documents))]
  datasets = {d.get("dataset") for d in documents}
  if len(datasets) > 1:
    raise ValueError(
        f"results of different datasets: {sorted(map(str, datasets))}")
  _check_one_curve(documents, names)
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


def read_rd_json(path, required=()):
  """Reads a results file (tfc-repro's or CompressAI's), checked by
  `check_document` (`required`: fields that must be present); nulls in
  `results` become NaN."""
  document = check_document(read_json(path), path, required)
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
  command = argutil.command_line(
      "tfc_repro.results", sys.argv[1:] if argv is None else argv)
  try:
    for path in args.inputs:
      argutil.check_output(path, args.output)
    # Its points, and the description the merged curve keeps.
    documents = [read_rd_json(path, required=("points", "description"))
                 for path in args.inputs]
    write_document(args.output, merged_document(
        documents, args.name, command=command, paths=args.inputs))
  except (OSError, ValueError) as e:
    parser.exit(1, f"error: {argutil.first_line(e)}\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
