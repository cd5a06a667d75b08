"""Quality levels as data: each system declares a `Table` (λ per level for
each metric, the sizes a level picks, the default level), and every
program's `--quality` flag and its resolution are this module's.

λ here is the λ a user gives with `--lambda` (for lee2019, that of eq. 6);
a system converts it into the weight of its loss where the two differ.
"""

import dataclasses
from typing import Callable, Mapping


@dataclasses.dataclass(frozen=True)
class Table:
  """A system's quality levels 1..`levels`."""
  # Metric ("mse", "ms-ssim") -> λ of each level, lowest quality first.
  lambdas: Mapping[str, tuple]
  # The level used when neither --quality nor --lambda is given.
  default: int
  # Where the λ come from, as --help names it ("CompressAI's table").
  source: str
  # (level, args) -> {train flag: the paper's size}; a size fills its flag
  # unless given, scaled by the profile's `size_scale`.
  sizes: Callable = None
  # What --help adds about the sizes a level picks.
  sizes_help: str = ""

  def __post_init__(self):
    counts = {len(values) for values in self.lambdas.values()}
    if len(counts) != 1 or not 1 <= self.default <= counts.pop():
      raise ValueError("every metric needs one λ per level, and the default "
                       "level must be one of them")

  @property
  def levels(self):
    return len(next(iter(self.lambdas.values())))

  def lmbda(self, level, metric):
    """The λ of `level` (1-based) for `metric`."""
    return self.lambdas[metric][level - 1]


def _listed(values):
  return ", ".join(f"{v:g}" for v in values)


def add_flag(parser, table):
  """--quality, with the table's λ and sizes in its help."""
  lambdas = "; ".join(f"{'MSE' if metric == 'mse' else 'MS-SSIM'}: "
                      f"{_listed(values)}"
                      for metric, values in table.lambdas.items())
  text = (f"Quality level (default {table.default}): picks λ for --metric "
          f"from {table.source} ({lambdas}) unless --lambda is given")
  if table.sizes_help:
    text += f", and {table.sizes_help}"
  parser.add_argument("--quality", type=int,
                      choices=range(1, table.levels + 1), default=None,
                      metavar=f"{{1..{table.levels}}}", help=text + ".")


def resolve(args, table):
  """Fills --quality, --lambda and the sizes a level picks, where not given
  (`args.size_scale` from the profile scales the sizes)."""
  if args.quality is None:
    args.quality = table.default
  if args.lmbda is None:
    args.lmbda = table.lmbda(args.quality, args.metric)
  if table.sizes is not None:
    scale = getattr(args, "size_scale", 1.)
    for flag, size in table.sizes(args.quality, args).items():
      if getattr(args, flag) is None:
        setattr(args, flag, round(size * scale))
