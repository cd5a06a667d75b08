"""The measured and published RD curves that figures and reports read.

Measured curves are results files (`tfc_repro.results`) under a results
folder: `kodak/cpu/<name>.json` for the CPU reproduction of the papers,
`kodak/<codec>.json` for the classical codecs. Published curves are those of
`tfc_repro.published.CURVES`. A `Sources` reads them and remembers every
input it looked for and did not find, so that a figure or table made without
it can say so; a file that exists but cannot be read, or is not a results
document, is an error (`results.DocumentError`, naming the file), never
taken as missing.
"""

import collections
import fnmatch
import glob
import os

from tfc_repro import published as published_lib
from tfc_repro import results as results_lib

# Where the CPU reproduction's curves are, under the results folder.
CPU_DIR = os.path.join("kodak", "cpu")
CODEC_DIR = "kodak"

# family: the colour family in figures; highlight: a run given with --add;
# path: the file it was read from (None for curves built in memory).
Curve = collections.namedtuple(
    "Curve", "label document published family highlight path",
    defaults=(None,))


def curve_label(path, document):
  """A measured curve's legend label: the name its results file gives
  (e.g. "bls2017 (CPU, 6000 + 2000 steps)"), else the file's name."""
  name = document.get("name")
  if isinstance(name, str) and name.strip():
    return name.strip()
  return os.path.splitext(os.path.basename(path))[0]


def check_folders(results_dir, published_dir=None):
  """Refuses a results folder, or a published folder given, that does not
  exist (a missing default published folder only leaves its curves out)."""
  if not os.path.isdir(results_dir):
    raise ValueError(f"no such results folder: {results_dir}")
  if published_dir is not None and not os.path.isdir(published_dir):
    raise ValueError(f"no such published folder: {published_dir}")


class Sources:
  """Reads measured and published curves and remembers what is missing."""

  def __init__(self, results_dir, published_dir=None, extra=()):
    self.results_dir = results_dir
    self.published_dir = published_dir or os.path.join(results_dir,
                                                       "published")
    # Measured files given by the user (e.g. a quickstart run's), drawn with
    # the curves their name matches, labelled "(this run)" and highlighted
    # (also when the file lies in the results folder).
    self.extra = tuple(extra)
    self.claimed = set()  # the extra files already handed out
    self.missing = []

  def _shown(self, *parts):
    """A path as a reader finds it: from the results folder's name on."""
    return os.path.join(os.path.basename(os.path.normpath(self.results_dir)),
                        *parts)

  def _read(self, path, label=None, family=None, highlight=False):
    document = results_lib.read_rd_json(path)
    label = label or curve_label(path, document)
    return [Curve(label, document, False, family, highlight, path)]

  def added(self, pattern, family=None):
    """The files given with --add whose name matches `pattern` and that no
    earlier call took, as highlighted "(this run)" curves."""
    curves = []
    for path in self.extra:
      if (path not in self.claimed and
          fnmatch.fnmatch(os.path.basename(path), pattern)):
        self.claimed.add(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        curves += self._read(path, f"{stem} (this run)", family or stem,
                             True)
    return curves

  def measured(self, name, family=None, exact=False, dirs=(CODEC_DIR,),
               report_missing=True):
    """Measured curves `<dir>/<name>*.json` (or `<name>.json` with `exact`;
    `name` may hold glob wildcards), in `dirs` under the results folder,
    then the files of --add that match."""
    pattern = f"{name}.json" if exact else f"{name}*.json"
    added = [os.path.realpath(p) for p in self.extra
             if fnmatch.fnmatch(os.path.basename(p), pattern)]
    curves = []
    for sub in dirs:
      for path in sorted(glob.glob(os.path.join(self.results_dir, sub,
                                                pattern))):
        if os.path.realpath(path) not in added:
          curves += self._read(path, family=family or name)
    curves += self.added(pattern, family or name)
    if not curves and report_missing:
      self.missing.append(self._shown(dirs[0], pattern))
    return curves

  def first(self, name, dirs=(CODEC_DIR,), family=None):
    """The curve `<dir>/<name>.json` (exact name), or None if missing."""
    found = self.measured(name, family, exact=True, dirs=dirs)
    return found[0] if found else None

  def published(self, key, family):
    """The published curve `key` of `published.CURVES` (or nothing, when
    its file is missing or the key unknown)."""
    path = published_lib.curve_path(key, self.published_dir)
    if path is None or not os.path.exists(path):
      self.missing.append(f"published {key} (" + (
          f"no such file: {path})" if path else "unknown curve)"))
      return []
    document = published_lib.load_curve(key, self.published_dir)
    return [Curve(document["label"], document, True, family, False)]

  def published_curve(self, key, family=None):
    found = self.published(key, family or key)
    return found[0] if found else None
