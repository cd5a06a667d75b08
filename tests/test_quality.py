"""--quality as data: a system's table of λ and sizes, read by one shared
flag and resolution."""

import argparse

import pytest

from tfc_repro import cli, quality, systems


def _table(**kwargs):
  settings = dict(lambdas={"mse": (0.1, 0.2, 0.3), "ms-ssim": (1., 2., 3.)},
                  default=2, source="a test table")
  settings.update(kwargs)
  return quality.Table(**settings)


def test_a_table_needs_one_lambda_per_level_and_a_listed_default():
  with pytest.raises(ValueError):
    _table(lambdas={"mse": (0.1, 0.2), "ms-ssim": (1.,)})
  with pytest.raises(ValueError):
    _table(default=4)
  assert _table().levels == 3
  assert _table().lmbda(3, "ms-ssim") == 3.


def _parse(table, argv):
  parser = argparse.ArgumentParser()
  quality.add_flag(parser, table)
  for flag in ("--lambda", "--num_filters", "--num_latents"):
    parser.add_argument(flag, dest=flag[2:].replace("lambda", "lmbda"),
                        type=float if flag == "--lambda" else int)
  parser.add_argument("--metric", default="mse")
  args = parser.parse_args(argv)
  args.size_scale = 0.5
  quality.resolve(args, table)
  return args


def test_resolve_fills_lambda_and_scaled_sizes_unless_given():
  table = _table(sizes=lambda q, args: dict(num_filters=100 * q,
                                            num_latents=30 * q))
  args = _parse(table, [])
  assert (args.quality, args.lmbda) == (2, 0.2)
  assert (args.num_filters, args.num_latents) == (100, 30)
  args = _parse(table, ["--quality", "3", "--metric", "ms-ssim",
                        "--num_latents", "7"])
  assert (args.lmbda, args.num_filters, args.num_latents) == (3., 150, 7)
  args = _parse(table, ["--quality", "1", "--lambda", "0.05"])
  assert (args.quality, args.lmbda, args.num_filters) == (1, 0.05, 50)


def test_the_flag_takes_only_the_tables_levels():
  with pytest.raises(SystemExit):
    _parse(_table(), ["--quality", "4"])
  with pytest.raises(SystemExit):
    _parse(_table(), ["--quality", "0"])


@pytest.mark.parametrize("name", [n for n in systems.NAMES
                                  if systems.system(n).qualities])
def test_every_level_of_a_system_trains_its_tables_lambda(name):
  """Each system's --quality, through its own program's parser, gives the λ
  its table declares for each level and metric, and --help lists them."""
  system = systems.system(name)
  table = system.qualities
  parser = cli.build_parser(system)
  for metric in table.lambdas:
    for level in range(1, table.levels + 1):
      args = parser.parse_args(["train", "--quality", str(level),
                                "--metric", metric, "--patchsize", "256"])
      cli.resolve_train_args(system, args)
      assert args.quality == level
      assert args.lmbda == table.lmbda(level, metric)
  train_help = parser._subparsers._group_actions[0].choices["train"]  # pylint: disable=protected-access
  assert table.source in " ".join(train_help.format_help().split())
