"""Output files written whole or not at all."""

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
import time

# How old what a killed write left behind must be before a later write of
# the same output removes it: far longer than any write takes, so that a
# write still running in another process is never touched.
STALE_SECONDS = 24 * 3600


class WriteError(OSError):
  """An output that could not be written: its message names the file and
  why (without the "[Errno N]" prefix of an OSError's text)."""

  def __str__(self):
    return self.strerror


def _is_stream(path):
  """Whether `path` is an existing character device or pipe (/dev/null,
  /dev/stdout, a FIFO): written in place, never replaced by a file."""
  try:
    mode = os.stat(path).st_mode
  except OSError:
    return False
  return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def remove_stale(directory, prefix, suffix="", seconds=STALE_SECONDS,
                 pattern=None):
  """Removes the files and folders of `directory` named prefix…suffix (and
  matching the regular expression `pattern` as a whole, if given) that were
  last modified more than `seconds` ago: the leftovers of writes killed
  before they finished, or copies no use has touched since (symbolic links
  themselves, never what they point to). What cannot be removed is left."""
  now = time.time()
  try:
    entries = list(os.scandir(directory))
  except OSError:
    return
  for entry in entries:
    if not (entry.name.startswith(prefix) and entry.name.endswith(suffix)
            and (pattern is None or re.fullmatch(pattern, entry.name))):
      continue
    with contextlib.suppress(OSError):
      if now - entry.stat(follow_symlinks=False).st_mtime < seconds:
        continue
      if entry.is_dir(follow_symlinks=False):
        shutil.rmtree(entry.path)
      else:
        os.remove(entry.path)


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


@contextlib.contextmanager
def replaced_atomically(path):
  """Yields a temporary path beside `path`; once the block has written it,
  it replaces `path` in one step (a file that exists is complete, and an
  existing file survives a failed write). The temporary file is created
  exclusively under a name no one can predict (nothing planted beside
  `path` is written through) and removed on failure (what a killed write
  left is removed by a later write beside it, of `path` or of a file whose
  name begins with `path`'s and a dot: `remove_stale`); an `OSError` names
  `path`. A `path` that is a device or a pipe is written in place."""
  if _is_stream(path):
    yield path
    return
  if os.path.isdir(path):
    raise WriteError(errno.EISDIR, f"cannot write {path}: a folder")
  directory, name = os.path.split(os.path.abspath(path))
  remove_stale(directory, f".{name}.", ".partial")
  partial = None
  try:
    handle, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial",
                                       dir=directory)
    os.close(handle)
    os.chmod(partial, 0o666 & ~_umask())  # as open() would create it
    yield partial
    os.replace(partial, path)
  except BaseException as e:
    if partial is not None:
      with contextlib.suppress(OSError):
        os.remove(partial)
    if isinstance(e, OSError) and (partial is None or e.filename in (
        None, partial, directory)):
      raise WriteError(e.errno, f"cannot write {path}: {e.strerror or e}"
                       ) from None
    raise


def write_bytes(path, data):
  """Writes `data` to `path` whole or not at all."""
  with replaced_atomically(path) as partial:
    with open(partial, "wb") as f:
      f.write(data)
