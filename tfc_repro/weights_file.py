"""Named weight arrays in an .npz file, in order: the training weights an
export keeps beside its SavedModel (for fine-tuning) and a shipped model's
weights. The file holds `names` and one array `wNNNNN` per name; it is read
without pickles.
"""

import io
import zipfile
import zlib

import numpy as np


class WeightsFileError(ValueError):
  """A weights file that does not read (the message is one line)."""


def write(weights, path, compressed=False):
  """Writes [(name, array)] to `path` (zip-compressed if `compressed`)."""
  save = np.savez_compressed if compressed else np.savez
  buffer = io.BytesIO()
  save(buffer, names=np.array([n for n, _ in weights]),
       **{f"w{i:05d}": v for i, (_, v) in enumerate(weights)})
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
          zlib.error) as e:
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise WeightsFileError(reason) from None
  if float16_as_float32:
    arrays = [a.astype(np.float32) if a.dtype == np.float16 else a
              for a in arrays]
  return list(zip(names, arrays))
