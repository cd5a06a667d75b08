"""The registry of systems: every paper module that `python -m
tfc_repro.<name>` runs.

`figures` draws a figure per registered system, the scripts check a
`SYSTEM=` against it (`python -m tfc_repro.systems NAME` exits 1 for an
unknown name), and the contract test suite (`tests/test_contract.py`) runs
every registered system through the same checks. A new system is one module
with a `SYSTEM` (`cli.System`) and one name here; a system defined elsewhere
(a test's, a user's) can be looked up by name for a while (`registered`).
"""

import contextlib
import importlib
import sys

NAMES = ("bls2017", "bmshj2018", "lee2019", "hcae", "regularized")
# Systems defined outside the package, by name (`registered`).
_REGISTERED = {}


def module(name):
  """The paper module of a registered system."""
  if name not in NAMES:
    raise ValueError(f"unknown system {name!r} (one of {', '.join(NAMES)})")
  return importlib.import_module(f"tfc_repro.{name}")


def system(name):
  """The `cli.System` of a registered system."""
  if name in _REGISTERED:
    return _REGISTERED[name]
  return module(name).SYSTEM


@contextlib.contextmanager
def registered(system_):
  """Within the block, `system(name)` gives `system_`, a `cli.System` defined
  outside the package (e.g. in a test), so that the lookups by name (the
  contract checks', the zoo's) find it. Not in `NAMES`."""
  if system_.name in NAMES or system_.name in _REGISTERED:
    raise ValueError(f"system {system_.name!r} is already registered")
  _REGISTERED[system_.name] = system_
  try:
    yield system_
  finally:
    del _REGISTERED[system_.name]


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
