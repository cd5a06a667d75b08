"""Every registered system trains at its quick profile's real sizes.

The other tests train tiny models on small crops; some native failures
appear only at real sizes (TensorFlow's oneDNN filter gradient of a strided
1x1 convolution over a few channels corrupted the heap from 96x96 crops on
CPUs with AVX-512). Each system trains a few steps with its quick profile's
crop size and widths (batch 2) in a subprocess, so that a crash fails here with
the signal named instead of ending the test run.
"""

import signal

import pytest

from tfc_repro import data, systems
from conftest import run_cli, smooth_image


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
  """Images larger than every quick profile's crop."""
  directory = tmp_path_factory.mktemp("photos")
  for i in range(4):
    data.write_png(str(directory / f"photo{i}.png"),
                   smooth_image(200, 264, seed=20 + i))
  return str(directory)


def describe_exit(returncode):
  if returncode < 0:
    return f"killed by {signal.Signals(-returncode).name}"
  if returncode in (128 + signal.SIGSEGV, 128 + signal.SIGABRT):
    return f"exit {returncode} ({signal.Signals(returncode - 128).name})"
  return f"exit {returncode}"


@pytest.mark.slow
@pytest.mark.parametrize("name", systems.NAMES)
def test_quick_profile_trains_and_exports_at_its_real_sizes(name, photos,
                                                             tmp_path):
  model_path = str(tmp_path / "model")
  result = run_cli(f"tfc_repro.{name}", "--model_path", model_path, "train",
                   "--train_glob", photos, "--steps", "2",
                   "--steps_per_epoch", "2", "--batchsize", "2", "--seed", "1",
                   timeout=900)
  assert result.returncode == 0, (
      f"{name} quick-profile training died: {describe_exit(result.returncode)}"
      f"\n{result.stderr[-3000:]}")
  assert "exported" in result.stdout
