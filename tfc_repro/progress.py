"""Training runs compared by their progress logs.

    python -m tfc_repro.progress m1.train m2.train --figure runs.png
    python -m tfc_repro.progress results/recipe --baseline old \\
        --table results/recipe/table.md --figure results/recipe/convergence.png

Every `train` writes MODEL.train/progress.csv, whose rows give the step, the
CPU seconds and the held-out (validation) terms after every epoch. Runs are
named as training folders (MODEL.train, or their progress.csv), compared as
the arms of one experiment, or as folders of SYSTEM-ARM.csv logs, one
experiment per system. For every system the table gives each arm's final
held-out RD loss, bpp and PSNR, its CPU time, and the CPU time at which it
first reached the baseline arm's final held-out loss (with the speed-up
that makes); the figure draws the held-out loss against CPU minutes, one
panel per system.
"""

import collections
import csv
import os
import sys

from tfc_repro import argutil
from tfc_repro import files
from tfc_repro import markdown


PROGRESS_LOG = "progress.csv"
# The columns the comparison reads.
COLUMNS = ("step", "cpu_seconds", "val_loss", "val_bpp", "val_psnr")


def _read_log(path):
  """The rows of a progress log that have a validation, values as floats;
  a missing column or a value that is not a number is a ValueError naming
  the file."""
  with open(path, newline="") as f:
    reader = csv.DictReader(f)
    absent = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if absent:
      raise ValueError(f"{path}: no {', '.join(absent)} column (not a "
                       "progress log)")
    rows = []
    for row in reader:
      if row.get("val_loss") in ("", None):
        continue  # an epoch without a validation
      rows.append({})
      for key, value in row.items():
        if key is None or value in ("", None):
          continue
        try:
          rows[-1][key] = float(value)
        except ValueError:
          raise ValueError(f"{path}: line {reader.line_num}: {key} "
                           f"{value!r} is not a number") from None
      missing = [c for c in COLUMNS if c not in rows[-1]]
      if missing:
        raise ValueError(f"{path}: line {reader.line_num}: no "
                         f"{', '.join(missing)}")
  return rows


def _log_paths(path):
  """(system, arm, location, log) of each run `path` names: a training
  folder or its progress.csv (system "runs", arm the folder's name), or a
  folder of SYSTEM-ARM.csv logs. `location`: the path components that name
  the run, the last one its arm."""
  if os.path.isfile(os.path.join(path, PROGRESS_LOG)):
    path = os.path.join(path, PROGRESS_LOG)
  if os.path.isfile(path):
    named = (os.path.dirname(os.path.abspath(path))
             if os.path.basename(path) == PROGRESS_LOG
             else os.path.splitext(os.path.abspath(path))[0])
    arm = os.path.basename(named).removesuffix(".train")
    location = os.path.dirname(named).split(os.sep) + [arm]
    return [("runs", arm, location, path)]
  if not os.path.isdir(path):
    raise ValueError(f"no such training folder or progress log: {path}")
  found = []
  for name in sorted(os.listdir(path)):
    if name.endswith(".csv") and "-" in name:
      system, arm = name[:-4].rsplit("-", 1)
      location = os.path.abspath(path).split(os.sep) + [arm]
      found.append((system, arm, location, os.path.join(path, name)))
  return found


def distinct_labels(locations):
  """The shortest trailing parts of each location (a list of path
  components) that tell them apart, joined by '/': ["r1", "m"] and ["r2",
  "m"] -> "r1/m", "r2/m"; a lone one keeps its last part."""
  for count in range(1, max(len(l) for l in locations) + 1):
    labels = ["/".join(l[-count:]) for l in locations]
    if len(set(labels)) == len(labels):
      return labels
  return ["/".join(l) for l in locations]


def read_runs(paths):
  """{system: {arm: [row dicts with floats]}} of the runs named by `paths`
  (a path or a list of them): training folders or their progress.csv (arms
  of one experiment, "runs", named by their folders), or folders of
  SYSTEM-ARM.csv logs. Runs of one system with the same name are told
  apart by their folders ("r1/m", "r2/m"); a log given twice counts once."""
  logs = {}
  for path in [paths] if isinstance(paths, str) else paths:
    for system, arm, location, log in _log_paths(path):
      logs.setdefault(os.path.realpath(log), (system, arm, location, log))
  by_name = collections.defaultdict(list)
  for system, arm, location, log in logs.values():
    by_name[(system, arm)].append((location, log))
  labels = {}
  for (_, arm), named in by_name.items():
    names = ([arm] if len(named) == 1 else
             distinct_labels([location for location, _ in named]))
    labels.update((log, name) for (_, log), name in zip(named, names))
  runs = collections.defaultdict(dict)
  for system, _, _, log in logs.values():
    rows = _read_log(log)
    if rows:
      runs[system][labels[log]] = rows
  return dict(runs)


def time_to_reach(rows, target):
  """CPU seconds of the first epoch whose held-out loss is ≤ `target`."""
  for row in rows:
    if row["val_loss"] <= target:
      return row["cpu_seconds"]
  return None


def _speed_up(baseline_seconds, seconds):
  """The baseline's CPU time over an arm's time to reach its loss ("–" if
  never reached, "n/a" for a time of zero)."""
  if seconds is None:
    return "–"
  if seconds <= 0 or baseline_seconds <= 0:
    return "n/a"
  return f"{baseline_seconds / seconds:.2f}×"


def table(runs, baseline):
  lines = ["| system | arm | steps | CPU min | held-out loss | bpp | PSNR | "
           f"CPU min to {markdown.cell(baseline or 'the baseline')}'s final "
           "loss | "
           "speed-up |",
           "|---|---|---|---|---|---|---|---|---|"]
  for system, arms in sorted(runs.items()):
    base = arms.get(baseline)
    for arm, rows in sorted(arms.items(), key=lambda a: a[0] != baseline):
      last = rows[-1]
      reach = speed = "n/a"
      if base:
        # The baseline by definition at its last epoch (an earlier epoch
        # may have been as low).
        seconds = (rows[-1]["cpu_seconds"] if arm == baseline else
                   time_to_reach(rows, base[-1]["val_loss"]))
        reach = "not reached" if seconds is None else f"{seconds / 60:.1f}"
        speed = _speed_up(base[-1]["cpu_seconds"], seconds)
      lines.append(
          f"| {markdown.cell(system)} | {markdown.cell(arm)} | "
          f"{int(last['step'])} | "
          f"{last['cpu_seconds'] / 60:.1f} | {last['val_loss']:.4g} | "
          f"{last['val_bpp']:.4g} | {last['val_psnr']:.2f} | {reach} | "
          f"{speed} |")
  return "\n".join(lines) + "\n"


def write_text(path, text):
  """Writes `path` (creating its folder) whole or not at all; an OSError
  names it."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  files.write_bytes(path, text.encode("utf-8"))


def figure(runs, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  systems = sorted(runs)
  fig, axes = pyplot.subplots(1, len(systems), figsize=(4.5 * len(systems), 3.6),
                              squeeze=False)
  for axis, system in zip(axes[0], systems):
    for arm, rows in sorted(runs[system].items()):
      axis.plot([r["cpu_seconds"] / 60 for r in rows],
                [r["val_loss"] for r in rows], marker=".", label=arm)
    axis.set_title(system)
    axis.set_xlabel("CPU minutes")
    axis.set_ylabel("held-out RD loss")
    axis.set_yscale("log")
    axis.grid(alpha=.3)
    axis.legend()
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=120)


def main(argv=None):
  parser = argutil.ArgumentParser(
      prog="python -m tfc_repro.progress",
      description="Compares training runs by their progress logs: each "
      "run's final held-out RD loss, bpp, PSNR and CPU time, and the CPU time "
      "at which it reached the baseline's final held-out loss.",
      formatter_class=argutil.DefaultsHelpFormatter)
  parser.add_argument("runs", nargs="+",
                      help="Training folders (MODEL.train) or their "
                           "progress.csv, or folders of SYSTEM-ARM.csv "
                           "progress logs.")
  parser.add_argument("--baseline", default=None,
                      help="The arm whose final held-out loss the others "
                           "are timed to reach (default: the first training "
                           "folder given).")
  parser.add_argument("--table", default=None,
                      help="Markdown file for the table (default: print).")
  parser.add_argument("--figure", default=None,
                      help="PNG of held-out loss against CPU minutes.")
  args = parser.parse_args(argv)
  try:
    runs = read_runs(args.runs)
  except (OSError, ValueError) as e:
    parser.exit(1, f"error: {argutil.first_line(e)}\n")
  if not runs:
    parser.exit(1, "error: no progress logs with a validation in "
                   f"{', '.join(args.runs)}\n")
  arms = list(dict.fromkeys(a for system in runs.values() for a in system))
  if args.baseline is not None and args.baseline not in arms:
    parser.exit(1, f"error: --baseline {args.baseline}: no run of that name "
                   f"(the runs: {', '.join(arms)})\n")
  baseline = args.baseline or next(iter(runs.get("runs", {})), None)
  text = table(runs, baseline)
  try:
    if args.table:
      write_text(args.table, text)
    else:
      sys.stdout.write(text)
    if args.figure:
      figure(runs, args.figure)
  except OSError as e:
    parser.exit(1, f"error: {argutil.first_line(e)}\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
