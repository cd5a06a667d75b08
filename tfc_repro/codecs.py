"""Classical image codecs as baselines, measured like the learned models.

Every codec encodes an RGB uint8 image in memory, and the whole file (headers
and container included) counts towards the rate: bpp = 8 * len(bytes) / (H*W).
The file is decoded back to RGB uint8 and compared with `tfc_repro.metrics`.

Codecs (all through Pillow, pillow-heif and imagecodecs, no external
programs):

  jpeg      JPEG 4:2:0 (libjpeg-turbo), quality = libjpeg quality 1..100
  jpeg444   JPEG 4:4:4, same quality scale
  webp      lossy WebP (libwebp, always 4:2:0), quality 0..100
  jpeg2000  JPEG 2000 (OpenJPEG, 9/7 irreversible wavelet, colour transform),
            quality = target bits per pixel (quality_mode="rates")
  avif      AVIF (libavif + aom, 4:2:0, speed 6), quality 0..100
  hevc444   HEVC intra (x265 via libheif, 4:4:4), quality = x265 QP 0..51
            (lower is better), with BPG's x265 settings (constant QP,
            preset veryslow, tune ssim, psy-rd off): the BPG family
  hevc420   the same with 4:2:0 chroma
  jpegxl    JPEG XL (libjxl through imagecodecs), lossy (VarDCT in the XYB
            colour space, no chroma subsampling), effort 7 (libjxl's
            default), quality = distance 0.1..25 (lower is better)

The HEVC codecs write a HEIF container, about 380 bytes more than BPG's
header (≈ 0.008 bpp on a Kodak image).

Command line:

  python -m tfc_repro.codecs --codec jpeg --output results/kodak/jpeg.json
  python -m tfc_repro.codecs --codec webp --images 'photos/*.png' \\
      --output webp.json --qualities 10,50,90
"""

import dataclasses
import io
import os
import sys
import time
from typing import Callable, Tuple

import numpy as np

from tfc_repro import argutil
from tfc_repro import data
from tfc_repro import metrics
from tfc_repro import results


@dataclasses.dataclass(frozen=True)
class Codec:
  """A classical codec and the quality parameter swept to trace its RD curve.

  Attributes:
    name: short name, also the results file's name.
    label: human-readable name for tables and figures.
    quality_meaning: what the quality value is, and its valid range.
    qualities: default sweep, ordered by increasing rate.
    quality_range: (lowest, highest) valid quality value.
    integer_quality: whether the quality must be an integer.
    rate_increases_with_quality: False when a larger value means fewer bits
      (the HEVC QP).
    encode: function (RGB uint8 array, quality) -> bytes.
    decode: function bytes -> RGB uint8 array.
    library: function () -> str naming the libraries and versions used.
    quality_is_rate: whether the quality value is the target bits per pixel
      itself (JPEG 2000).
  """
  name: str
  label: str
  quality_meaning: str
  qualities: Tuple[float, ...]
  quality_range: Tuple[float, float]
  integer_quality: bool
  rate_increases_with_quality: bool
  encode: Callable[[np.ndarray, float], bytes]
  decode: Callable[[bytes], np.ndarray]
  library: Callable[[], str]
  quality_is_rate: bool = False

  def check_quality(self, quality):
    """Returns `quality` as the codec's type; raises ValueError if invalid."""
    low, high = self.quality_range
    if isinstance(quality, bool) or not isinstance(
        quality, (int, float, np.integer, np.floating)):
      raise ValueError(
          f"{self.name}: quality must be a number, got {quality!r}")
    if not np.isfinite(quality):
      raise ValueError(f"{self.name}: quality must be finite, got {quality}")
    if self.integer_quality:
      if float(quality) != int(quality):
        raise ValueError(
            f"{self.name}: quality must be an integer ({self.quality_meaning})"
            f", got {quality}")
      quality = int(quality)
    else:
      quality = float(quality)
    if not low <= quality <= high:
      raise ValueError(f"{self.name}: quality {quality} out of range "
                       f"({self.quality_meaning})")
    return quality


# ---------------------------------------------------------------------------
# Encoders and decoders.


def _pil_encode(image, fmt, **options):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  Image.fromarray(np.asarray(image, dtype=np.uint8)).save(
      buffer, format=fmt, **options)
  return buffer.getvalue()


def _pil_decode(bitstream):
  """Decodes any format Pillow (with the HEIF plugin) reads to RGB uint8."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  _register_heif()
  with Image.open(io.BytesIO(bitstream)) as decoded:
    decoded.load()
    return data.to_rgb8(decoded)


def _jpeg_encoder(subsampling):
  def encode(image, quality):
    return _pil_encode(image, "JPEG", quality=int(quality),
                       subsampling=subsampling)
  return encode


def _webp_encode(image, quality):
  return _pil_encode(image, "WEBP", quality=int(quality))


def _jpeg2000_encode(image, target_bpp):
  # OpenJPEG's "rate" is the compression ratio against 8-bit RGB samples.
  ratio = 24.0 / float(target_bpp)
  return _pil_encode(image, "JPEG2000", quality_mode="rates",
                     quality_layers=[ratio], irreversible=True, mct=1)


def _avif_encode(image, quality):
  return _pil_encode(image, "AVIF", quality=int(quality), speed=6,
                     subsampling="4:2:0")


_HEIF_REGISTERED = []


def _register_heif():
  if not _HEIF_REGISTERED:
    import pillow_heif  # pylint: disable=g-import-not-at-top
    pillow_heif.register_heif_opener()
    _HEIF_REGISTERED.append(True)


# BPG's x265 settings (libbpg x265_glue.c): the preset of its default
# compression level 8 ("veryslow"), tune "ssim", constant QP, intra only.
# libheif forces psy-rd/psy-rdoq 1.0 and aq-mode 1 after applying the tune,
# which costs about 0.3-0.9 dB of PSNR on Kodak; they are set back to the
# tune's values.
HEVC_PRESET = "veryslow"
HEVC_TUNE = "ssim"
HEVC_X265_PARAMS = {"x265:psy-rd": "0", "x265:psy-rdoq": "0",
                    "x265:aq-mode": "2", "tu-intra-depth": "3"}


def _hevc_encoder(chroma):
  def encode(image, qp):
    import pillow_heif  # pylint: disable=g-import-not-at-top
    from PIL import Image  # pylint: disable=g-import-not-at-top
    heif = pillow_heif.from_pillow(
        Image.fromarray(np.asarray(image, dtype=np.uint8)))
    buffer = io.BytesIO()
    # A fresh dict each time: pillow-heif adds the chroma key to it.
    params = dict(HEVC_X265_PARAMS, preset=HEVC_PRESET, tune=HEVC_TUNE)
    params["x265:qp"] = str(int(qp))
    heif.save(buffer, format="HEIF", chroma=chroma, enc_params=params)
    return buffer.getvalue()
  return encode


def _pillow_library(feature):
  def describe():
    import PIL  # pylint: disable=g-import-not-at-top
    from PIL import features  # pylint: disable=g-import-not-at-top
    return f"Pillow {PIL.__version__}, {feature} {features.version(feature)}"
  return describe


def _avif_library():
  import PIL  # pylint: disable=g-import-not-at-top
  from PIL import features  # pylint: disable=g-import-not-at-top
  try:
    from PIL import _avif  # pylint: disable=g-import-not-at-top
    codecs = _avif.codec_versions()
  except (ImportError, AttributeError):
    codecs = "unknown codec"
  return (f"Pillow {PIL.__version__}, libavif {features.version('avif')} "
          f"({codecs})")


def _heif_library():
  import pillow_heif  # pylint: disable=g-import-not-at-top
  info = pillow_heif.libheif_info()
  encoder = info.get("encoders", {}).get("x265") or info.get("HEIF", "")
  decoder = info.get("decoders", {}).get("libde265", "")
  return (f"pillow-heif {pillow_heif.__version__}, libheif "
          f"{info.get('libheif')}, {encoder}, {decoder}, preset "
          f"{HEVC_PRESET}, tune {HEVC_TUNE}, "
          + ", ".join(f"{k.replace('x265:', '')} {v}"
                      for k, v in HEVC_X265_PARAMS.items()))


# JPEG XL through imagecodecs, whose own default effort is 5: effort 7 is
# libjxl's (and cjxl's) default. One thread: the times are per core.
JPEGXL_EFFORT = 7


def _jpegxl_encode(image, distance):
  import imagecodecs  # pylint: disable=g-import-not-at-top
  return imagecodecs.jpegxl_encode(
      np.asarray(image, dtype=np.uint8), distance=float(distance),
      lossless=False, effort=JPEGXL_EFFORT, numthreads=1)


def _jpegxl_decode(bitstream):
  import imagecodecs  # pylint: disable=g-import-not-at-top
  return imagecodecs.jpegxl_decode(bitstream, numthreads=1)


def _jpegxl_library():
  import imagecodecs  # pylint: disable=g-import-not-at-top
  return (f"imagecodecs {imagecodecs.__version__}, "
          f"{imagecodecs.jpegxl_version()}, lossy, effort {JPEGXL_EFFORT}, "
          "one thread, bare codestream")


_JPEG_QUALITIES = (1, 3, 5, 8, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
_HEVC_QPS = (51, 48, 45, 42, 39, 36, 33, 30, 27, 24, 21)

CODECS = {
    "jpeg": Codec(
        "jpeg", "JPEG (4:2:0)", "libjpeg quality 1..100", _JPEG_QUALITIES,
        (1, 100), True, True, _jpeg_encoder(2), _pil_decode,
        _pillow_library("jpg")),
    "jpeg444": Codec(
        "jpeg444", "JPEG (4:4:4)", "libjpeg quality 1..100", _JPEG_QUALITIES,
        (1, 100), True, True, _jpeg_encoder(0), _pil_decode,
        _pillow_library("jpg")),
    "webp": Codec(
        "webp", "WebP", "libwebp quality 0..100",
        (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), (0, 100), True, True,
        _webp_encode, _pil_decode, _pillow_library("webp")),
    "jpeg2000": Codec(
        "jpeg2000", "JPEG 2000 (OpenJPEG)",
        "target bits per pixel, 0 < bpp <= 24",
        (0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0,
         2.5), (1e-3, 24.0), False, True, _jpeg2000_encode, _pil_decode,
        _pillow_library("jpg_2000"), quality_is_rate=True),
    "avif": Codec(
        "avif", "AVIF (aom, 4:2:0)", "libavif quality 0..100",
        (0, 10, 20, 30, 40, 50, 60, 70, 80, 90), (0, 100), True, True,
        _avif_encode, _pil_decode, _avif_library),
    "hevc444": Codec(
        "hevc444", "HEVC intra 4:4:4 (x265, BPG-like)",
        "x265 QP 0..51, lower is better", _HEVC_QPS, (0, 51), True, False,
        _hevc_encoder("444"), _pil_decode, _heif_library),
    "hevc420": Codec(
        "hevc420", "HEVC intra 4:2:0 (x265, BPG-like)",
        "x265 QP 0..51, lower is better", _HEVC_QPS, (0, 51), True, False,
        _hevc_encoder("420"), _pil_decode, _heif_library),
    "jpegxl": Codec(
        "jpegxl", "JPEG XL (libjxl, effort 7)",
        "libjxl distance 0.1..25, lower is better",
        (25, 20, 15, 12, 9, 7, 5, 4, 3, 2, 1.5, 1, 0.8), (0.1, 25.0), False,
        False, _jpegxl_encode, _jpegxl_decode, _jpegxl_library),
}


def get_codec(codec):
  """A `Codec` from its name (or the codec itself)."""
  if isinstance(codec, Codec):
    return codec
  try:
    return CODECS[codec]
  except KeyError:
    raise ValueError(f"unknown codec {codec!r}; choose from "
                     f"{', '.join(CODECS)}") from None


def _check_image(image):
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
    raise ValueError("codecs take RGB uint8 images of shape (H, W, 3), got "
                     f"{image.dtype} {image.shape}")
  return image


# ---------------------------------------------------------------------------
# Measuring.


def encode_decode(codec, image, quality):
  """Encodes and decodes one image in memory.

  Args:
    codec: a codec name (key of `CODECS`) or a `Codec`.
    image: RGB uint8 array of shape (H, W, 3).
    quality: the codec's quality value (see `Codec.quality_meaning`).
  Returns:
    (bitstream bytes, reconstruction as an RGB uint8 array).
  """
  bitstream, reconstruction, _, _ = _timed_round_trip(codec, image, quality)
  return bitstream, reconstruction


def _timed_round_trip(codec, image, quality):
  codec = get_codec(codec)
  image = _check_image(image)
  quality = codec.check_quality(quality)
  start = time.perf_counter()
  bitstream = codec.encode(image, quality)
  encoding_time = time.perf_counter() - start
  start = time.perf_counter()
  reconstruction = codec.decode(bitstream)
  decoding_time = time.perf_counter() - start
  if reconstruction.shape != image.shape:
    raise RuntimeError(f"{codec.name} decoded shape {reconstruction.shape} "
                       f"differs from the input's {image.shape}")
  return bitstream, reconstruction, encoding_time, decoding_time


def measure(codec, image, quality, name="image"):
  """Per-image values (bpp, PSNR, MS-SSIM, times) of one round trip."""
  bitstream, reconstruction, encoding_time, decoding_time = _timed_round_trip(
      codec, image, quality)
  height, width = image.shape[:2]
  return {
      "image": name,
      "bpp": metrics.bits_per_pixel(len(bitstream), height, width),
      "psnr-rgb": metrics.psnr(image, reconstruction),
      "ms-ssim-rgb": metrics.ms_ssim(image, reconstruction),
      "encoding_time": encoding_time,
      "decoding_time": decoding_time,
      "num_bytes": len(bitstream),
  }


def evaluate_codec(codec, paths, qualities=None, dataset=None, command=None,
                   log=None):
  """Runs a codec over images at several qualities.

  Args:
    codec: a codec name or a `Codec`.
    paths: image files.
    qualities: quality values (default: the codec's default sweep).
    dataset: what the images are, stored in the document.
    command: the command line stored in the document.
    log: optional function called with one progress line per image.
  Returns:
    A results document (`tfc_repro.results.rd_document`), one point per
    quality, in the order given.
  """
  codec = get_codec(codec)
  qualities = [codec.check_quality(q)
               for q in (codec.qualities if qualities is None else qualities)]
  if not qualities:
    raise ValueError("no qualities given")
  paths = list(paths)
  if not paths:
    raise ValueError("no images given")
  rows = [[] for _ in qualities]
  for index, path in enumerate(paths):
    image = data.read_image(path)
    name = os.path.basename(path)
    for quality, per_image in zip(qualities, rows):
      per_image.append(measure(codec, image, quality, name))
    if log:
      log(f"{codec.name}: {index + 1}/{len(paths)} {name}")
  library = codec.library()
  points = [{"metadata": {"codec": codec.name, "quality": quality,
                          "quality_meaning": codec.quality_meaning,
                          "library": library},
             "per_image": per_image}
            for quality, per_image in zip(qualities, rows)]
  description = (f"{codec.label}; {library}; quality = "
                 f"{codec.quality_meaning}; whole file counted")
  return results.rd_document(codec.name, description, points,
                             dataset=dataset, command=command)


def encode_at_bpp(codec, image, target_bpp):
  """The codec's setting whose rate on `image` is closest to `target_bpp`.

  Searches the codec's quality range (rates are monotone in quality).
  Returns (quality, bytes, reconstruction).
  """
  codec = get_codec(codec)
  image = _check_image(image)
  height, width = image.shape[:2]

  def rate(quality):
    bitstream, reconstruction = encode_decode(codec, image, quality)
    return metrics.bits_per_pixel(len(bitstream), height, width), (
        quality, bitstream, reconstruction)

  if codec.quality_is_rate:
    return rate(codec.check_quality(target_bpp))[1]
  low, high = codec.quality_range
  if codec.integer_quality:
    low, high, step = int(low), int(high), 1
  else:  # a continuous scale: bisect to 1/1024 of the range
    step = (high - low) / 1024
  sign = 1 if codec.rate_increases_with_quality else -1
  tried = {}
  while high - low > step:
    middle = (low + high) // 2 if codec.integer_quality else (low + high) / 2
    tried[middle] = rate(middle)
    if sign * (tried[middle][0] - target_bpp) < 0:
      low = middle
    else:
      high = middle
  for quality in (low, high):
    if quality not in tried:
      tried[quality] = rate(quality)
  best = min(tried.values(), key=lambda r: abs(r[0] - target_bpp))
  return best[1]


# ---------------------------------------------------------------------------
# Command line.


def parse_qualities(text):
  """Parses "1,5,10" or "0.1,0.5" into numbers (ints where integral)."""
  values = []
  for item in text.split(","):
    item = item.strip()
    if not item:
      continue
    try:
      value = float(item)
    except ValueError:
      raise ValueError(f"bad quality {item!r} in --qualities") from None
    values.append(int(value) if value.is_integer() else value)
  if not values:
    raise ValueError("--qualities is empty")
  return values


def _parser():
  parser = argutil.ArgumentParser(
      prog="python -m tfc_repro.codecs",
      description=(
          "Measure a classical codec's rate-distortion curve (bpp, PSNR, "
          "MS-SSIM, encode/decode seconds) and write CompressAI-style JSON."),
      epilog="Codecs and their quality scales: " + "; ".join(
          f"{c.name} = {c.label}, {c.quality_meaning}, default "
          f"{','.join(str(q) for q in c.qualities)}"
          for c in CODECS.values()))
  parser.add_argument("--codec", required=True, choices=sorted(CODECS),
                      help="which codec to run")
  parser.add_argument("--images", default=None,
                      help="image directory, glob or file (default: the 24 "
                      "Kodak images, via $TFC_REPRO_DATA or the cache)")
  parser.add_argument("--output", required=True,
                      help="results JSON file to write")
  parser.add_argument("--qualities", default=None,
                      help="comma-separated quality values (default: the "
                      "codec's sweep, see below)")
  parser.add_argument("--quiet", action="store_true",
                      help="no progress lines")
  return parser


def _shown(mean, digits):
  """A mean of a written document (null where it is not finite)."""
  return "n/a" if mean is None else f"{mean:.{digits}f}"


def main(argv):
  args = _parser().parse_args(argv)
  codec = get_codec(args.codec)
  qualities = None
  if args.qualities is not None:
    qualities = [codec.check_quality(q)
                 for q in parse_qualities(args.qualities)]
  if args.images is None:
    paths = data.kodak_paths()
    dataset = f"kodak ({len(paths)} images)"
  else:
    paths = data.list_images(args.images)
    dataset = f"{args.images} ({len(paths)} images)"
  argutil.quiet_tensorflow()
  log = None if args.quiet else (lambda line: print(line, file=sys.stderr))
  start = time.perf_counter()
  document = evaluate_codec(
      codec, paths, qualities, dataset=dataset,
      command=argutil.command_line("tfc_repro.codecs", argv), log=log)
  results.write_rd_json(args.output, document["name"],
                        document["description"], document["points"],
                        dataset=document["dataset"],
                        command=document["command"])
  summary = document["results"]
  for i, point in enumerate(document["points"]):
    print(f"{codec.name} q={point['metadata']['quality']}: "
          f"{_shown(summary['bpp'][i], 4)} bpp, "
          f"{_shown(summary['psnr-rgb'][i], 3)} dB, MS-SSIM "
          f"{_shown(summary['ms-ssim-rgb'][i], 4)}" + "".join(
              f"; {note}" for note in results.left_out_notes(point)))
  print(f"wrote {args.output} ({time.perf_counter() - start:.1f} s)")
  return 0


if __name__ == "__main__":
  sys.exit(argutil.run(main, "python -m tfc_repro.codecs"))
