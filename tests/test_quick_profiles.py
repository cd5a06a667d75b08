"""Every registered system trains at its quick profile's real sizes.

The other tests train tiny models on small crops; some native failures
appear only at real sizes (TensorFlow's oneDNN filter gradient of a strided
1x1 convolution over a few channels corrupted the heap from 96x96 crops on
CPUs with AVX-512). Each system takes a training step with its quick
profile's crop size and widths (batch 2), as its `train` command would, in
a process of its own, so that a crash fails here with the signal named
instead of ending the test run. (Export and coding are tested for every
system on small models: test_contract.py, test_export_idiom.py,
test_commands.py.)
"""

import os
import signal
import subprocess
import sys

import pytest

from tfc_repro import data, systems
from conftest import ROOT, smooth_image, train_args

# `train`'s parsing and training, without the export.
TRAIN = """
import sys
from tfc_repro import cli, systems, training
system = systems.system(sys.argv[1])
args = cli.build_parser(system).parse_args(sys.argv[2:])
cli.resolve_train_args(system, args)
model, info = training.build_and_fit(system, args)
print(f"trained {info['steps']} step of {args.patchsize}-pixel crops")
"""


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
  """One image larger than every quick profile's crop (one image: nothing is
  held out for validation)."""
  path = str(tmp_path_factory.mktemp("photos") / "photo.png")
  data.write_png(path, smooth_image(200, 264, seed=20))
  return path


def describe_exit(returncode):
  if returncode < 0:
    return f"killed by {signal.Signals(-returncode).name}"
  if returncode in (128 + signal.SIGSEGV, 128 + signal.SIGABRT):
    return f"exit {returncode} ({signal.Signals(returncode - 128).name})"
  return f"exit {returncode}"


@pytest.mark.slow
@pytest.mark.parametrize("name", systems.NAMES)
def test_quick_profile_trains_at_its_real_sizes(name, photo, tmp_path):
  patchsize = train_args(systems.system(name), ["train"]).patchsize
  result = subprocess.run(
      [sys.executable, "-c", TRAIN, name, "--model_path",
       str(tmp_path / "model"), "train", "--train_glob", photo, "--steps",
       "1", "--steps_per_epoch", "1", "--batchsize", "2", "--seed", "1"],
      env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
      timeout=900)
  assert result.returncode == 0, (
      f"{name} quick-profile training died: {describe_exit(result.returncode)}"
      f"\n{result.stderr[-3000:]}")
  assert f"trained 1 step of {patchsize}-pixel crops" in result.stdout, (
      result.stdout[-2000:])
