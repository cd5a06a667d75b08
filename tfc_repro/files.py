"""Output files written whole or not at all."""

import contextlib
import os


@contextlib.contextmanager
def replaced_atomically(path):
  """Yields a temporary path beside `path`; once the block has written it,
  it replaces `path` in one step (a file that exists is complete, and an
  existing file survives a failed write). On failure the temporary file is
  removed, and an `OSError` names `path`."""
  partial = f"{path}.partial"
  try:
    yield partial
    os.replace(partial, path)
  except BaseException as e:
    with contextlib.suppress(OSError):
      os.remove(partial)
    if isinstance(e, OSError) and e.filename is None:
      raise OSError(e.errno, f"cannot write {path}: {e.strerror or e}") from None
    raise


def write_bytes(path, data):
  """Writes `data` to `path` whole or not at all."""
  with replaced_atomically(path) as partial:
    with open(partial, "wb") as f:
      f.write(data)
