"""Named weight arrays in an .npz file, in order: the training weights an
export keeps beside its SavedModel (for fine-tuning) and a shipped model's
weights. The file holds `names` and one array `wNNNNN` per name; it is read
without pickles.
"""

import io
import lzma
import math
import zipfile
import zlib

import numpy as np


class WeightsFileError(ValueError):
  """A weights file that does not read (the message is one line)."""


# The zip member compressions `write` offers.
COMPRESSIONS = {None: zipfile.ZIP_STORED, "deflate": zipfile.ZIP_DEFLATED,
                "lzma": zipfile.ZIP_LZMA}


def write(weights, path, compression=None):
  """Writes [(name, array)] to `path`, each array a zip member compressed
  by `compression` (a key of `COMPRESSIONS`); the same arrays always make
  the same bytes (the members carry no time)."""
  members = [("names", np.array([n for n, _ in weights]))] + [
      (f"w{i:05d}", np.asarray(v)) for i, (_, v) in enumerate(weights)]
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w", COMPRESSIONS[compression]) as archive:
    for key, value in members:
      info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
      info.compress_type = COMPRESSIONS[compression]
      with archive.open(info, "w", force_zip64=True) as member:
        np.lib.format.write_array(member, value, allow_pickle=False)
  with open(path, "wb") as f:
    f.write(buffer.getvalue())


# The most bytes of arrays `read` takes from one file (the largest model's
# training weights take a few hundred MB): a compressed file cannot make it
# allocate more.
MAX_BYTES = 2 << 30


def read(path, float16_as_float32=False):
  """[(name, array)] of the file at `path`; float16 arrays become float32
  if `float16_as_float32`. A `WeightsFileError` (one line) if it does not
  read: not such a file, arrays other than its names list, arrays of Python
  objects, headers that do not match their data, or more than `MAX_BYTES`
  of arrays; nothing is allocated for an array before its size is
  checked against the data it has."""
  try:
    with zipfile.ZipFile(path) as archive:
      members = {info.filename: info for info in archive.infolist()}
      total = sum(info.file_size for info in members.values())
      if total > MAX_BYTES:
        raise ValueError(f"its arrays take {total} bytes, more than the "
                         f"{MAX_BYTES} read")
      if "names.npy" not in members:
        raise ValueError("it has no names")
      names = _read_member(archive, members["names.npy"])
      if names.ndim != 1 or names.dtype.kind != "U":
        raise ValueError("its names are not a list of strings")
      keys = [f"w{i:05d}.npy" for i in range(len(names))]
      if set(members) != {"names.npy", *keys}:
        raise ValueError("its arrays are not the ones its names list")
      arrays = [_read_member(archive, members[key]) for key in keys]
  except (OSError, ValueError, KeyError, EOFError, RuntimeError,
          NotImplementedError, zipfile.BadZipFile, zlib.error,
          lzma.LZMAError) as e:
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise WeightsFileError(reason) from None
  weights = list(zip([str(n) for n in names], arrays))
  return as_float32(weights) if float16_as_float32 else weights


def as_float32(weights):
  """[(name, array)] with each float16 array widened to float32."""
  return [(n, a.astype(np.float32) if a.dtype == np.float16 else a)
          for n, a in weights]


def _read_member(archive, info):
  """The array of one .npy member, its header checked against its size."""
  with archive.open(info) as member:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
      shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
      shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    else:
      raise ValueError(f"{info.filename} is a .npy file of version {version}")
    if dtype.hasobject:
      raise ValueError(f"{info.filename} holds Python objects")
    size = math.prod(shape) * dtype.itemsize
    if size > info.file_size:
      raise ValueError(f"{info.filename}'s header claims more data than it "
                       "holds")
    data = member.read(size + 1)
  if len(data) != size:
    raise ValueError(f"{info.filename} holds other data than its header "
                     "says")
  return np.frombuffer(data, dtype).reshape(
      shape, order="F" if fortran else "C").copy()
