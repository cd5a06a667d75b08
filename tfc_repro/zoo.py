"""Trained models shipped with tfc-repro, named by system and quality.

    python -m tfc_repro.zoo                  # lists the shipped models
    python -m tfc_repro.bmshj2018 --model_path cpu:bmshj2018-hyperprior-3 \\
        compress photo.png photo.tfci

`cpu:NAME` names a model of the CPU-budget reproduction: NAME is the curve
(`bls2017`, `bmshj2018-factorized`, `bmshj2018-hyperprior`,
`bmshj2018-meanscale`, `lee2019`, `hcae`, ...) and the quality, 1 (lowest
rate) to 4 (highest), as in TFC's and CompressAI's model zoos. Within a
system's program the system's name may be left out
(`python -m tfc_repro.bmshj2018 --model_path cpu:hyperprior-3`). These models
were trained for a few CPU-hours on a 2-core CPU: they code far worse than the
published models (see each model's card, `tfc_repro/zoo/cpu/NAME/README.md`).

A shipped model is its training weights (`weights.npz`; each array stored as
float16 where that moves no value by more than 2^-11 of the array's
largest, else as float32; a model fine-tuned from another shipped model
stores its float16 arrays as differences from that model's, which compress
better, and needs it) and the train flags that build its architecture
(`model.json`). On first use it is rebuilt
into a SavedModel by the code that exports every trained model, in a cache
folder (`$TFC_REPRO_CACHE`, else `~/.cache/tfc_repro`); the Kodak results of
the reproduction were measured on these rebuilt models, not on the float32
models they were rounded from.
"""

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile

import numpy as np

from tfc_repro import argutil
from tfc_repro import data
from tfc_repro import files
from tfc_repro import results as results_lib
from tfc_repro import weights_file

COLLECTION = "cpu"
PREFIX = COLLECTION + ":"
ZOO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo",
                       COLLECTION)
WEIGHTS = "weights.npz"
RECORD = "model.json"
CARD = "README.md"
# A shipped model's name: its system's name, a hyphen and the rest (e.g.
# bmshj2018-hyperprior-3), in lowercase letters, digits, and single dots or
# hyphens between them.
NAME_PATTERN = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
# The Kodak means a record keeps, and the evaluation they must come from
# (`evaluate --images kodak`: every Kodak image, each checked by its SHA-256).
KODAK_KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb")
KODAK_IMAGES = tuple(sorted(data.KODAK_SHA256))
KODAK_DATASET = f"kodak ({len(KODAK_IMAGES)} images)"
# float16's largest value and smallest normal value.
_FLOAT16_MAX = float(np.finfo(np.float16).max)
_FLOAT16_TINY = float(np.finfo(np.float16).tiny)


class ZooError(ValueError):
  """A shipped model that cannot be named, read or rebuilt (one line)."""


def is_zoo_name(text):
  return isinstance(text, str) and text.startswith(PREFIX)


def names(zoo_dir=None):
  """The shipped models' names, sorted (never a folder that `pack` is
  still writing)."""
  zoo_dir = zoo_dir or ZOO_DIR
  if not os.path.isdir(zoo_dir):
    return []
  return sorted(entry for entry in os.listdir(zoo_dir)
                if NAME_PATTERN.fullmatch(entry) and
                os.path.isfile(os.path.join(zoo_dir, entry, RECORD)))


def entry_name(text, system=None, zoo_dir=None, only_system=True):
  """The shipped model that `cpu:NAME` names (NAME with or without the
  system's name in front when `system` is given). A model of another system
  is refused unless `only_system` is false (a model that starts another
  system's training, such as a regularized model's backbone)."""
  zoo_dir = zoo_dir or ZOO_DIR
  name = text[len(PREFIX):] if is_zoo_name(text) else text
  available = names(zoo_dir)
  candidates = [name] + ([f"{system}-{name}"] if system else [])
  for candidate in candidates:
    if candidate in available:
      if (system and only_system and
          read_record(candidate, zoo_dir)["system"] != system):
        raise ZooError(
            f"{PREFIX}{candidate} is a {read_record(candidate, zoo_dir)['system']}"
            f" model, not a {system} model")
      return candidate
  own = [n for n in available
         if not system or _system_of(n, zoo_dir) == system]
  raise ZooError(f"no shipped model {PREFIX}{name} (shipped"
                 + (f" {system} models" if system else "") + ": "
                 + (", ".join(PREFIX + n for n in own) or "none") + ")")


def _system_of(name, zoo_dir):
  """The system of the shipped model `name`, or None when its record does
  not read."""
  try:
    return read_record(name, zoo_dir)["system"]
  except ZooError:
    return None


def read_record(name, zoo_dir=None):
  """The record (model.json) of the shipped model `name`, its fields checked
  before any is used."""
  zoo_dir = zoo_dir or ZOO_DIR
  path = os.path.join(zoo_dir, name, RECORD)
  try:
    with open(path, encoding="utf-8") as f:
      record = json.load(f)
  except (OSError, ValueError) as e:
    raise ZooError(f"cannot read {path}: {e}") from None
  problem = _record_problem(record)
  if problem:
    raise ZooError(f"{path} is not a shipped model's record: {problem}")
  return record


def _kodak_value_problem(key, value):
  """What is wrong with a Kodak mean (or one image's value) of `key` (one of
  `KODAK_KEYS`), or None: each is a finite number, bpp and PSNR positive,
  MS-SSIM in (0, 1]."""
  if not results_lib.is_number(value) or not math.isfinite(value):
    return f"{key} {value!r} is not a finite number"
  if key == "ms-ssim-rgb" and not 0 < value <= 1:
    return f"{key} {value!r} is not in (0, 1]"
  if value <= 0:
    return f"{key} {value!r} is not positive"
  return None


def _record_problem(record):
  """What is wrong with a record's fields, or None: every field the
  listing, the card and the rebuild use is checked."""
  if not isinstance(record, dict):
    return "not a JSON object"
  for key, kind in (("name", str), ("system", str), ("flags", list),
                    ("training", dict), ("weights", dict)):
    if not isinstance(record.get(key), kind):
      return f"no {key} ({kind.__name__})"
  if not all(isinstance(flag, str) for flag in record["flags"]):
    return "flags that are not strings"
  for key in ("model_id", "source_model_id"):
    if record.get(key) is not None and not isinstance(record[key], str):
      return f"{key} is not a string"
  if record.get("config") is not None and not isinstance(record["config"],
                                                         dict):
    return "config is not a JSON object"
  training = record["training"]
  for key in ("lmbda", "steps", "train_cpu_seconds"):
    if key in training and not results_lib.is_number(training[key]):
      return f"training.{key} is not a number"
  if training.get("init_from") is not None and not isinstance(
      training["init_from"], dict):
    return "training.init_from is not a JSON object"
  warnings = training.get("rate_share_warnings")
  if warnings is not None and not (
      isinstance(warnings, list) and
      all(isinstance(warning, str) for warning in warnings)):
    return "training.rate_share_warnings is not a list of strings"
  weights = record["weights"]
  if not isinstance(weights.get("sha256"), str):
    return "no weights.sha256"
  for key in ("bytes", "float16", "other"):
    if not results_lib.is_number(weights.get(key)):
      return f"weights.{key} is not a number"
  relative_to = weights.get("relative_to")
  if relative_to is not None and not (
      isinstance(relative_to, dict) and
      isinstance(relative_to.get("name"), str) and
      isinstance(relative_to.get("sha256"), str)):
    return "weights.relative_to is not a name and SHA-256"
  kodak = record.get("kodak")
  if kodak is not None:
    if not isinstance(kodak, dict):
      return "kodak is not a JSON object"
    for key in KODAK_KEYS:
      problem = _kodak_value_problem(key, kodak.get(key))
      if problem:
        return f"kodak {problem}"
    for key in ("dataset", "results"):
      if not isinstance(kodak.get(key), str):
        return f"kodak.{key} is not a string"
  return None


def _write_record(record, zoo_dir=None, folder=None):
  """Writes `record` and its card into `folder` (default: the model's
  folder in `zoo_dir`), each file whole or not at all; a record that would
  not read back is refused before anything is written."""
  problem = _record_problem(record)
  if problem:
    raise ZooError(f"not writing the record of {PREFIX}"
                   f"{record.get('name')}: {problem}")
  folder = folder or os.path.join(zoo_dir or ZOO_DIR, record["name"])
  record_text = json.dumps(record, indent=1, sort_keys=True) + "\n"
  card_text = card(record)
  os.makedirs(folder, exist_ok=True)
  files.write_bytes(os.path.join(folder, RECORD), record_text.encode("utf-8"))
  files.write_bytes(os.path.join(folder, CARD), card_text.encode("utf-8"))


def round_weights(weights):
  """[(name, array)] as shipped: a float32 array becomes float16 when its
  largest magnitude lies in float16's normal range, so that no value moves
  by more than 2^-11 of that magnitude (normal values round relatively,
  smaller ones by at most float16's subnormal spacing); any other array is
  kept as it is."""
  shipped = []
  for name, value in weights:
    value = np.asarray(value)
    if value.dtype == np.float32:
      largest = float(np.abs(value).max()) if value.size else 0.
      if _FLOAT16_TINY <= largest <= _FLOAT16_MAX:
        value = value.astype(np.float16)
    shipped.append((name, value))
  return shipped


def _read_stored(path):
  try:
    return weights_file.read(path)
  except weights_file.WeightsFileError as e:
    raise ZooError(f"{path} does not read as shipped weights: {e}") from None


def _to_differences(weights, parent):
  """`weights` (as shipped) stored relative to `parent`'s: each float16
  array whose parent array has the same name and shape becomes the uint16
  difference of their bit patterns (modulo 2^16; small where fine-tuning
  moved a weight little), any other array is kept. None when no array
  pairs up."""
  if [n for n, _ in weights] != [n for n, _ in parent]:
    return None
  stored, paired = [], 0
  for (name, value), (_, base) in zip(weights, parent):
    if (value.dtype == np.float16 and base.dtype == np.float16 and
        value.shape == base.shape):
      value = np.asarray(value.view(np.uint16) - base.view(np.uint16))
      paired += 1
    elif value.dtype == np.uint16:
      return None  # it would read as a difference
    stored.append((name, value))
  return stored if paired else None


def _from_differences(stored, parent, model):
  """The arrays `_to_differences` stored relative to `parent`, of the
  shipped `model`."""
  if [n for n, _ in stored] != [n for n, _ in parent]:
    raise ZooError(f"{model} names other weights than the model it is "
                   "stored relative to")
  weights = []
  for (name, value), (_, base) in zip(stored, parent):
    if value.dtype == np.uint16:
      if base.dtype != np.float16 or base.shape != value.shape:
        raise ZooError(f"{model}: weight {name} does not pair with the "
                       "model it is stored relative to")
      value = np.asarray(value + base.view(np.uint16)).view(np.float16)
    weights.append((name, value))
  return weights


def _checked_file(name, record, zoo_dir):
  """(SHA-256, stored arrays) of the weights file of `name`, which must be
  the one its record names."""
  weights_path = os.path.join(zoo_dir, name, WEIGHTS)
  if not os.path.isfile(weights_path):
    raise ZooError(f"{PREFIX}{name} has no weights file ({weights_path})")
  digest = data.file_sha256(weights_path)
  if digest != record["weights"]["sha256"]:
    raise ZooError(f"{weights_path} is not the file {PREFIX}{name} was "
                   "shipped with (its SHA-256 differs)")
  return digest, _read_stored(weights_path)


def _chain(name, zoo_dir):
  """([name, the shipped model its weights are stored relative to, ...,
  the one stored on its own], their records); a chain that comes back or
  names a model not shipped is refused."""
  shipped = names(zoo_dir)
  chain, records = [name], [read_record(name, zoo_dir)]
  while records[-1]["weights"].get("relative_to") is not None:
    parent = records[-1]["weights"]["relative_to"]["name"]
    if parent in chain:
      raise ZooError(f"{PREFIX}{name}'s weights are stored relative to a "
                     "chain of models that comes back to itself ("
                     + " → ".join(PREFIX + n for n in chain + [parent]) + ")")
    if parent not in shipped:
      raise ZooError(f"{PREFIX}{chain[-1]}'s weights are stored relative to "
                     f"{PREFIX}{parent}, which is not shipped")
    chain.append(parent)
    records.append(read_record(parent, zoo_dir))
  return chain, records


def _shipped_arrays(name, zoo_dir, chain=None):
  """(record, weights file SHA-256, [(name, array)] as shipped: float16
  where rounded) of the shipped model `name`, its file checked against its
  record and, when it is stored relative to another shipped model, that
  model's too (and so on along its `_chain`, given or read)."""
  chain, records = chain or _chain(name, zoo_dir)
  # From the model stored on its own back to `name`.
  digest, weights = _checked_file(chain[-1], records[-1], zoo_dir)
  for child, record in zip(chain[-2::-1], records[-2::-1]):
    relative_to = record["weights"]["relative_to"]
    if digest != relative_to["sha256"]:
      raise ZooError(f"{PREFIX}{child}'s weights are stored relative to "
                     f"another {PREFIX}{relative_to['name']} than the one "
                     "shipped (its SHA-256 differs)")
    digest, stored = _checked_file(child, record, zoo_dir)
    weights = _from_differences(stored, weights, PREFIX + child)
  return records[0], digest, weights


def store_weights(name, weights, parent=None, zoo_dir=None, folder=None):
  """Writes `weights` (as shipped) as the weights file of `name` (into
  `folder`, default its folder in `zoo_dir`), relative to the shipped model
  `parent` when it has the same weights' names and is not itself stored
  relative to `name` (it then stays needed); returns the record's "weights"
  entry. Refuses to give `name` other weights while shipped models are
  stored relative to it."""
  zoo_dir = zoo_dir or ZOO_DIR
  stored, relative_to = weights, None
  chain = _chain(parent, zoo_dir) if parent not in (None, name) else None
  # (Not relative to a parent whose own weights are stored relative to name.)
  if chain and name not in chain[0]:
    _, parent_digest, parent_weights = _shipped_arrays(parent, zoo_dir, chain)
    differences = _to_differences(weights, parent_weights)
    if differences is not None:
      stored = differences
      relative_to = dict(name=parent, sha256=parent_digest)
  folder = folder or os.path.join(zoo_dir, name)
  os.makedirs(folder, exist_ok=True)
  weights_path = os.path.join(folder, WEIGHTS)
  shipped_path = os.path.join(zoo_dir, name, WEIGHTS)
  new_path = weights_path + ".new"
  weights_file.write(stored, new_path, compression="lzma")
  digest = data.file_sha256(new_path)
  children = [other for other in names(zoo_dir) if other != name and
              (read_record(other, zoo_dir)["weights"].get("relative_to")
               or {}).get("name") == name]
  if (children and os.path.isfile(shipped_path) and
      data.file_sha256(shipped_path) != digest):
    os.remove(new_path)
    raise ZooError(f"{PREFIX}{name} has other weights than the shipped "
                   f"model that " + ", ".join(PREFIX + c for c in children)
                   + " are stored relative to: ship it under another name")
  os.replace(new_path, weights_path)
  entry = dict(
      file=WEIGHTS, sha256=digest, bytes=os.path.getsize(weights_path),
      float16=sum(v.dtype == np.float16 for _, v in weights),
      other=sum(v.dtype != np.float16 for _, v in weights))
  if relative_to:
    entry["relative_to"] = relative_to
  return entry


def cache_dir():
  return os.environ.get("TFC_REPRO_CACHE") or os.path.join(
      os.path.expanduser("~"), ".cache", "tfc_repro")


def code_digest():
  """A digest of tfc-repro's modules, the code that rebuilds a shipped model:
  a model rebuilt by other code (another version, a local change) is
  rebuilt again rather than taken from the cache."""
  package = os.path.dirname(os.path.abspath(__file__))
  sha = hashlib.sha256()
  for entry in sorted(os.listdir(package)):
    if entry.endswith(".py"):
      sha.update(entry.encode() + b"\0")
      with open(os.path.join(package, entry), "rb") as f:
        sha.update(f.read())
  return sha.hexdigest()


def shipped_weights(name, zoo_dir=None):
  """(record, [(name, float32 array)]) of the shipped model `name`: its
  training weights as shipped (what `train --init_from` starts from),
  without building the model."""
  record, _, weights = _shipped_arrays(name, zoo_dir or ZOO_DIR)
  return record, weights_file.as_float32(weights)


def materialize(name, zoo_dir=None, quiet=False):
  """The SavedModel folder of the shipped model `name`, rebuilt from its
  weights on first use by this code (and kept in `cache_dir()`, where a
  build removes the builds of the model by other code or of other weights
  that no use has touched for a day)."""
  zoo_dir = zoo_dir or ZOO_DIR
  record, digest, weights = _shipped_arrays(name, zoo_dir)
  path = _cache_path(name, digest)
  if os.path.isfile(os.path.join(path, "saved_model.pb")):
    with contextlib.suppress(OSError):
      os.utime(path)  # in use: kept when another build of it is made
  else:
    if not quiet:
      print(f"building {PREFIX}{name} from its shipped weights (first use) "
            f"into {path}", file=sys.stderr, flush=True)
    metadata = rebuild(record, weights_file.as_float32(weights), path)
    if metadata["model_id"] != record.get("model_id", metadata["model_id"]):
      print(f"warning: {PREFIX}{name} rebuilt on this machine has model id "
            f"{metadata['model_id']}, not the shipped {record['model_id']}: "
            "this CPU computes its tables or kernels differently, and its "
            "files may not decode with the shipped model elsewhere",
            file=sys.stderr)
    # The builds of this model by other code (an earlier version, a local
    # change) or of other weights that no use has touched for a day.
    files.remove_stale(os.path.dirname(path), f"{name}-",
                       pattern=_cache_pattern(name))
  return path


# The digests a cache folder's name holds are cut to this many hex digits.
_CACHE_DIGITS = 12


def _cache_path(name, digest):
  """The cache folder of the model `name` rebuilt from the weights file of
  SHA-256 `digest` by this code."""
  return os.path.join(
      cache_dir(), "zoo", COLLECTION,
      f"{name}-{digest[:_CACHE_DIGITS]}-{code_digest()[:_CACHE_DIGITS]}")


def _cache_pattern(name):
  """A regular expression of the names of every cache folder of the model
  `name` (`_cache_path`: any weights, any code)."""
  digits = f"[0-9a-f]{{{_CACHE_DIGITS}}}"
  return f"{re.escape(name)}-{digits}-{digits}"


def rebuild(record, weights, path):
  """Builds the model of `record`'s flags, sets `weights` and exports it as
  training exports a model, into a folder beside `path`; checks that it is
  the model the record was trained as, and only then moves it to `path` (a
  failed rebuild leaves nothing there for a later use to take). Returns the
  metadata."""
  # Imported here: they import TensorFlow and the systems, and training
  # imports this module.
  from tfc_repro import cli  # pylint: disable=g-import-not-at-top
  from tfc_repro import systems  # pylint: disable=g-import-not-at-top
  from tfc_repro import training  # pylint: disable=g-import-not-at-top
  system = systems.system(record["system"])
  args = _parse_flags(cli.build_parser(system), record)
  cli.resolve_train_args(system, args)
  model = system.build_model(args)
  training.assign_weights(model, weights, PREFIX + record["name"],
                          flag="shipped model")
  info = dict(record["training"], zoo_name=PREFIX + record["name"])
  path = os.path.abspath(path)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  files.remove_stale(os.path.dirname(path),
                     os.path.basename(path) + ".rebuild-")
  work = tempfile.mkdtemp(dir=os.path.dirname(path),
                          prefix=os.path.basename(path) + ".rebuild-")
  try:
    built = os.path.join(work, "model")
    metadata = training.export(model, info, built)
    if metadata["config"] != record.get("config"):
      raise ZooError(f"the flags of {PREFIX}{record['name']} build another "
                     f"model than it was trained as ({metadata['config']} "
                     f"instead of {record.get('config')})")
    _move_into_place(built, path)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  return metadata


def _parse_flags(parser, record):
  """The train arguments of `record`'s flags, parsed by the system's
  `parser`; flags that do not parse are a `ZooError` (one line)."""
  output = io.StringIO()
  try:
    with contextlib.redirect_stderr(output), contextlib.redirect_stdout(
        output):
      return parser.parse_args(["train", *record["flags"]])
  except SystemExit:
    reason = output.getvalue().strip().split("error: ", 1)[-1]
    reason = argutil.first_line(reason.removesuffix("(see --help)").strip())
    raise ZooError(f"the train flags of {PREFIX}{record['name']} do not "
                   f"parse: {reason}") from None


def _move_into_place(folder, path):
  """Renames `folder` to `path`, unless a complete model got there first
  (another process rebuilding the same model); what an older failed build
  left at `path` is replaced."""
  try:
    os.rename(folder, path)
  except OSError:
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
      return
    if not os.path.isdir(path):
      raise
    shutil.rmtree(path)
    os.rename(folder, path)


def pack(model_path, name, flags, zoo_dir=None, replace=False):
  """Ships the exported model at `model_path` as `cpu:name`: its training
  weights, rounded (`round_weights`), and the train `flags` that build its
  architecture; rebuilds it once to check the flags and record its model
  id. The name is its system's name and more (`NAME_PATTERN`); a shipped
  model's name is refused unless `replace`. Everything is written into a
  folder of its own first and moved into place once checked: a failed pack
  leaves the zoo as it was. Returns the record."""
  zoo_dir = zoo_dir or ZOO_DIR
  if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
    raise ZooError(f"{name!r} is not a shipped model's name: SYSTEM-QUALITY "
                   "such as bls2017-4, in lowercase letters, digits, dots "
                   "and hyphens")
  folder = os.path.join(zoo_dir, name)
  previous = None
  if os.path.lexists(folder):
    if not replace:
      raise ZooError(f"{PREFIX}{name} is already shipped: give --replace to "
                     "ship another model under its name")
    with contextlib.suppress(ZooError):
      previous = read_record(name, zoo_dir)
  from tfc_repro import savedmodel  # pylint: disable=g-import-not-at-top
  # The record and training weights alone: the rebuild below makes the
  # SavedModel that the name stands for from them.
  metadata = savedmodel.read_metadata(model_path)
  if not name.startswith(f"{metadata['system']}-"):
    raise ZooError(f"{model_path} holds a {metadata['system']} model: its "
                   f"name starts with {metadata['system']}- (not {name})")
  shipped = round_weights(savedmodel.read_training_weights(model_path))
  training_record = {k: v for k, v in metadata.items()
                     if k not in savedmodel.EXPORT_KEYS}
  parent = training_record.pop("init_from", None)
  shipped_parent = None
  if parent is not None:
    # The shipped model it was fine-tuned from, if it is one.
    for other in names(zoo_dir):
      known = read_record(other, zoo_dir)
      if parent.get("model_id") is not None and parent["model_id"] in (
          known.get("source_model_id"), known.get("model_id")):
        parent = dict(parent, path=PREFIX + other)
        shipped_parent = other
        break
    training_record["init_from"] = parent
  os.makedirs(zoo_dir, exist_ok=True)
  files.remove_stale(zoo_dir, f".{name}.pack-")
  if os.path.isdir(folder):
    # (Without the model folder, a model moved aside by a killed pack is
    # the only copy of that model: it stays.)
    files.remove_stale(zoo_dir, f".{name}.old-")
  staging = tempfile.mkdtemp(dir=zoo_dir, prefix=f".{name}.pack-")
  try:
    record = dict(
        name=name, system=metadata["system"], flags=list(flags),
        config=metadata["config"], source_model_id=metadata["model_id"],
        training=data.portable(training_record),
        weights=store_weights(name, shipped, shipped_parent, zoo_dir,
                              folder=staging))
    # Rebuilt once now (the first use, into the cache): checks the flags and
    # records the id of the model the name stands for.
    built = rebuild(record, weights_file.as_float32(shipped),
                    _cache_path(name, record["weights"]["sha256"]))
    record["model_id"] = built["model_id"]
    if previous and previous.get("model_id") == record["model_id"]:
      # The same model again: its Kodak results still hold.
      record["kodak"] = previous.get("kodak")
    _write_record(record, folder=staging)
    _install(staging, folder)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return record


def _install(staging, folder):
  """Moves the model folder `staging` to `folder`; a model already there is
  moved aside first (back if the move fails) and then deleted."""
  if not os.path.lexists(folder):
    os.rename(staging, folder)
    return
  aside = tempfile.mkdtemp(dir=os.path.dirname(folder),
                           prefix=f".{os.path.basename(folder)}.old-")
  old = os.path.join(aside, "model")
  os.rename(folder, old)
  try:
    os.rename(staging, folder)
  except OSError:
    os.rename(old, folder)
    os.rmdir(aside)
    raise
  shutil.rmtree(aside, ignore_errors=True)


def kodak_results(results_path, zoo_dir=None):
  """{name: Kodak entry of its record} of the shipped models evaluated in a
  results JSON written by `evaluate --images kodak` on `cpu:` models. Only
  an evaluation of the model as shipped (its model id) on every Kodak image,
  with finite means of the images' values, is taken; points of other models
  (a codec's, a folder's) are passed over. Anything else, or a file with no
  point of a shipped model, is refused in one line naming the file."""
  zoo_dir = zoo_dir or ZOO_DIR
  try:
    document = results_lib.read_json(results_path)
  except OSError as e:
    raise ZooError(f"cannot read {results_path}: {e.strerror or e}") from None
  except results_lib.DocumentError as e:
    raise ZooError(str(e)) from None
  try:
    return _kodak_entries(document, os.path.basename(results_path), zoo_dir)
  except ZooError as e:
    raise ZooError(f"{results_path}: not recorded: {e}") from None


def _kodak_entries(document, file_name, zoo_dir):
  """`kodak_results` of a results document read from `file_name`."""
  if not isinstance(document, dict) or not isinstance(
      document.get("points"), list):
    raise ZooError("not a results file of evaluate (no points)")
  points = document["points"]
  for key in KODAK_KEYS:
    means = (document.get("results") or {}).get(key)
    if not isinstance(means, list) or len(means) != len(points):
      raise ZooError(f"results.{key} is not a list of a mean per point")
  entries = {}
  for i, point in enumerate(points):
    metadata = point.get("metadata") if isinstance(point, dict) else None
    if not isinstance(metadata, dict):
      raise ZooError(f"point {i + 1} has no metadata")
    zoo_name = metadata.get("zoo_name")
    if not is_zoo_name(zoo_name):
      continue  # not a shipped model's point
    name = zoo_name[len(PREFIX):]
    label = f"point {i + 1} ({zoo_name})"
    if name not in names(zoo_dir):
      raise ZooError(f"{label}: no such shipped model")
    if name in entries:
      raise ZooError(f"{label}: the model is evaluated twice")
    shipped_id = read_record(name, zoo_dir).get("model_id")
    if shipped_id is None or metadata.get("model_id") != shipped_id:
      raise ZooError(f"{label} evaluates model {metadata.get('model_id')}, "
                     f"not the shipped model ({shipped_id})")
    if document.get("dataset") != KODAK_DATASET:
      raise ZooError(f"evaluated on {document.get('dataset')}, not on "
                     f"{KODAK_DATASET} (evaluate --images kodak)")
    per_image = point.get("per_image")
    if not (isinstance(per_image, list) and
            all(isinstance(row, dict) for row in per_image) and
            sorted(str(row.get("image")) for row in per_image)
            == list(KODAK_IMAGES)):
      raise ZooError(f"{label} is not an evaluation of each Kodak image "
                     "once")
    entry = dict(dataset=KODAK_DATASET, results=file_name)
    for key in KODAK_KEYS:
      for row in per_image:
        problem = _kodak_value_problem(key, row.get(key))
        if problem:
          raise ZooError(f"{label}: {row['image']}'s {problem}")
      mean = sum(row[key] for row in per_image) / len(per_image)
      means = document["results"][key]
      if not (results_lib.is_number(means[i]) and
              abs(means[i] - mean) <= 1e-9 * max(1., abs(mean))):
        raise ZooError(f"{label}: results.{key} {means[i]!r} is not the "
                       f"mean of its images' ({mean!r})")
      entry[key] = means[i]
    entries[name] = entry
  if not entries:
    raise ZooError("no point of a shipped model (points of models named "
                   f"{PREFIX}NAME when evaluated)")
  return entries


def record_results(results_path, zoo_dir=None):
  """Copies each shipped model's Kodak means from a results JSON (checked by
  `kodak_results` before any record is written) into its record and card;
  returns the names updated."""
  zoo_dir = zoo_dir or ZOO_DIR
  entries = kodak_results(results_path, zoo_dir)
  _record_kodak(entries, zoo_dir)
  return list(entries)


def _record_kodak(entries, zoo_dir):
  """Writes `kodak_results`' entries into the records and cards."""
  for name, entry in entries.items():
    record = read_record(name, zoo_dir)
    record["kodak"] = entry
    _write_record(record, zoo_dir)


def _fmt(value, spec):
  return "-" if value is None else format(value, spec)


def card(record):
  """The model card (Markdown) of a shipped model."""
  training = record["training"]
  kodak = record.get("kodak") or {}
  parent = training.get("init_from")
  origin = ("from scratch" if not parent else
            f"fine-tuned from {parent.get('path')} (itself "
            f"{parent.get('steps')} steps)")
  cpu_hours = training.get("train_cpu_seconds", 0) / 3600
  lines = [
      f"# {PREFIX}{record['name']}",
      "",
      f"A {record['system']} model of tfc-repro's CPU-budget reproduction. "
      "Trained on a 2-core CPU: far below the published models.",
      "",
      "| | |",
      "|---|---|",
      f"| system | {record['system']} (`python -m tfc_repro."
      f"{record['system']}`) |",
      f"| λ | {training.get('lmbda')} ({training.get('metric')}) |",
      f"| train flags | `{' '.join(record['flags'])}` |",
      f"| training data | {training.get('train_data')} |",
      f"| crops, batch | {training.get('patchsize')}², "
      f"{training.get('batchsize')} |",
      f"| steps | {training.get('steps')}, {origin} |",
      f"| CPU time | {cpu_hours:.2f} CPU-hours (this model's own training) |",
      f"| weights | {record['weights']['float16']} arrays as float16, "
      f"{record['weights']['other']} as stored; "
      f"{record['weights']['bytes'] / 1e6:.1f} MB"
      + (f", stored relative to {PREFIX}"
         f"{record['weights']['relative_to']['name']}"
         if record["weights"].get("relative_to") else "") + " |",
      f"| Kodak | {_fmt(kodak.get('bpp'), '.4f')} bpp, "
      f"{_fmt(kodak.get('psnr-rgb'), '.2f')} dB PSNR, "
      f"{_fmt(kodak.get('ms-ssim-rgb'), '.4f')} MS-SSIM (RGB, mean of "
      f"{kodak.get('dataset') or 'Kodak, not evaluated yet'}; bpp of the "
      "files) |",
      "",
  ]
  warnings = training.get("rate_share_warnings") or []
  if warnings:
    lines += ["Training warned that latent levels carried almost none of the "
              "rate (collapsed levels code next to nothing):", "",
              *[f"- {warning}" for warning in warnings], ""]
  lines += [
      "Use it by name:",
      "",
      "```sh",
      f"python -m tfc_repro.{record['system']} --model_path "
      f"{PREFIX}{record['name']} compress photo.png photo.tfci",
      f"python -m tfc_repro.{record['system']} --model_path "
      f"{PREFIX}{record['name']} decompress photo.tfci photo.png",
      "```",
      "",
  ]
  return "\n".join(lines)


def table(zoo_dir=None, unreadable=None):
  """The listing `python -m tfc_repro.zoo` prints. A record that does not
  read raises its `ZooError`, unless `unreadable` is a list: then the
  (name, error) of each such record is appended to it and the others are
  listed all the same."""
  zoo_dir = zoo_dir or ZOO_DIR
  rows = [f"{'name':<32} {'λ':>8} {'steps':>6} {'CPU h':>6} {'bpp':>7} "
          f"{'PSNR':>6} {'MS-SSIM':>7}"]
  for name in names(zoo_dir):
    try:
      record = read_record(name, zoo_dir)
    except ZooError as e:
      if unreadable is None:
        raise
      unreadable.append((name, e))
      rows.append(f"{PREFIX + name:<32} (its record does not read)")
      continue
    training = record["training"]
    kodak = record.get("kodak") or {}
    rows.append(
        f"{PREFIX + name:<32} {training.get('lmbda', 0):>8.4g} "
        f"{training.get('steps', 0):>6} "
        f"{training.get('train_cpu_seconds', 0) / 3600:>6.2f} "
        f"{_fmt(kodak.get('bpp'), '7.4f'):>7} "
        f"{_fmt(kodak.get('psnr-rgb'), '6.2f'):>6} "
        f"{_fmt(kodak.get('ms-ssim-rgb'), '7.4f'):>7}")
  if len(rows) == 1:
    rows.append("(no shipped models)")
  return "\n".join(rows)


PROG = "python -m tfc_repro.zoo"


def _main(argv):
  """The zoo's program: raises its errors (`main` reports them)."""
  parser = argutil.ArgumentParser(
      prog=PROG,
      description="Lists the trained models shipped with tfc-repro (Kodak "
                  "bpp, PSNR and MS-SSIM of each, steps and CPU-hours of its "
                  "own training), and ships new ones.")
  commands = parser.add_subparsers(dest="command")
  commands.add_parser("list", help="List the shipped models (the default).")
  pack_parser = commands.add_parser(
      "pack", help="Ship an exported model under a name.")
  pack_parser.add_argument(
      "--replace", action="store_true",
      help="Ship it under the name of a shipped model, replacing that model "
           "(and its Kodak results, unless it is the same model).")
  pack_parser.add_argument("model_path", help="The exported model.")
  pack_parser.add_argument(
      "name", help="Its name: its system's name and its quality, e.g. "
                   "bls2017-4 or bmshj2018-hyperprior-3.")
  pack_parser.add_argument(
      "flags", nargs=argparse.REMAINDER,
      help="After '--': the train flags that build its architecture, e.g. "
           "--profile quick --lambda 0.05.")
  record_parser = commands.add_parser(
      "record", help="Copy Kodak results of shipped models into their "
                     "records and cards.")
  record_parser.add_argument("results", nargs="+",
                             help="Results JSON written by 'evaluate'.")
  args = parser.parse_args(argv)
  if args.command == "pack":
    flags = args.flags
    if "--" in flags:
      # The zoo's own option may also come after the name.
      own, flags = flags[:flags.index("--")], flags[flags.index("--") + 1:]
      if any(flag != "--replace" for flag in own):
        parser.error(f"unrecognized arguments before '--': {' '.join(own)}")
      args.replace = args.replace or bool(own)
    record = pack(args.model_path, args.name, flags, replace=args.replace)
    print(f"shipped {args.model_path} as {PREFIX}{record['name']} "
          f"({record['weights']['bytes'] / 1e6:.1f} MB)")
  elif args.command == "record":
    # Every file checked before any record is written.
    entries = [(path, kodak_results(path)) for path in args.results]
    for path, by_name in entries:
      _record_kodak(by_name, ZOO_DIR)
      for name in by_name:
        print(f"{PREFIX}{name}: Kodak results from {path}")
  else:
    unreadable = []
    print(table(unreadable=unreadable))
    if unreadable:
      (_, first), others = unreadable[0], unreadable[1:]
      raise ZooError(f"{first}" + (
          "; also not readable: " + ", ".join(PREFIX + n for n, _ in others)
          if others else ""))
  return 0


def main(argv=None):
  """Runs the zoo's program; an error is one line on stderr (status 1), as
  in every tool (`argutil.run`)."""
  return argutil.run(_main, PROG, argv)


if __name__ == "__main__":
  sys.exit(main())
