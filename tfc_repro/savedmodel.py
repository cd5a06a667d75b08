"""Export of a trained model as a SavedModel, and the model's file codec.

The exported SavedModel holds only what coding needs: the `compress`,
`decompress` and `estimate` functions, the weights they use (no optimizer
state; the transforms' kernels frozen as plain convolution kernels, see
`CompressionModel.freeze_transforms`) and a JSON metadata record (system, λ,
metric, configuration, training steps and data, ...). It loads with
`tf.saved_model.load` alone, without any Python model code, and `LoadedModel`
turns it into a file codec that writes and checks the shared bitstream
container.

The SavedModel alone codes an image as TFC's models do:

  m = tf.saved_model.load(path)
  x_hat, digest = m.decompress(*m.compress(x))  # x: RGB uint8 (H, W, 3)

`compress(x)` returns the entropy-coded strings (one per latent), the image
shape, the latent shapes and the latent digest (a fingerprint of the image
shape and of the coded symbols); `decompress` takes them back and returns
the image and the digest of what it decoded. Given, as above, the digest is
checked: decoded latents that are not the ones it describes (strings cut
or altered, or tables computed differently on this machine) fail with an
`InvalidArgumentError` naming the latent digest mismatch instead of giving
an image. `decompress` also takes the same arguments without the digest
(and returns the digest to compare, as `Codec.decompress` does); models
exported before the digest argument take only that call.
"""

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import types

import numpy as np

from tfc_repro import __version__
from tfc_repro import container
from tfc_repro import decode_bound
from tfc_repro import weights_file


class ModelError(ValueError):
  """A model directory that cannot be used, with a one-line reason."""


def config_hash(config):
  """8-byte hash of a model configuration (a JSON-serialisable dict)."""
  canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(canonical.encode()).digest()[:8]


def _model_id(config, variables):
  digest = hashlib.sha256(config_hash(config))
  for variable in sorted(variables, key=lambda v: v.name):
    digest.update(variable.name.encode())
    digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
  return digest.digest()[:8]


# The metadata keys that `coding_module` writes itself (the others are the
# training record it is given).
EXPORT_KEYS = (decode_bound.KEY, "system", "config", "config_hash",
               "model_id", "latents", "stride", "shape_strides", "tiled",
               "max_pixels", "exported_at", "tfc_repro_version")


def coding_module(model, training_info=None, freeze=True, reconstruct=False):
  """What export saves, in memory: (tf.Module, metadata).

  The module holds the model's `compress`, `decompress` (traced without
  and with the latent digest argument) and `estimate` functions (and
  `reconstruct` if asked), the variables they use and the metadata record. With `freeze` (the default) the model's transforms are
  first replaced, in place, by frozen copies (`model.freeze_transforms()`):
  the functions run plain convolutions with the current kernels instead of
  recomputing them from their RDFT parameters on every call: coding about
  twice as fast on CPU (bench/bench_bmshj2018.py). The model then codes as
  the SavedModel does, but its transforms no longer train. `freeze=False`
  keeps the `SignalConv2D` layers as they are (for speed comparisons).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if freeze:
    model.freeze_transforms()
  # `reconstruct` (g_s of the quantized latents, no entropy coding) lets
  # evaluation check that decoding a file gives exactly the model's image;
  # optional because it makes loading about a second slower.
  names = ("compress", "decompress", "estimate") + (
      ("reconstruct",) if reconstruct else ())
  functions = {name: getattr(model, name) for name in names}
  # Every signature traced (export saves the traces a function has):
  # `decompress` without, then with, the latent digest.
  concretes = {name: model.concrete_functions(name) for name in names}
  variables = {}
  for traced in concretes.values():
    for concrete in traced:
      for variable in concrete.variables:
        variables[id(variable)] = variable
  variables = list(variables.values())
  metadata = dict(training_info or {})
  # Each latent's least cost per symbol, from the tables its decoder reads
  # (the decode bound: `decode_bound`, `Codec.check`). A model whose tables
  # or symbols cannot be read so is exported without it (and bounded as a
  # model exported before the record) rather than not at all.
  try:
    metadata[decode_bound.KEY] = decode_bound.record(
        model, concretes["decompress"][0])
  except (decode_bound.TableError, ValueError, NotImplementedError) as e:
    print(f"warning: {model.system}: no decode bound recorded ({e})",
          file=sys.stderr)
  metadata.update(
      system=model.system,
      config=model.config,
      config_hash=config_hash(model.config).hex(),
      model_id=_model_id(model.config, variables).hex(),
      latents=list(model.latent_names),
      stride=model.stride,
      shape_strides=list(model.coded_shape_strides),
      tiled=model.tile is not None,
      max_pixels=model.max_pixels or DEFAULT_MAX_PIXELS,
      exported_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
      tfc_repro_version=__version__,
  )
  module = tf.Module()
  module.weights = variables
  for name, function in functions.items():
    setattr(module, name, function)
  module.metadata = tf.Variable(json.dumps(metadata), trainable=False,
                                dtype=tf.string)
  return module, metadata


TRAINING_WEIGHTS = "training_weights.npz"


def training_weights(model):
  """[(name, value)] of every weight of `model` in its order, as training
  sees them (before `freeze_transforms`): what `train --init_from` starts
  from."""
  return [(w.name, w.numpy()) for w in model.weights]


def read_training_weights(model_path):
  """[(name, value)] that `export` kept beside a model; a one-line
  `ModelError` when there are none or they do not read."""
  path = os.path.join(model_path, TRAINING_WEIGHTS)
  if not os.path.isfile(path):
    raise ModelError(
        f"{model_path} holds no training weights ({TRAINING_WEIGHTS}: "
        "models exported before tfc-repro kept them cannot be fine-tuned)")
  try:
    return weights_file.read(path)
  except weights_file.WeightsFileError as e:
    raise ModelError(f"{path} does not read as training weights: {e}"
                     ) from None


# What `export` writes in a model's folder, the only entries of a folder
# that exporting may replace (a user's files there would go with it).
EXPORTED_ENTRIES = frozenset(("assets", "fingerprint.pb", "saved_model.pb",
                              "variables", TRAINING_WEIGHTS))


def _foreign_entry(path):
  """The first entry of the folder `path` that no export writes, or None."""
  return next((entry for entry in sorted(os.listdir(path))
               if entry not in EXPORTED_ENTRIES), None)


def check_replaceable(path):
  """Refuses in one line to export a model to `path` when something there
  is not an exported model: a file, or a folder holding anything an export
  does not write (exporting replaces the folder: a user's files in it would
  be deleted). Nothing at `path`, an empty folder and a model are fine."""
  if not os.path.lexists(path):
    return
  if not os.path.isdir(path):
    raise ModelError(f"{path} is a file, not a model folder: give "
                     "--model_path a new or empty folder")
  foreign = _foreign_entry(path)
  if foreign is not None:
    raise ModelError(
        f"{path} holds {foreign!r}, which is not part of a model: give "
        "--model_path a new or empty folder (exporting replaces the folder "
        "and all it holds)")


def export(model, path, training_info=None, freeze=True, reconstruct=False,
           weights=None):
  """Writes `model` (after `prepare_for_compression`) as a SavedModel: the
  `coding_module` of the model (see there). Returns the metadata.

  `weights` (`training_weights(model)`, taken before the model was
  prepared for compression) are kept beside the SavedModel for fine-tuning.

  The SavedModel is written to a temporary folder beside `path` and then
  renamed to `path` (a model already there is moved aside first and deleted
  after): a kill at any moment leaves the old model or the new one at
  `path`, never a half-written one (or, between the two renames, the old
  one at `path.old-PID`, which `recover` puts back). Anything at `path`
  that is not a model is refused (`check_replaceable`), never replaced.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = os.path.abspath(path)
  check_replaceable(path)
  module, metadata = coding_module(model, training_info, freeze, reconstruct)
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  recover(path)
  temporary = tempfile.mkdtemp(prefix=os.path.basename(path) + ".tmp-",
                               dir=parent)
  try:
    tf.saved_model.save(module, temporary)
    if weights is not None:
      weights_file.write(weights, os.path.join(temporary,
                                                   TRAINING_WEIGHTS))
    old = None
    if os.path.lexists(path):
      old = f"{path}.old-{os.getpid()}"
      os.rename(path, old)
    os.rename(temporary, path)
  except BaseException:
    shutil.rmtree(temporary, ignore_errors=True)
    raise
  if old is not None:
    shutil.rmtree(old, ignore_errors=True)
  return metadata


# The keys without which a record is not a tfc-repro model's.
RECORD_KEYS = ("system", "config", "config_hash", "model_id", "latents")


def _check_saved_model_folder(path):
  """Refuses in one line a `path` that holds no SavedModel (after putting
  back a model that an export killed between its two renames)."""
  if not os.path.lexists(path):
    recover(path)
  if not os.path.exists(path):
    raise ModelError(f"no model at {path}: train one there (the train "
                     "command), or name a shipped model, cpu:NAME (python -m "
                     "tfc_repro.zoo lists them)")
  if not os.path.isdir(path):
    raise ModelError(f"no model at {path} (not a directory)")
  if not os.path.exists(os.path.join(path, "saved_model.pb")):
    raise ModelError(f"{path} is not a SavedModel (no saved_model.pb)")


def _first_line(error):
  """The first line of an exception's message, or its type's name."""
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


def read_metadata(path):
  """The metadata record of the model exported at `path`, read from its
  variables alone, in milliseconds (loading the model takes seconds). The
  weights are not checked against it (`LoadedModel` does); a one-line
  `ModelError` when there is no such record."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  _check_saved_model_folder(path)
  try:
    reader = tf.train.load_checkpoint(os.path.join(path, "variables",
                                                   "variables"))
    metadata = json.loads(reader.get_tensor(
        "metadata/.ATTRIBUTES/VARIABLE_VALUE").decode())
  except Exception as e:  # pylint: disable=broad-except
    raise ModelError(f"cannot read the record of model {path}: "
                     f"{_first_line(e)}") from None
  missing = [key for key in RECORD_KEYS
             if not isinstance(metadata, dict) or key not in metadata]
  if missing:
    raise ModelError(f"{path} is not a tfc-repro model (no {missing[0]!r})")
  return metadata


def recover(path):
  """Puts back a model that an interrupted `export` moved aside (when
  nothing is at `path`), and removes the leftovers of interrupted exports:
  folders named as `export` names them (PATH.old-PID, PATH.tmp-XXXXXXXX)
  that hold nothing an export does not write (a user's folder of such a
  name is left alone)."""
  path = os.path.abspath(path)
  parent, name = os.path.dirname(path), os.path.basename(path)
  if not os.path.isdir(parent):
    return
  leftover = re.compile(re.escape(name) + r"\.(old-\d+|tmp-[a-z0-9_]{8})")
  for entry in sorted(os.listdir(parent)):
    full = os.path.join(parent, entry)
    if (not leftover.fullmatch(entry) or os.path.islink(full)
        or not os.path.isdir(full) or _foreign_entry(full) is not None):
      continue
    if entry.startswith(name + ".old-"):
      if not os.path.lexists(path):
        os.rename(full, path)
      else:
        shutil.rmtree(full, ignore_errors=True)
    elif entry.startswith(name + ".tmp-"):
      shutil.rmtree(full, ignore_errors=True)


def _reason(message):
  """The informative line of a TensorFlow error: the message of a failed
  assertion ("assertion failed: [why] ..."), else the last line that is not
  part of TF's frame ("Graph execution error:", the node's traceback, the
  "[[node ...]]" suffix)."""
  kept = []
  for line in message.splitlines():
    if not line.strip() or line[:1].isspace() or line.startswith(
        ("Graph execution error", "Detected at node", "Node:")):
      continue
    line = line.split("[[", 1)[0].strip()
    if "assertion failed:" in line:
      reason = line.split("assertion failed:", 1)[1].strip()
      reason = reason[1:].split("]", 1)[0] if reason.startswith("[") else reason
      reason = reason.replace("\\'", "'")
      if reason.startswith("Sanity check failed"):  # TFC's range decoder
        reason = ("the range decoder rejects the entropy-coded data "
                  "(corrupt or altered)")
      return reason
    if line:
      kept.append(line)
  return kept[-1] if kept else "unknown error"


def _load_tfc_ops():
  """Registers TFC's range coding ops without importing all of TFC (faster)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.find_spec("tensorflow_compression")
  if spec is None:
    raise ModelError("tensorflow-compression is not installed")
  library = os.path.join(os.path.dirname(spec.origin), "cc", "libtensorflow_compression.so")
  generated = "tensorflow_compression.python.ops.gen_ops"
  if generated in sys.modules:  # TFC is imported: its ops are registered
    return
  if os.path.exists(library):
    ops = tf.load_op_library(library)
    # TensorFlow gives a library's op wrappers to its first load only: a
    # later `import tensorflow_compression` (whose gen_ops loads the library
    # again) must find them in its gen_ops module, set here.
    module = types.ModuleType(generated)
    module.__dict__.update({name: getattr(ops, name) for name in dir(ops)
                            if not name.startswith("_")}, ops=ops)
    sys.modules[generated] = module
  else:
    import tensorflow_compression  # pylint: disable=g-import-not-at-top,unused-import


# The largest image a codec compresses or decodes unless told otherwise:
# 2^27 pixels (134 megapixels, e.g. 16384 x 8192), above any 8K photo.
DEFAULT_MAX_PIXELS = 1 << 27


# The time limit of one decode: DECODE_SECONDS + DECODE_SECONDS_PER_PIXEL per
# pixel, times $TFC_REPRO_DECODE_SLACK (default 1): about 100 s for a Kodak
# image, 3.6 hours for 8000x8000; five to twenty times what the slowest
# systems (lee2019 and hcae at paper size) were measured to take on a loaded
# 2-core CPU (results/bench/memory*.json). TFC's range decoder (2.14) loops
# forever on altered data when it decodes an overflow escape with only zeros
# after it (the Elias-gamma prefix that follows counts zero bits, and past
# its end the decoder reads nothing but zeros), and its encoder, which the
# recode check runs, on values of 2^30 or more. The decoders of models
# exported by this version read every string followed by a guard that ends
# such a prefix (`latent_coders.guarded`) and code a latent again only
# below `latent_coders.MAX_SYMBOL`; the limit is the backstop, for models
# exported before and for any other decode that does not end. The op cannot
# be cancelled, so a decode that overruns the limit is abandoned in its
# thread and the file refused. The abandoned decode keeps a core and one of
# TensorFlow's inter-op threads until the process exits (which it does not
# prevent), so no codec of the process decodes further files after it.
DECODE_SECONDS = 20.
DECODE_SECONDS_PER_PIXEL = 2e-4
# Decodes given up on in this process (threads that may still be running).
_ABANDONED = []


def decode_time_limit(image_shape):
  """Seconds after which decoding an image of `image_shape` is given up."""
  height, width = image_shape
  try:
    slack = float(os.environ.get("TFC_REPRO_DECODE_SLACK", "1"))
  except ValueError:
    slack = 1.
  slack = slack if slack > 0 else 1.
  # (A huge or infinite slack means no limit: the longest wait there is.)
  return min(slack * (DECODE_SECONDS + DECODE_SECONDS_PER_PIXEL * height
                      * width), threading.TIMEOUT_MAX)


def model_max_pixels(metadata):
  """The image size limit a model was exported with (the default for
  models exported before models had limits of their own)."""
  value = metadata.get("max_pixels")
  if isinstance(value, int) and 0 < value <= DEFAULT_MAX_PIXELS:
    return value
  return DEFAULT_MAX_PIXELS


def expected_latent_shapes(image_shape, stride, shape_strides):
  """The (H, W) of every coded latent of an image: the image padded to a
  multiple of `stride`, divided by each latent's factor."""
  padded = [-(-int(d) // stride) * stride for d in image_shape]
  return [tuple(d // factor for d in padded) for factor in shape_strides]


class Codec:
  """A model's coding functions used as a file codec: the exported
  SavedModel (`LoadedModel`) or, for tests and tools, a model in memory
  (`Codec.from_model`), which writes the same files as its export.

  `max_pixels` bounds the images it compresses and the files it decodes
  (the image size a file declares is checked before anything is decoded);
  by default the model's own limit (recorded at export), which is
  `DEFAULT_MAX_PIXELS` unless the model transforms whole images.
  """

  def __init__(self, module, metadata, path=None, max_pixels=None):
    self._module = module
    self.metadata = metadata
    self.path = path
    # How the user named the model (a folder, or a shipped model's name).
    self.name = path
    self.max_pixels = max_pixels or model_max_pixels(metadata)
    # Whether the transforms run in tiles (memory bounded by the tile).
    self.tiled = bool(metadata.get("tiled", True))
    self.system = self.metadata["system"]
    self.config_hash = bytes.fromhex(self.metadata["config_hash"])
    self.model_id = bytes.fromhex(self.metadata["model_id"])
    self.latents = tuple(self.metadata["latents"])
    self.stride = int(self.metadata.get("stride", 1))
    self.shape_strides = tuple(self.metadata.get("shape_strides") or ())
    # The fewest bytes each latent's string holds for the shapes a file
    # declares (recorded at export; computed from the tables for models
    # exported before).
    self.bound = decode_bound.Bound.of(module, metadata)

  @classmethod
  def from_model(cls, model, reconstruct=False):
    """The codec of a model (after `prepare_for_compression`) as export
    would save it; freezes the model's transforms in place."""
    return cls(*coding_module(model, reconstruct=reconstruct))

  def compress(self, image):
    """RGB uint8 array -> `container.Bitstream`."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
      raise ValueError(f"expected an RGB uint8 image, got {image.dtype} "
                       f"array of shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
      raise ValueError(f"image has zero size {image.shape[:2]}")
    self._check_size(image.shape[:2], ValueError)
    outputs = self._module.compress(tf.constant(image))
    count = len(self.latents)
    strings = [s.numpy() for s in outputs[:count]]
    shapes = [tuple(int(d) for d in s.numpy()) for s in outputs[count:-1]]
    return container.Bitstream(
        system=self.system, config_hash=self.config_hash,
        model_id=self.model_id, digest=outputs[-1].numpy().tobytes(),
        image_shape=shapes[0], latent_shapes=shapes[1:], strings=strings)

  def _check_size(self, shape, error):
    height, width = shape
    if height * width > self.max_pixels:
      why = "" if self.tiled else (
          f"; {self.system} transforms whole images, so its memory grows "
          "with the image: raise the limit only with the memory for it")
      raise error(
          f"image of {height}x{width} pixels is above the limit of "
          f"{self.max_pixels} pixels (--max_pixels){why}")

  def check(self, bitstream):
    """Raises `ContainerError` unless the bitstream was made by this model,
    every field of its header is what this model writes for the image size
    it declares, and every latent's string is at least as long as its
    symbols cost at the least (`decode_bound`: a file that declares a large
    image with the strings of a small one is refused before its decoding
    takes minutes); nothing is decoded or allocated before."""
    if bitstream.system != self.system:
      raise container.ContainerError(
          f"file was made by system {bitstream.system!r}, but this model is "
          f"{self.system!r}")
    if bitstream.config_hash != self.config_hash:
      raise container.ContainerError(
          f"file was made by a {self.system} model with another configuration "
          f"({bitstream.config_hash.hex()}, this model has "
          f"{self.config_hash.hex()})")
    if bitstream.model_id != self.model_id:
      raise container.ContainerError(
          f"file was made by a different {self.system} model (model id "
          f"{bitstream.model_id.hex()}, this model is {self.model_id.hex()})")
    if len(bitstream.strings) != len(self.latents):
      raise container.ContainerError(
          f"file holds {len(bitstream.strings)} coded latents, the model "
          f"expects {len(self.latents)}")
    shape = tuple(bitstream.image_shape)
    if len(shape) != 2 or min(shape) < 1:
      raise container.ContainerError(f"file declares an empty image {shape}")
    self._check_size(shape, container.ContainerError)
    if not self.shape_strides:  # exported before shapes were declared
      expected = [None] * len(bitstream.latent_shapes)
    else:
      expected = expected_latent_shapes(shape, self.stride, self.shape_strides)
    if len(bitstream.latent_shapes) != len(expected):
      raise container.ContainerError(
          f"file holds {len(bitstream.latent_shapes)} latent shapes, the "
          f"model codes {len(expected)}")
    for stored, derived in zip(bitstream.latent_shapes, expected):
      if len(stored) != 2 or (derived and tuple(stored) != derived):
        raise container.ContainerError(
            f"latent shape {tuple(stored)} does not match the image of "
            f"{shape[0]}x{shape[1]} (this model codes {derived} for it)")
    self.bound.check(bitstream, container.ContainerError)

  def decompress(self, bitstream):
    """`container.Bitstream` -> RGB uint8 array (checked against the model)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self.check(bitstream)
    if any(thread.is_alive() for thread in _ABANDONED):
      raise container.ContainerError(
          "an earlier decode of altered data is still running in this "
          "process (TFC's range decoder does not stop on it) and holds "
          "TensorFlow's threads: decode in a new process")
    args = [tf.constant(s, tf.string) for s in bitstream.strings]
    args.append(tf.constant(bitstream.image_shape, tf.int32))
    args += [tf.constant(s, tf.int32) for s in bitstream.latent_shapes]
    outcome = {}

    def run():
      try:
        outcome["result"] = self._module.decompress(*args)
      except (tf.errors.OpError, ValueError, TypeError) as e:
        outcome["error"] = _reason(getattr(e, "message", str(e)))
      except BaseException as e:  # pylint: disable=broad-except
        outcome["error"] = f"{type(e).__name__}: {_reason(str(e))}"

    # TFC's range decoder does not always stop on altered data (see
    # DECODE_SECONDS): the decoding runs in a thread that is abandoned
    # when it overruns its time limit.
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    limit = decode_time_limit(bitstream.image_shape)
    worker.join(limit)
    if worker.is_alive():
      _ABANDONED.append(worker)
      raise container.ContainerError(
          f"decoding did not finish within {limit:.0f} s, far longer than "
          "an image of this size takes: the entropy-coded data was probably "
          "altered (on a very slow machine, TFC_REPRO_DECODE_SLACK=10 "
          "allows ten times longer)")
    if "result" not in outcome:
      raise container.ContainerError(
          "bitstream does not decode with this model: "
          f"{outcome.get('error', 'no result')}")
    image, digest = outcome["result"]
    if digest.numpy().tobytes() != bitstream.digest:
      raise container.ContainerError(
          "the decoded latents are not the encoder's (latent digest "
          f"{digest.numpy().tobytes().hex()}, the file says "
          f"{bitstream.digest.hex()}): the entropy-coded data was cut or "
          "altered, or this machine computes the model's tables "
          "differently from the encoder's")
    image = image.numpy()
    if image.shape[:2] != tuple(bitstream.image_shape):
      raise container.ContainerError("decoded image has the wrong size")
    return image

  def reconstruct(self, image):
    """The model's reconstruction without entropy coding (RGB uint8), or
    None for models exported without it."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if not hasattr(self._module, "reconstruct"):
      return None
    return self._module.reconstruct(
        tf.constant(np.asarray(image, np.uint8))).numpy()

  def estimate_bits(self, image):
    """The model's estimated bits for each latent: {name: bits}."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    bits = self._module.estimate(tf.constant(np.asarray(image, np.uint8)))
    return {name: float(b.numpy()) for name, b in zip(self.latents, bits)}


class LoadedModel(Codec):
  """An exported model (a SavedModel directory) used as a file codec."""

  def __init__(self, path, max_pixels=None):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    _check_saved_model_folder(path)
    _load_tfc_ops()
    try:
      module = tf.saved_model.load(path)
      metadata = json.loads(module.metadata.numpy().decode())
    except Exception as e:  # pylint: disable=broad-except
      raise ModelError(f"cannot load model {path}: {_first_line(e)}"
                       ) from None
    for key in RECORD_KEYS:
      if key not in metadata:
        raise ModelError(f"{path} is not a tfc-repro model (no {key!r})")
    # The id of the weights and probability tables as loaded, not as
    # recorded: a SavedModel whose variables were altered after export
    # (tables perturbed, weights of another model) is refused here.
    weights = getattr(module, "weights", None)
    if weights is None:
      raise ModelError(f"{path} is not a tfc-repro model (no weights)")
    loaded_id = _model_id(metadata["config"], weights).hex()
    if loaded_id != metadata["model_id"]:
      raise ModelError(
          f"the weights or probability tables of {path} are not the ones it "
          f"was exported with (model id {loaded_id}, recorded "
          f"{metadata['model_id']}): the SavedModel was altered")
    super().__init__(module, metadata, path, max_pixels)
