"""Per-image RD plots and side-by-side visual comparisons.

Command line (through `python -m tfc_repro.figures`):

  python -m tfc_repro.figures per-image --image kodim01.png \\
      results/kodak/jpeg.json
  python -m tfc_repro.figures visual --original kodim23.png \\
      --reconstruction "bmshj2018:0.31:recon/kodim23.png"
"""

import argparse
import os

import numpy as np

from tfc_repro import argutil
from tfc_repro import curves as curves_lib
from tfc_repro import metrics
from tfc_repro import plotting
from tfc_repro import results as results_lib


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
    found.append(curves_lib.Curve(label, single, False, label, False))
  if not found:
    raise ValueError(f"no per-image values for {image!r} in the given files")
  fig, axes = plotting.new_figure(len(metrics_))
  for ax, metric in zip(axes, metrics_):
    plotting.plot_curves(ax, found, metric, image_set=None)
    ax.set_title(f"{image}: {metric.upper()}", fontsize=10)
  directory, name = os.path.split(os.path.splitext(path)[0])
  return plotting.finish(fig, axes, directory or ".", name, [])


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
  fig, axes = plotting.new_figure(len(panels), height=4.6)
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
  return plotting.finish(fig, axes, directory or ".", name, [])


def _parse_reconstruction(spec):
  parts = spec.split(":", 2)
  if len(parts) != 3:
    raise ValueError(f"--reconstruction {spec!r}: expected LABEL:BPP:PATH")
  label, bpp, path = parts
  try:
    bpp = argutil.positive_float(bpp)
  except argparse.ArgumentTypeError as e:
    raise ValueError(f"--reconstruction {spec!r}: bad bpp: {e}") from None
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


def add_commands(commands, output):
  """The `per-image` and `visual` commands of `python -m tfc_repro.figures`
  (`output`: the parser of their --output flag)."""
  per_image = commands.add_parser(
      "per-image", parents=[output],
      help="RD curves of one image from results files' per-image values")
  per_image.add_argument("--image", required=True,
                         help="image name as stored, e.g. kodim01.png")
  per_image.add_argument("--path", default=None, help="output PNG path")
  per_image.add_argument("files", nargs="+", help="results JSON files")
  visual = commands.add_parser(
      "visual", parents=[output],
      help="crops of an original, JPEG at matched bpp and reconstructions")
  visual.add_argument("--original", required=True, help="original image")
  visual.add_argument("--reconstruction", action="append", default=[],
                      help="LABEL:BPP:PATH of a reconstruction PNG "
                      "(repeatable)")
  visual.add_argument("--jpeg_bpp", type=argutil.positive_float, default=None,
                      help="JPEG rate to match (default: the first "
                      "reconstruction's bpp)")
  visual.add_argument("--crop", default=None,
                      help="TOP,LEFT,HEIGHT,WIDTH (default: centred 256x256)")
  visual.add_argument("--path", default=None, help="output PNG path")


def run(args):
  """Runs a `per-image` or `visual` command; returns the written paths."""
  return _visual(args) if args.command == "visual" else _per_image(args)
