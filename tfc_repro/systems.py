"""The registry of systems: every paper module that `python -m
tfc_repro.<name>` runs.

`figures` draws a figure per registered system, the scripts check a
`SYSTEM=` against it (`python -m tfc_repro.systems NAME` exits 1 for an
unknown name), and the contract test suite (`tests/test_contract.py`) runs
every registered system through the same checks. A new system is one module
with a `SYSTEM` (`cli.System`) and one name here.
"""

import importlib
import sys

NAMES = ("bls2017", "bmshj2018", "lee2019", "hcae", "regularized")


def module(name):
  """The paper module of a registered system."""
  if name not in NAMES:
    raise ValueError(f"unknown system {name!r} (one of {', '.join(NAMES)})")
  return importlib.import_module(f"tfc_repro.{name}")


def system(name):
  """The `cli.System` of a registered system."""
  return module(name).SYSTEM


def main(argv):
  """Prints the registered systems, or checks that each argument is one."""
  unknown = [name for name in argv if name not in NAMES]
  if unknown:
    print(f"error: unknown system {unknown[0]!r} (one of {', '.join(NAMES)})",
          file=sys.stderr)
    return 1
  if not argv:
    print("\n".join(NAMES))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
