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
from tfc_repro import markdown


PROGRESS_LOG = "progress.csv"


def _read_log(path):
  """The rows of a progress log that have a validation, values as floats."""
  with open(path, newline="") as f:
    rows = [{k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(f)]
  return [r for r in rows if "val_loss" in r]


def read_runs(paths):
  """{system: {arm: [row dicts with floats]}} of the runs named by `paths`
  (a path or a list of them): training folders or their progress.csv (arms
  of one experiment, "runs", named by their folders), or folders of
  SYSTEM-ARM.csv logs."""
  runs = collections.defaultdict(dict)
  for path in [paths] if isinstance(paths, str) else paths:
    if os.path.isfile(os.path.join(path, PROGRESS_LOG)):
      path = os.path.join(path, PROGRESS_LOG)
    if os.path.isfile(path):
      folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
      arm = (folder if os.path.basename(path) == PROGRESS_LOG else
             os.path.splitext(os.path.basename(path))[0])
      arm = arm[:-len(".train")] if arm.endswith(".train") else arm
      rows = _read_log(path)
      if rows:
        runs["runs"][arm] = rows
      continue
    if not os.path.isdir(path):
      raise ValueError(f"no such training folder or progress log: {path}")
    for name in sorted(os.listdir(path)):
      if not name.endswith(".csv") or "-" not in name:
        continue
      system, arm = name[:-4].rsplit("-", 1)
      rows = _read_log(os.path.join(path, name))
      if rows:
        runs[system][arm] = rows
  return dict(runs)


def time_to_reach(rows, target):
  """CPU seconds of the first epoch whose held-out loss is ≤ `target`."""
  for row in rows:
    if row["val_loss"] <= target:
      return row["cpu_seconds"]
  return None


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
        speed = "–" if seconds is None else (
            f"{base[-1]['cpu_seconds'] / seconds:.2f}×")
      lines.append(
          f"| {markdown.cell(system)} | {markdown.cell(arm)} | "
          f"{int(last['step'])} | "
          f"{last['cpu_seconds'] / 60:.1f} | {last['val_loss']:.4g} | "
          f"{last['val_bpp']:.4g} | {last['val_psnr']:.2f} | {reach} | "
          f"{speed} |")
  return "\n".join(lines) + "\n"


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
  baseline = args.baseline or next(iter(runs.get("runs", {})), None)
  text = table(runs, baseline)
  if args.table:
    with open(args.table, "w") as f:
      f.write(text)
  else:
    sys.stdout.write(text)
  if args.figure:
    figure(runs, args.figure)
  return 0


if __name__ == "__main__":
  sys.exit(main())
