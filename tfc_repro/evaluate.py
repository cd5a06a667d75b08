"""Evaluation of exported models through real files -> RD results JSON.

For every image: compress to a bitstream file, read the file back, decompress,
and measure bpp from the file's bytes (and without the container's bytes),
the model's estimated bpp per latent, PSNR and MS-SSIM of the 8-bit RGB
reconstruction (`tfc_repro.metrics`), and encode and decode seconds (model
already loaded and warmed up; file I/O and container included). For models
that export `reconstruct`, "exact" says whether the decoded file equals the
model's reconstruction g_s(ŷ) bit for bit (lossless entropy coding).
"""

import os
import sys
import tempfile
import time

import numpy as np

from tfc_repro import container
from tfc_repro import data
from tfc_repro import metrics
from tfc_repro import results
from tfc_repro import zoo


def image_names(paths):
  """The name of each image in results: its file name, or where two share
  one (in different folders), its path below the folder they all share."""
  names = [os.path.basename(p) for p in paths]
  if len(set(names)) == len(names):
    return names
  root = os.path.commonpath([os.path.abspath(p) for p in paths])
  if len(paths) == 1 or root == os.path.abspath(paths[0]):
    root = os.path.dirname(root)
  return [os.path.relpath(os.path.abspath(p), root) for p in paths]


def evaluate_model(model, image_paths, reconstructions=None, progress=True):
  """Evaluates one `savedmodel.LoadedModel`; returns a results point."""
  # Warm-up: the first call of a loaded function carries one-off costs.
  warmup = np.zeros((model.metadata.get("stride", 16),) * 2 + (3,), np.uint8)
  model.decompress(model.compress(warmup))
  per_image = []
  with tempfile.TemporaryDirectory() as work_dir:
    for index, (path, name) in enumerate(zip(image_paths,
                                             image_names(image_paths))):
      image = data.read_image(path, model.max_pixels)
      height, width = image.shape[:2]
      file_path = os.path.join(work_dir, f"{index}.tfci")

      start = time.perf_counter()
      num_bytes = container.write(file_path, model.compress(image))
      encoding_time = time.perf_counter() - start

      start = time.perf_counter()
      bitstream = container.read(file_path, model.max_pixels)
      reconstruction = model.decompress(bitstream)
      decoding_time = time.perf_counter() - start

      if reconstructions:
        data.write_png(os.path.join(reconstructions,
                                    reconstruction_file(name)),
                       reconstruction)
      bpp = lambda n: metrics.bits_per_pixel(n, height, width)  # pylint: disable=cell-var-from-loop
      estimate = model.estimate_bits(image)
      row = {
          "image": name,
          "bytes": num_bytes,
          "bpp": bpp(num_bytes),
          "bpp-payload": bpp(bitstream.payload_bytes),
          "bpp-estimate": sum(estimate.values()) / (height * width),
          "psnr-rgb": metrics.psnr(image, reconstruction),
          "ms-ssim-rgb": metrics.ms_ssim(image, reconstruction),
          "encoding_time": encoding_time,
          "decoding_time": decoding_time,
      }
      for latent, string in zip(model.latents, bitstream.strings):
        row[f"bpp-{latent}"] = bpp(len(string))
        row[f"bpp-{latent}-estimate"] = estimate[latent] / (height * width)
      expected = model.reconstruct(image)
      if expected is not None:
        row["exact"] = bool(np.array_equal(expected, reconstruction))
      per_image.append(row)
      if progress:
        print(f"[{index + 1}/{len(image_paths)}] {name}: {row['bpp']:.4f} bpp, "
              f"{row['psnr-rgb']:.2f} dB, enc {encoding_time:.2f} s, "
              f"dec {decoding_time:.2f} s"
              + ("" if row.get("exact", True) else ", NOT EXACT"),
              file=sys.stderr, flush=True)
  # The model as the user named it (as in the command the results record).
  metadata = dict(model.metadata, model_path=model.name)
  return {"metadata": metadata, "per_image": per_image}


def reconstruction_file(name):
  """The file of an image's reconstruction in its model's folder (`name`
  as `image_names` gives it)."""
  return os.path.splitext(name)[0] + ".png"


def reconstruction_paths(models, image_paths, reconstructions):
  """Every file `evaluate_models` writes under `reconstructions`."""
  return [os.path.join(reconstructions, reconstruction_folder(model),
                       reconstruction_file(name))
          for model in models for name in image_names(image_paths)]


def reconstruction_folder(model):
  """The folder of a model's reconstructions (under --reconstructions): a
  shipped model's name (cpu:bls2017-1 -> bls2017-1), else its folder's."""
  name = getattr(model, "name", None) or ""
  if zoo.is_zoo_name(name):
    return name[len(zoo.PREFIX):]
  return os.path.basename(os.path.normpath(model.path or model.system))


def evaluate_models(models, image_paths, output, name=None, dataset=None,
                    reconstructions=None):
  """Evaluates `savedmodel.LoadedModel`s (one RD point each) and writes the
  results JSON."""
  systems = sorted({m.system for m in models})
  points = []
  for model in models:
    keep = None
    if reconstructions:
      keep = os.path.join(reconstructions, reconstruction_folder(model))
    points.append(evaluate_model(model, image_paths, keep))
  points.sort(key=lambda p: np.mean([r["bpp"] for r in p["per_image"]]))
  if name is None:
    name = "+".join(systems)
  first = models[0].metadata
  description = (
      f"{'/'.join(systems)} trained on {first.get('train_data', '?')} for "
      f"{first.get('steps', '?')} steps ({first.get('metric', '?')}); "
      "bpp from the bitstream files")
  return results.write_rd_json(output, name, description, points,
                               dataset=dataset)


def _mean_cell(mean, partial, width, digits):
  """A mean in a column `width` wide; '*' marks one over fewer images than
  its point has (`partial`)."""
  value = float("nan") if mean is None else mean
  return f"{value:.{digits}f}{'*' if partial else ''}".rjust(width)


def format_table(document):
  """A short text table of a results document; a mean over fewer images
  than the point has is marked '*' and explained below the table."""
  lines = [f"{document['name']}: {document.get('dataset') or ''}",
           f"{'lambda':>10} {'steps':>8} {'bpp':>8} {'PSNR':>8} {'MS-SSIM':>8}"
           f" {'enc s':>7} {'dec s':>7} {'exact':>7}"]
  notes = []
  for i, point in enumerate(document["points"]):
    meta = point["metadata"]
    means = {key: (values[i], key in point.get("left_out_of_means", {}))
             for key, values in document["results"].items()}
    checked = [r["exact"] for r in point["per_image"] if "exact" in r]
    exact = f"{sum(checked)}/{len(checked)}" if checked else "-"
    lmbda = meta.get("lmbda", float("nan"))
    lines.append(
        f"{lmbda:>10.4g} {meta.get('steps', 0):>8} "
        f"{_mean_cell(*means['bpp'], 8, 4)} "
        f"{_mean_cell(*means['psnr-rgb'], 8, 3)} "
        f"{_mean_cell(*means['ms-ssim-rgb'], 8, 4)} "
        f"{_mean_cell(*means['encoding_time'], 7, 3)} "
        f"{_mean_cell(*means['decoding_time'], 7, 3)} {exact:>7}")
    notes += [f"* lambda {lmbda:.4g}: {note}"
              for note in results.left_out_notes(point)]
  return "\n".join(lines + notes)
