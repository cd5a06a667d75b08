"""Image sources: files, globs, tfds datasets, the embedded default photos, Kodak.

Every loader returns RGB uint8 images. Image files for compress, evaluate
and the codecs are read by `read_image` as the user sees them: the EXIF orientation is applied, grayscale is replicated to three
channels, an alpha channel (or palette transparency) is dropped and 16-bit
or floating-point samples are scaled to 8 bits; what is dropped is reported
on stderr, one `warning:` line per image file. (Training crops are decoded
by TensorFlow in the pixels' stored orientation.)
"""

import contextlib
import glob as glob_lib
import hashlib
import math
import os
import re
import sys
import threading
import urllib.request
import warnings

import numpy as np

from tfc_repro import argutil
from tfc_repro import files

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff",
                    ".webp", ".ppm", ".pgm")

# SHA-256 of the 24 Kodak PNG files of the r0k.us distribution.
KODAK_SHA256 = {
    "kodim01.png": "a56e27cbf5f843c048b6af1d6e090760e9c92fadba88b7dee0205918a37523bd",
    "kodim02.png": "133d50ad0f2cda48fef30e251f433fa1a98ee08c0f2d07cdab9462e876ccae5d",
    "kodim03.png": "e25ca1ff2f0c0cb5fdfd5f9b0a0bb21ac4c3de3c84a67f35b09a85d3306249db",
    "kodim04.png": "1e079e4adc03524e53f1394a2a8e1c5995f0f70a5aec125b12fa3fdbe33cba37",
    "kodim05.png": "10349e963c5c813d327852f82c1795fa4148d69fedffc4c589bee458e3ac3d53",
    "kodim06.png": "363510303b715d4cbc384e1ce227e466b613a09e1b71ae985882bf8e7fbd9b18",
    "kodim07.png": "a74d606cef80e70a04fb983364f79fb954ad46665edf2a8b7355ce81adfa7998",
    "kodim08.png": "e3cfc1371a5643c7f8cdf1bd565c172abce6aa26e3f2fdce74cbf7c32364089d",
    "kodim09.png": "a0c72eb70826619305388ed9c0f8aa8f491b234155d62673cda270d7021149a2",
    "kodim10.png": "28fb615837dc8e66fc92c40158cac80b57f07d0ce77d22576aa85ac9e2787336",
    "kodim11.png": "7936814b58b5387fce2e4e2488b4ec830dadd95fa9520f358ddb30990b50f2b6",
    "kodim12.png": "d78c37c2f04f23761ed2367dd77e2db584ddd4c3950833fecf89f199a8126980",
    "kodim13.png": "bc34a3ce58dea09dce1704c997171602de90cb34d0c8503a988b77f473d39b08",
    "kodim14.png": "55a94550ff18f3246c4074fd32b77b0c74447c26b6ad274d564d999c0450ba6e",
    "kodim15.png": "d36d884e29bce92adea11de456be4e9a5815e79c112d47453a34a6f6edc84e63",
    "kodim16.png": "a89c7268ccd4718ba424a99fc4643c572cf692ca6eae887185ceb4e9f11d2e54",
    "kodim17.png": "37afcc89fbdcb76d9518e04b2fc011027e2f4cd14b3b2f83cefd721641a47c5b",
    "kodim18.png": "5deb2d91e347cbdcc0d8a595daa8877de0772c9cdbce4956a2f45a0f97648a47",
    "kodim19.png": "8f12d577f9ca36f384f82dec11ed8a4e12a27bd5a32ef117b9bcaf4fe4d0606f",
    "kodim20.png": "3b46c71e3b92a563820ba32936be8330c586c41f938efd94be938386aae4328a",
    "kodim21.png": "ac958597c82073f6bb65129c68f72b651db5b9efd82e11547d07350214bc268b",
    "kodim22.png": "37782d92a1cfb36ff586047d5c0a2fa75e042fd0b58f90f866b4ab91349c4e03",
    "kodim23.png": "2ed596d7de74cc43d23add4c116763f49d7b5a78b21444fe84caece531ee933b",
    "kodim24.png": "ac96f39dacff2ec303ddb8a7eb72d59f77af2b491144926335938338ee63473d",
}
KODAK_URL = "http://r0k.us/graphics/kodak/kodak/{}"

# Real colour photographs shipped inside the scikit-image wheel (CC0 or public
# domain, see skimage/data/README.txt), used as the offline default training
# set. The last one is held out for validation.
DEFAULT_PHOTOS = ("astronaut.png", "coffee.png", "motorcycle_left.png",
                  "motorcycle_right.png", "rocket.jpg", "chelsea.png")

# Colour images of other domains in the same wheel, far from the photos the
# models train on: an out-of-domain evaluation set that needs no download.
# Stained tissue under a microscope (512x512), a retinal fundus photograph
# (1411x1411) and the Hubble deep field (1000x872).
SCIENTIFIC_IMAGES = ("ihc.png", "retina.jpg", "hubble_deep_field.jpg")


class DataError(ValueError):
  """An image or a data set that cannot be used, with a one-line reason."""


# ---------------------------------------------------------------------------
# Single images.


def read_image(path, max_pixels=None):
  """Reads an image file as an RGB uint8 array of shape (H, W, 3), in the
  orientation its EXIF data asks viewers to display it.

  With `max_pixels`, an image of more pixels is refused from its header,
  before it is decoded (else Pillow's decompression-bomb limit applies).
  Transparency and samples of more than 8 bits, which the conversion drops,
  are reported on stderr (once per file and process).
  """
  from PIL import Image, ImageOps  # pylint: disable=g-import-not-at-top
  _check_regular_file(path)
  try:
    # With max_pixels the size is checked below instead of by Pillow.
    with _pillow_size_limit(off=bool(max_pixels)):
      with Image.open(path) as image:
        width, height = image.size
        if max_pixels and width * height > max_pixels:
          raise DataError(f"{path}: image of {height}x{width} pixels is above "
                          f"the limit of {max_pixels} pixels (--max_pixels)")
        deep = _deep_samples(image)  # before load(), which forgets the tiles
        image.load()
        dropped = _transparency(image) + deep
        if image.getexif().get(_ORIENTATION, 1) != 1:
          image = ImageOps.exif_transpose(image)
        array = to_rgb8(image)
  except DataError:
    raise
  except _pillow_errors() as e:
    raise DataError(f"cannot read {path} as an image: {e}") from None
  if dropped:
    _warn_once(path, f"{' and '.join(dropped)} dropped on conversion to "
               "8-bit RGB")
  return array


_ORIENTATION = 0x0112  # the EXIF tag: how viewers turn the stored pixels


# Raw modes of more than 8 bits per sample ("RGB;16B", "I;16L", "F;32F").
# "RGB;16" and "BGR;15" are 16 bits per pixel (5-6-5, 5-5-5) and do not match.
_DEEP_RAWMODE = re.compile(r";(16|32)[BLNSF]")


def _deep_samples(image):
  """["16-bit depth"] (or floating-point, 32-bit) when `image`, not yet
  loaded, stores more than 8 bits per sample, else []."""
  if image.mode == "F":
    return ["floating-point depth"]
  if image.mode.startswith("I;16"):
    return ["16-bit depth"]
  # Pillow reads 16-bit RGB(A) and LA PNGs into 8-bit modes: only the raw
  # mode of the tiles tells.
  for tile in image.tile:
    args = tile[3] if len(tile) > 3 else None
    rawmode = args if isinstance(args, str) else (
        args[0] if isinstance(args, tuple) and args
        and isinstance(args[0], str) else "")
    if _DEEP_RAWMODE.search(rawmode) or rawmode.startswith("I;16"):
      return ["16-bit depth"]
  if image.mode == "I":
    return ["32-bit integer depth"]
  return []


def _transparency(image):
  """[what transparency is dropped] when some pixel of the loaded `image` is
  not fully opaque (an opaque alpha channel loses nothing), else []."""
  bands = image.getbands()
  alpha = "A" if "A" in bands else ("a" if "a" in bands else None)
  if alpha:
    if image.getchannel(alpha).getextrema()[0] < 255:
      return ["alpha channel (transparency)"]
    return []
  if "transparency" in image.info:
    kind = ("palette transparency" if image.mode == "P"
            else "transparent colour key")
    try:
      opaque = image.convert("RGBA").getchannel("A").getextrema()[0] == 255
    except (ValueError, OSError):
      opaque = False
    return [] if opaque else [kind]
  return []


_warned = set()
_warned_lock = threading.Lock()


def _warn_once(path, message):
  """Prints `warning: PATH: MESSAGE` on stderr, once per file and process
  (training reads its images again every epoch)."""
  key = (os.path.realpath(path), message)
  with _warned_lock:
    if key in _warned:
      return
    _warned.add(key)
  print(f"warning: {path}: {message}", file=sys.stderr, flush=True)


def to_rgb8(image):
  """Converts a PIL image of any mode to an RGB uint8 array."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if image.mode in ("I;16", "I;16B", "I;16L", "I"):
    array = np.asarray(image, dtype=np.float64)
    # 16-bit samples scale by their depth; 32-bit integers (whose range
    # no header states) by 65535 when they exceed 8 bits.
    peak = 65535.0 if image.mode != "I" or array.max() > 255 else 255.0
    array = np.clip(np.round(array * 255.0 / peak), 0, 255).astype(np.uint8)
    image = Image.fromarray(array, mode="L")
  elif image.mode == "F":
    array = np.clip(np.round(np.asarray(image)), 0, 255).astype(np.uint8)
    image = Image.fromarray(array, mode="L")
  if image.mode != "RGB":
    image = image.convert("RGB")
  return np.asarray(image, dtype=np.uint8).copy()


def write_png(path, array):
  """Writes an RGB uint8 array as a PNG file."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  with files.replaced_atomically(path) as partial:  # whole or not at all
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(partial,
                                                            format="PNG")


def list_images(pattern):
  """Image files named by a directory (searched recursively), a glob pattern
  or a single file."""
  if os.path.isdir(pattern):  # every image below the directory
    paths = [os.path.join(root, name)
             for root, _, names in os.walk(pattern) for name in names
             if name.lower().endswith(IMAGE_EXTENSIONS)]
  elif os.path.isfile(pattern):
    paths = [pattern]
  else:
    paths = glob_lib.glob(os.path.expanduser(pattern))
    paths = [p for p in paths if os.path.isfile(p)]
  paths = sorted(paths)
  if not paths:
    raise DataError(f"no image files found at {pattern!r}")
  return paths


# ---------------------------------------------------------------------------
# Kodak.


def file_sha256(path):
  """The SHA-256 of the file at `path`, as hex."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def portable(value):
  """`value` (a string, or lists and dicts of them) with the data folder's
  path ($TFC_REPRO_DATA, as set) written as $TFC_REPRO_DATA: records that
  name training or evaluation images read the same on every machine."""
  root = argutil.data_root()
  if not root:
    return value
  pattern = argutil.data_path_pattern(root)

  def replace(item):
    if isinstance(item, str):
      return pattern.sub("$" + argutil.DATA_VARIABLE, item)
    if isinstance(item, dict):
      return {k: replace(v) for k, v in item.items()}
    if isinstance(item, list):
      return [replace(v) for v in item]
    return item
  return replace(value)


def cache_dir():
  return os.environ.get(
      "TFC_REPRO_CACHE", os.path.join(os.path.expanduser("~"), ".cache",
                                      "tfc_repro"))


def kodak_paths(download=True):
  """Paths of the 24 Kodak images, verified against their SHA-256 sums.

  Taken from `$TFC_REPRO_DATA/kodak` when that variable is set, else from (or
  downloaded once into) `$TFC_REPRO_CACHE/kodak` (default ~/.cache/tfc_repro).
  """
  root = os.environ.get("TFC_REPRO_DATA")
  if root:
    directory = os.path.join(root, "kodak")
    if not os.path.isdir(directory):
      raise DataError(f"TFC_REPRO_DATA is set but {directory} does not exist")
  else:
    directory = os.path.join(cache_dir(), "kodak")
  paths = [os.path.join(directory, name) for name in sorted(KODAK_SHA256)]
  for path in paths:
    if not os.path.exists(path):
      if root or not download:
        raise DataError(f"Kodak image missing: {path}")
      _download(KODAK_URL.format(os.path.basename(path)), path)
  for path in paths:
    if file_sha256(path) != KODAK_SHA256[os.path.basename(path)]:
      raise DataError(f"Kodak image {path} fails its SHA-256 check")
  return paths


def _download(url, path):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  try:
    with urllib.request.urlopen(url, timeout=30) as response:
      files.write_bytes(path, response.read())
  except OSError as e:
    raise DataError(
        f"cannot download {url} ({e}); set TFC_REPRO_DATA to a folder "
        "holding kodak/kodimNN.png") from None


# ---------------------------------------------------------------------------
# Training sources.


def _skimage_paths(names, what):
  try:
    import skimage  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise DataError(f"the {what} come with scikit-image, which is not "
                    "installed (pip install scikit-image)") from None
  directory = os.path.join(os.path.dirname(skimage.__file__), "data")
  paths = [os.path.join(directory, name) for name in names]
  missing = [p for p in paths if not os.path.exists(p)]
  if missing:
    raise DataError(f"{what} missing from scikit-image: {missing}")
  return paths


def default_photo_paths():
  """The embedded default photos (inside the scikit-image package)."""
  return _skimage_paths(DEFAULT_PHOTOS, "default training photos")


def scientific_paths():
  """The out-of-domain evaluation set (inside the scikit-image package)."""
  return _skimage_paths(SCIENTIFIC_IMAGES, "scientific images")


# Evaluation sets known by name; anything else is a glob or a directory.
NAMED_IMAGE_SETS = {"kodak": kodak_paths, "scientific": scientific_paths}


def evaluation_images(name_or_glob):
  """(paths, description) of a named evaluation set, a glob or a directory."""
  if name_or_glob in NAMED_IMAGE_SETS:
    paths = NAMED_IMAGE_SETS[name_or_glob]()
  else:
    paths = list_images(name_or_glob)
  return paths, f"{name_or_glob} ({len(paths)} images)"


def split_paths(paths, validation_fraction=0.05):
  """Splits files into (train, validation): whole images are held out.

  The split depends only on the file names, so it is the same on every run.
  At least one image is held out when there are two or more.
  """
  if len(paths) < 2:
    return list(paths), []
  keyed = sorted(paths, key=lambda p: hashlib.md5(
      os.path.basename(p).encode()).hexdigest())
  count = max(1, int(round(validation_fraction * len(paths))))
  validation = sorted(keyed[:count])
  train = sorted(keyed[count:])
  return train, validation


def _decode(path):
  """Decodes an image file in a tf.data pipeline (TensorFlow's decoders: fast
  and parallel, no Python). Unlike `read_image`, training crops are taken in
  the stored orientation of the pixels: the EXIF orientation does not change
  what a codec learns from random crops."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                             dtype=tf.uint8, expand_animations=False)
  image.set_shape([None, None, 3])
  return image


def _mirror_to_size(image, patchsize):
  """Mirror-tiles an image smaller than the patch so that it can be cropped."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  shape = tf.shape(image)

  def grow(img, axis):
    size = tf.shape(img)[axis]
    mirrored = tf.concat([img, tf.reverse(img, [axis])], axis)
    reps = (patchsize + 2 * size - 1) // (2 * size)
    multiples = [1, 1, 1]
    multiples = tf.tensor_scatter_nd_update(multiples, [[axis]], [reps])
    return tf.tile(mirrored, multiples)

  image = tf.cond(shape[0] < patchsize, lambda: grow(image, 0), lambda: image)
  image = tf.cond(shape[1] < patchsize, lambda: grow(image, 1), lambda: image)
  return image


def random_crop(image, patchsize):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  image = _mirror_to_size(image, patchsize)
  return tf.image.random_crop(image, (patchsize, patchsize, 3))


def center_crop(image, patchsize):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  image = _mirror_to_size(image, patchsize)
  shape = tf.shape(image)
  top = (shape[0] - patchsize) // 2
  left = (shape[1] - patchsize) // 2
  return image[top:top + patchsize, left:left + patchsize]


# The formats TensorFlow's decoders read (`_decode`), as Pillow names them.
TRAINING_FORMATS = ("PNG", "JPEG", "GIF", "BMP")


def _pillow_errors():
  """What Pillow raises for a file it cannot read as an image."""
  from PIL import Image, UnidentifiedImageError  # pylint: disable=g-import-not-at-top
  return (UnidentifiedImageError, Image.DecompressionBombError, OSError,
          SyntaxError, ValueError)


def _check_regular_file(path):
  if not os.path.exists(path):
    raise DataError(f"no such file: {path}")
  if os.path.isdir(path):
    raise DataError(f"{path} is a directory, not an image file")
  if not os.path.isfile(path):  # a pipe or a device: no end to wait for
    raise DataError(f"{path} is not a regular file")


def _header(path, any_size=False):
  """(format, width, height) of the image file `path` from its header (not
  decoded); `DataError` naming the file when it cannot be read. Pillow's
  decompression-bomb limit applies unless `any_size`."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with _pillow_size_limit(off=any_size), warnings.catch_warnings():
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      with Image.open(path) as image:
        return (image.format, *image.size)
  except _pillow_errors() as e:
    raise DataError(f"cannot read {path} as an image: "
                    f"{argutil.first_line(e)}") from None


@contextlib.contextmanager
def _pillow_size_limit(off):
  """Within it, Pillow's decompression-bomb limit (and its warning) is off
  if `off` (where the caller checks an image's size itself), else as it
  was; restored after."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  limit = Image.MAX_IMAGE_PIXELS
  with warnings.catch_warnings():
    if off:
      Image.MAX_IMAGE_PIXELS = None
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    try:
      yield
    finally:
      Image.MAX_IMAGE_PIXELS = limit


def check_image_file(path):
  """Raises `DataError` unless `path` is a regular file with the header of
  an image format Pillow reads (nothing is decoded; the image's size is
  checked when it is read)."""
  _check_regular_file(path)
  _header(path, any_size=True)


def check_training_images(paths):
  """Raises `DataError` naming the first of `paths` that TensorFlow's
  decoders cannot read: from its header (not decoded), before training."""
  for path in paths:
    kind, _, _ = _header(path)
    if kind not in TRAINING_FORMATS:
      raise DataError(f"{path}: {kind} images cannot be used for training "
                      f"(TensorFlow decodes {', '.join(TRAINING_FORMATS)})")


def check_decodable(paths):
  """Raises `DataError` naming the first of `paths` that TensorFlow's
  decoders (those of training) fail on, with their reason: decodes every
  file, for after a training step failed on one."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  for path in paths:
    try:
      _decode(path)
    except tf.errors.OpError as e:
      # Without TensorFlow's frame: "{{function_node ...}} why [Op:...]".
      reason = re.sub(r"\{\{.*?\}\}|\[Op:.*$", "",
                      argutil.first_line(e.message))
      reason = " ".join(reason.split())
      raise DataError(f"cannot decode {path}: {reason}") from None


def decoded_bytes(paths, limit=math.inf):
  """The bytes that `paths` take decoded to 8-bit RGB, from their headers
  (without decoding them); counting stops once over `limit`. An image whose
  header cannot be read counts as infinitely large."""
  total = 0
  for path in paths:
    try:
      _, width, height = _header(path)
    except DataError:
      return math.inf
    total += 3 * width * height
    if total > limit:
      break
  return total


def file_dataset(paths, patchsize, batchsize, training=True, seed=None,
                 cache=False, final=None):
  """Batched crops of image files: random crops for training, centre crops
  of the held-out images for validation. With `cache`, training decodes
  each file once (every file before the first batch) and keeps the decoded
  images in memory (see `decoded_bytes`), cropping them afresh at every
  pass; without, it decodes a file at every use. With `final` = (patch
  size, batch size), training batches are pairs (crops, final crops), the
  final crops drawn independently (seed + 1) from the same images (the same
  memory when cached; decoded again when not)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  dataset = tf.data.Dataset.from_tensor_slices(list(paths))
  if not training:
    # Full batches only (a partial batch would leave a replica of a
    # distributed run empty): the last batch is completed with the first
    # images again.
    crops = dataset.map(_decode).map(lambda x: center_crop(x, patchsize))
    crops = crops.cache().repeat().take(
        num_batches(len(paths), batchsize) * batchsize)
    return crops.batch(batchsize, drop_remainder=True).prefetch(
        tf.data.AUTOTUNE)
  if cache:
    decoded = dataset.map(_decode, num_parallel_calls=tf.data.AUTOTUNE).cache()

  def images(seed):
    """An endless stream of the decoded images, reshuffled at every pass."""
    if cache:
      return decoded.shuffle(len(paths), seed=seed,
                             reshuffle_each_iteration=True).repeat()
    return dataset.shuffle(len(paths), seed=seed,
                           reshuffle_each_iteration=True).repeat().map(
                               _decode, num_parallel_calls=tf.data.AUTOTUNE)

  return _training_batches(images, patchsize, batchsize, seed, final)


def _training_batches(images, patchsize, batchsize, seed, final):
  """Batches of random crops of `images(seed)`, an endless stream of
  images; with `final` = (patch size, batch size), pairs (crops, final
  crops), the final crops cropped independently from `images(seed + 1)`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def batches(patchsize, batchsize, seed):
    crops = images(seed).map(lambda x: random_crop(x, patchsize),
                             num_parallel_calls=tf.data.AUTOTUNE)
    crops = crops.shuffle(max(64, 8 * batchsize), seed=seed)
    return crops.batch(batchsize, drop_remainder=True)

  train = batches(patchsize, batchsize, seed)
  if final:
    train = tf.data.Dataset.zip(
        (train, batches(*final, None if seed is None else seed + 1)))
  return train.prefetch(tf.data.AUTOTUNE)


def tfds_dataset(name, split, patchsize, batchsize, training=True, seed=None,
                 data_dir=None, final=None):
  """Crops of a tfds data set (e.g. "clic"), as `file_dataset` gives them
  (`final` too); fails fast when it is absent and cannot be downloaded."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  os.environ.setdefault("NO_GCE_CHECK", "true")
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DataError(f"tensorflow-datasets is not usable: {e}") from None
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(f"unknown tfds data set {name!r}: "
                    f"{str(e).splitlines()[0]}") from None
  if not builder.is_prepared():
    if not _network_reachable():
      raise DataError(
          f"tfds data set {name!r} is not prepared in {builder.data_dir} and "
          "the network is unreachable; use --train_glob with local images")
    builder.download_and_prepare()
  dataset = builder.as_dataset(split=split, shuffle_files=training)
  dataset = dataset.map(lambda d: d["image"])
  if training:
    return _training_batches(lambda seed: dataset.repeat(), patchsize,
                             batchsize, seed, final)
  dataset = dataset.map(lambda x: center_crop(x, patchsize)).cache()
  return dataset.batch(batchsize, drop_remainder=False).prefetch(
      tf.data.AUTOTUNE)


def _network_reachable(host="storage.googleapis.com", port=443, timeout=3.0):
  import socket  # pylint: disable=g-import-not-at-top
  try:
    socket.create_connection((host, port), timeout=timeout).close()
    return True
  except OSError:
    return False


def num_batches(num_images, batchsize):
  return max(1, math.ceil(num_images / batchsize))
