"""Named weight arrays in an .npz file, in order: the training weights an
export keeps beside its SavedModel (for fine-tuning) and a shipped model's
weights. The file holds `names` and one array `wNNNNN` per name; it is read
without pickles.
"""

import io
import lzma
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


def read(path, float16_as_float32=False):
  """[(name, array)] of the file at `path`; float16 arrays become float32
  if `float16_as_float32`. A `WeightsFileError` if it does not read."""
  try:
    with np.load(path, allow_pickle=False) as stored:
      names = [str(n) for n in stored["names"]]
      arrays = [stored[f"w{i:05d}"] for i in range(len(names))]
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
          zlib.error, lzma.LZMAError) as e:
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise WeightsFileError(reason) from None
  if float16_as_float32:
    arrays = [a.astype(np.float32) if a.dtype == np.float16 else a
              for a in arrays]
  return list(zip(names, arrays))
