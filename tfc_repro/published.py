"""Published rate-distortion curves: one loader for TFC's text files and JSON.

Two formats are read into the dict shape of `tfc_repro.results.read_rd_json`:

  * TensorFlow Compression's `results/image_compression/<dataset>/<METRIC>/
    <method>.txt`: '#' comment header naming the method and the metric, then
    "bpp, value" lines. The same method's file for the other metric of the
    same colour space (PSNR_sRGB_RGB <-> MS-SSIM_sRGB_RGB) is merged in when
    its bpp column is identical.
  * CompressAI's `results/image/<dataset>/*.json` (and tfc-repro's own JSON,
    and the hand-transcribed tables in results/published/): `results` with
    `bpp`, `psnr-rgb`, `ms-ssim-rgb` or `ms-ssim-db-rgb`; lossy-vae's
    `results/kodak/*.json`, whose `psnr` is the RGB PSNR (the mean over the
    images of each image's PSNR on its 8-bit RGB values), with the lists
    under `results` or, as in `kodak-vtm18.0.json`, at the top level.

Every loaded document has `"published": True` and `"source"` (the file). The
curves the figures draw are listed in `CURVES`; their files are byte-for-byte
copies kept in results/published/ (see its README.md), made with

  python -m tfc_repro.published --copy_from PUBLISHED_DIR \\
      --copy_to results/published

where PUBLISHED_DIR is a folder holding the published collections (tfc/,
compressai/, lossy-vae/) in their own layout.

`python -m tfc_repro.published FILE...` prints what a file holds.
"""

import math
import os
import re
import shutil
import sys

from tfc_repro import argutil
from tfc_repro import results as results_lib

# results/published/ of this repository.
DEFAULT_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results",
    "published")

# Metric folder of TFC's results -> key in the results dict.
_TFC_METRIC_DIRS = {
    "PSNR_sRGB_RGB": "psnr-rgb",
    "MS-SSIM_sRGB_RGB": "ms-ssim-rgb",
    "PSNR_sRGB_Y": "psnr-y",
    "MS-SSIM_sRGB_Y": "ms-ssim-y",
}
# The same metrics as TFC's headers name them.
_TFC_METRIC_NAMES = {
    "PSNR/sRGB/R'G'B'": "psnr-rgb",
    "MS-SSIM/sRGB/R'G'B'": "ms-ssim-rgb",
    "PSNR/sRGB/Y'": "psnr-y",
    "MS-SSIM/sRGB/Y'": "ms-ssim-y",
}
_TFC_TITLE = re.compile(
    r'^#\s*Aggregate rate-distortion data for "(?P<name>.*)" on '
    r'(?P<dataset>[^.]+)\.?\s*$')
_TFC_METRIC = re.compile(r"^#\s*The second column contains (?P<metric>\S+) "
                         r"values\.?\s*$")

_TFC_KODAK = "tfc/kodak/{metric}/{name}.txt"


def _tfc(name, metrics=("PSNR_sRGB_RGB", "MS-SSIM_sRGB_RGB")):
  return tuple(_TFC_KODAK.format(metric=m, name=name) for m in metrics)


# Published curves used by tfc_repro.figures: key -> (label, files). The
# first file is the one to load; the others are companions it merges (TFC's
# other metric) and are copied along with it.
CURVES = {
    "balle2017-mse": ("Ballé 2017 (MSE)", _tfc("balle-2017-iclr-opt-mse")),
    "balle2017-msssim": ("Ballé 2017 (MS-SSIM)",
                         _tfc("balle-2017-iclr-opt-msssim")),
    "balle2018-hyperprior-mse": ("Ballé 2018 hyperprior (MSE)",
                                 _tfc("balle-2018-iclr-opt-mse")),
    "balle2018-hyperprior-msssim": ("Ballé 2018 hyperprior (MS-SSIM)",
                                    _tfc("balle-2018-iclr-opt-msssim")),
    "minnen2018-mse": ("Minnen 2018 (MSE)",
                       _tfc("minnen-2018-neurips-opt-mse")),
    "minnen2018-msssim": ("Minnen 2018 (MS-SSIM)",
                          _tfc("minnen-2018-neurips-opt-msssim")),
    "lee2019-tfc": ("Lee 2019 (MSE, TFC file)",
                    _tfc("lee-2019-context-adaptive", ("PSNR_sRGB_RGB",))),
    "lee2019-mse": ("Lee 2019 (MSE)", ("lee2019/lee2019-mse.json",)),
    "lee2019-ms-ssim": ("Lee 2019 (MS-SSIM)",
                        ("lee2019/lee2019-ms-ssim.json",)),
    "jpeg420": ("JPEG 4:2:0 (TFC)", _tfc("jpeg420")),
    "j2k-opj": ("JPEG 2000 OpenJPEG (TFC)", _tfc("j2k-opj5")),
    "webp": ("WebP (TFC)", _tfc("webp")),
    "bpg444": ("BPG 4:4:4 (TFC)", _tfc("bpg444")),
    "bpg420": ("BPG 4:2:0 (TFC)", _tfc("bpg420")),
    "compressai-bmshj2018-factorized-official": (
        "bmshj2018-factorized official (CompressAI)",
        ("compressai/paper-bmshj2018-factorized.json",)),
    "compressai-bmshj2018-hyperprior-official": (
        "bmshj2018-hyperprior official (CompressAI)",
        ("compressai/paper-bmshj2018-hyperprior.json",)),
    "compressai-bmshj2018-factorized-mse": (
        "CompressAI bmshj2018-factorized (MSE)",
        ("compressai/compressai-bmshj2018-factorized_mse_cuda.json",)),
    "compressai-bmshj2018-factorized-ms-ssim": (
        "CompressAI bmshj2018-factorized (MS-SSIM)",
        ("compressai/compressai-bmshj2018-factorized_ms-ssim_cuda.json",)),
    "compressai-bmshj2018-hyperprior-mse": (
        "CompressAI bmshj2018-hyperprior (MSE)",
        ("compressai/compressai-bmshj2018-hyperprior_mse_cuda.json",)),
    "compressai-bmshj2018-hyperprior-ms-ssim": (
        "CompressAI bmshj2018-hyperprior (MS-SSIM)",
        ("compressai/compressai-bmshj2018-hyperprior_ms-ssim_cuda.json",)),
    "compressai-mbt2018-mean-mse": (
        "CompressAI mbt2018-mean (MSE)",
        ("compressai/compressai-mbt2018-mean_mse_cuda.json",)),
    "compressai-mbt2018-mse": (
        "CompressAI mbt2018 (MSE)",
        ("compressai/compressai-mbt2018_mse_cuda.json",)),
    "compressai-cheng2020-attn-mse": (
        "CompressAI cheng2020-attn (MSE)",
        ("compressai/compressai-cheng2020-attn_mse_cuda.json",)),
    "compressai-jpeg": ("JPEG (CompressAI)", ("compressai/jpeg.json",)),
    "compressai-jpeg2000": ("JPEG 2000 (CompressAI)",
                            ("compressai/jpeg2000.json",)),
    "compressai-webp": ("WebP (CompressAI)", ("compressai/webp.json",)),
    "compressai-bpg444": ("BPG 4:4:4 (CompressAI)",
                          ("compressai/bpg_444_x265_ycbcr.json",)),
    "qres-vae": ("QRes-VAE 34M (Duan et al. 2023)",
                 ("lossy-vae/kodak-qres34m.json",)),
    # VVC intra: CompressAI does not name the VTM version of its curve;
    # lossy-vae's is VTM 18.0, 4:4:4, PSNR only.
    "vtm-compressai": ("VTM intra (CompressAI)", ("compressai/vtm.json",)),
    "vtm18": ("VTM 18.0 intra 4:4:4 (lossy-vae)",
              ("lossy-vae/kodak-vtm18.0.json",)),
}

# The regularizer paper's BD-rate tables (not an RD curve).
REGULARIZED_BDRATE = "regularized/regularized-2024-bdrate.json"

# Its tables: {domain or data set: {backbone: BD-rate}}.
REGULARIZED_TABLES = ("regularized_vs_unregularized",
                      "reproduced_baseline_vs_compressai_pretrained")

# Files in results/published/ that are ours (transcribed), not copies.
TRANSCRIBED = ("lee2019/lee2019-mse.json", "lee2019/lee2019-ms-ssim.json",
               REGULARIZED_BDRATE)


# A published file that cannot be read, with a one-line reason naming it:
# the error of every results document.
PublishedError = results_lib.DocumentError


# ---------------------------------------------------------------------------
# TFC text files.


def _parse_tfc_text(path):
  """Returns (name, dataset, metric key or None, [(bpp, value), ...])."""
  name = dataset = metric = None
  rows = []
  with open(path, encoding="utf-8") as f:
    try:
      lines = f.readlines()
    except UnicodeDecodeError as e:
      raise PublishedError(f"{path}: not UTF-8 text (byte {e.start})"
                           ) from None
    for number, line in enumerate(lines, 1):
      line = line.strip()
      if not line:
        continue
      if line.startswith("#"):
        title = _TFC_TITLE.match(line)
        if title:
          name, dataset = title.group("name"), title.group("dataset")
        column = _TFC_METRIC.match(line)
        if column:
          metric = _TFC_METRIC_NAMES.get(column.group("metric"))
        continue
      fields = [x.strip() for x in line.split(",")]
      try:
        if len(fields) != 2:
          raise ValueError
        rows.append((float(fields[0]), float(fields[1])))
      except ValueError:
        raise PublishedError(f"{path}:{number}: expected 'bpp, value', got "
                             f"{line[:40]!r}") from None
  if not rows:
    raise PublishedError(f"{path}: no data rows")
  return name, dataset, metric, rows


def _tfc_metric(path, header_metric):
  folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
  metric = header_metric or _TFC_METRIC_DIRS.get(folder)
  if metric is None:
    raise PublishedError(f"{path}: cannot tell which metric the second column "
                         "holds (no header line and unknown folder)")
  return metric


def _tfc_companions(path, metric):
  """Same method's files for the other metric of the same colour space."""
  directory = os.path.dirname(os.path.abspath(path))
  parent, folder = os.path.split(directory)
  space = folder.rsplit("_", 1)[-1] if "_" in folder else None
  companions = []
  for other, other_metric in _TFC_METRIC_DIRS.items():
    if other_metric == metric or other.rsplit("_", 1)[-1] != space:
      continue
    candidate = os.path.join(parent, other, os.path.basename(path))
    if os.path.isfile(candidate):
      companions.append(candidate)
  return companions


def load_tfc_text(path, merge=True):
  """Loads one TFC results text file (plus its companion metric file)."""
  name, dataset, header_metric, rows = _parse_tfc_text(path)
  metric = _tfc_metric(path, header_metric)
  bpp = [r[0] for r in rows]
  results = {"bpp": bpp, metric: [r[1] for r in rows]}
  sources = [path]
  notes = []
  for companion in (_tfc_companions(path, metric) if merge else []):
    _, _, other_header, other_rows = _parse_tfc_text(companion)
    other_metric = _tfc_metric(companion, other_header)
    other_bpp = [r[0] for r in other_rows]
    if len(other_bpp) == len(bpp) and all(
        math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        for a, b in zip(bpp, other_bpp)):
      results[other_metric] = [r[1] for r in other_rows]
      sources.append(companion)
    else:
      notes.append(f"{companion} not merged: its bpp column differs")
  label = name or os.path.splitext(os.path.basename(path))[0]
  return {
      "name": label,
      "description": f'TFC results: "{label}" on {dataset or "?"}',
      "results": results,
      "dataset": dataset,
      "published": True,
      "source": path,
      "sources": sources,
      "notes": notes,
  }


# ---------------------------------------------------------------------------
# JSON files.


def _ms_ssim_from_db(value):
  if value is None or not math.isfinite(value):
    return math.nan
  return 1.0 - 10.0 ** (-value / 10.0)


def load_json(path):
  """Loads a CompressAI-style JSON file, checked by
  `results.check_document` (nulls become NaN)."""
  document = results_lib.read_json(path)
  if isinstance(document, dict) and "results" not in document and isinstance(
      document.get("bpp"), list):  # lossy-vae's flat files
    flat = {k: v for k, v in document.items() if isinstance(v, list)}
    document = {k: v for k, v in document.items() if k not in flat}
    document["results"] = flat
  results_lib.check_document(document, path)
  results = {k: [math.nan if v is None else v for v in values]
             for k, values in document["results"].items()}
  if "psnr-rgb" not in results and "psnr" in results:
    # lossy-vae's files: "psnr" is the RGB PSNR.
    results["psnr-rgb"] = results["psnr"]
  if "ms-ssim-rgb" not in results and "ms-ssim-db-rgb" in results:
    results["ms-ssim-rgb"] = [_ms_ssim_from_db(v)
                              for v in results["ms-ssim-db-rgb"]]
  loaded = dict(document)
  loaded.update({"results": results, "published": True, "source": path,
                 "sources": [path], "notes": []})
  loaded.setdefault("name", os.path.splitext(os.path.basename(path))[0])
  loaded.setdefault("description", "")
  return loaded


def load(path, merge=True):
  """Loads a published curve from a TFC text file or a JSON file."""
  if not os.path.exists(path):
    raise PublishedError(f"no such file: {path}")
  if path.endswith(".json"):
    return load_json(path)
  return load_tfc_text(path, merge=merge)


def curve_path(key, directory=None):
  """The file of one of the `CURVES` in `directory` (default
  results/published), or None for an unknown key."""
  if key not in CURVES:
    return None
  return os.path.join(directory or DEFAULT_DIR, CURVES[key][1][0])


def load_curve(key, directory=None):
  """Loads one of the `CURVES` from `directory` (default results/published)."""
  path = curve_path(key, directory)
  if path is None:
    raise PublishedError(f"unknown published curve {key!r}")
  label = CURVES[key][0]
  document = load(path)
  document["label"] = f"{label} (published)"
  document["key"] = key
  return document


def load_regularized_bdrate(directory=None):
  """The regularizer paper's published BD-rate tables (percent)."""
  path = os.path.join(directory or DEFAULT_DIR, REGULARIZED_BDRATE)
  if not os.path.exists(path):
    raise PublishedError(f"no such file: {path}")
  table = results_lib.read_json(path)
  for key in REGULARIZED_TABLES:
    domains = table.get(key, {}) if isinstance(table, dict) else None
    if not isinstance(domains, dict):
      raise PublishedError(f"{path}: {key} is not an object of domains")
    for domain, values in domains.items():
      if not (isinstance(values, dict) and all(
          results_lib.is_number(v) for v in values.values())):
        raise PublishedError(f"{path}: {key}.{domain} is not an object of "
                             "numbers")
  return table


# ---------------------------------------------------------------------------
# Copies.


def files_to_copy():
  """Relative paths of every copied (not transcribed) file `CURVES` needs."""
  paths = []
  for _, files in CURVES.values():
    paths.extend(f for f in files if f not in TRANSCRIBED and f not in paths)
  return paths


def copy_published(source_dir, target_dir):
  """Copies the files `CURVES` needs, unchanged, keeping their layout."""
  copied = []
  for relative in files_to_copy():
    source = os.path.join(source_dir, relative)
    if not os.path.isfile(source):
      raise PublishedError(f"missing published file: {source}")
    target = os.path.join(target_dir, relative)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(source, target)
    copied.append(relative)
  return copied


# ---------------------------------------------------------------------------
# Command line.


def _describe(document):
  results = document["results"]
  metrics = [k for k in ("psnr-rgb", "ms-ssim-rgb", "psnr-y", "ms-ssim-y")
             if k in results]
  bpp = [b for b in results["bpp"] if math.isfinite(b)]
  span = f"{min(bpp):.3f}-{max(bpp):.3f} bpp" if bpp else "no finite bpp"
  lines = [f"{document['source']}: {document['name']!r}, {len(results['bpp'])}"
           f" points, {span}, metrics: {', '.join(metrics) or 'none'}"]
  lines += [f"  merged {s}" for s in document["sources"][1:]]
  lines += [f"  note: {n}" for n in document["notes"]]
  return "\n".join(lines)


def main(argv):
  parser = argutil.ArgumentParser(
      prog="python -m tfc_repro.published",
      description="Read published RD curves (TFC text files or CompressAI "
      "JSON) and print what they hold, or copy the curves the figures need.")
  parser.add_argument("files", nargs="*", help="published files to describe")
  parser.add_argument("--copy_from", default=None,
                      help="folder holding the published collections (tfc/, "
                      "compressai/, ...): copy the needed files")
  parser.add_argument("--copy_to", default=DEFAULT_DIR,
                      help="where to copy them (default: results/published)")
  parser.add_argument("--list", action="store_true",
                      help="list the curves known to the figures")
  args = parser.parse_args(argv)
  if not (args.files or args.copy_from or args.list):
    parser.error("give files to describe, --copy_from or --list")
  if args.copy_from:
    for relative in copy_published(args.copy_from, args.copy_to):
      print(f"copied {relative}")
  if args.list:
    for key, (label, files) in CURVES.items():
      print(f"{key}: {label} <- {files[0]}")
  for path in args.files:
    print(_describe(load(path)))
  return 0


if __name__ == "__main__":
  sys.exit(argutil.run(main, "python -m tfc_repro.published"))
