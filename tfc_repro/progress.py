"""Training progress logs (MODEL.train/progress.csv) compared across runs.

    python -m tfc_repro.progress results/recipe --baseline old \\
        --table results/recipe/table.md --figure results/recipe/convergence.png

Each CSV is one run, named SYSTEM-ARM.csv; its rows give the step, the CPU
seconds and the held-out (validation) terms after every epoch. For every
system the table gives each arm's final held-out RD loss, bpp and PSNR, its
CPU time, and the CPU time at which it first reached the baseline arm's
final held-out loss (with the speed-up that makes); the figure draws the
held-out loss against CPU minutes, one panel per system.
"""

import argparse
import collections
import csv
import os
import sys

from tfc_repro import argutil


def read_runs(folder):
  """{system: {arm: [row dicts with floats]}} of the CSVs in `folder`."""
  runs = collections.defaultdict(dict)
  for name in sorted(os.listdir(folder)):
    if not name.endswith(".csv") or "-" not in name:
      continue
    system, arm = name[:-4].rsplit("-", 1)
    with open(os.path.join(folder, name), newline="") as f:
      rows = [{k: float(v) for k, v in row.items() if v not in ("", None)}
              for row in csv.DictReader(f)]
    rows = [r for r in rows if "val_loss" in r]
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
           f"CPU min to {baseline}'s final loss | speed-up |",
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
          f"| {system} | {arm} | {int(last['step'])} | "
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
      description=__doc__.split("\n\n")[1],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument("folder", help="Folder of SYSTEM-ARM.csv progress logs.")
  parser.add_argument("--baseline", default="old",
                      help="The arm whose final held-out loss the others "
                           "are timed to reach.")
  parser.add_argument("--table", default=None,
                      help="Markdown file for the table (default: print).")
  parser.add_argument("--figure", default=None,
                      help="PNG of held-out loss against CPU minutes.")
  args = parser.parse_args(argv)
  try:
    runs = read_runs(args.folder)
  except (OSError, ValueError) as e:
    parser.exit(1, f"error: {e}\n")
  if not runs:
    parser.exit(1, f"error: no progress logs with a validation in "
                   f"{args.folder}\n")
  text = table(runs, args.baseline)
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
