"""Every registered system end to end through its commands, at its quick
profile's real sizes.

`train` runs as a process: some native failures appear only at real sizes
(TensorFlow's oneDNN filter gradient of a strided 1x1 convolution over a few
channels corrupted the heap from 96x96 crops on CPUs with AVX-512), and a
crash then fails here with the signal named instead of ending the test run.
The model it exports then codes a file through `compress`, `decompress` and
`evaluate` (each through its program's parser and `cli.main`, in this
process, which loads the model once), and a damaged or foreign file is
refused in one line.
"""

import json
import os
import signal

import numpy as np
import pytest

from tfc_repro import container, data, metrics, systems
from conftest import run_cli, smooth_image


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
  """One image larger than every quick profile's crop (one image: nothing is
  held out for validation, which the coding below stands for)."""
  path = str(tmp_path_factory.mktemp("photos") / "photo.png")
  data.write_png(path, smooth_image(200, 264, seed=20))
  return path


def describe_exit(returncode):
  if returncode < 0:
    return f"killed by {signal.Signals(-returncode).name}"
  if returncode in (128 + signal.SIGSEGV, 128 + signal.SIGABRT):
    return f"exit {returncode} ({signal.Signals(returncode - 128).name})"
  return f"exit {returncode}"


def _one_line_error(result):
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 1 and len(lines) == 1, result.stderr
  assert lines[0].startswith("error: ")
  return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", systems.NAMES)
def test_a_quick_profile_model_trains_exports_and_codes_through_the_commands(
    name, photo, tmp_path, run_main, load_once):
  system = systems.system(name)
  model_path = str(tmp_path / "model")
  result = run_cli(f"tfc_repro.{name}", "--model_path", model_path, "train",
                   "--train_glob", photo, "--steps", "1",
                   "--steps_per_epoch", "1", "--batchsize", "2", "--seed", "1",
                   "--export_reconstruct", timeout=900)
  assert result.returncode == 0, (
      f"{name} quick-profile training died: {describe_exit(result.returncode)}"
      f"\n{result.stderr[-3000:]}")
  assert f"exported {name} model to {model_path} (1 steps" in result.stdout
  loaded = load_once(model_path)  # and the commands below use it
  assert loaded.metadata["steps"] == 1 and loaded.metadata["profile"] == "quick"

  run = lambda *argv: run_main(system, "--model_path", model_path, *argv)
  image = smooth_image(40, 72, seed=4)
  source, coded = str(tmp_path / "in.png"), str(tmp_path / "in.tfci")
  data.write_png(source, image)
  result = run("-V", "compress", source, coded)
  assert result.returncode == 0, result.stderr
  num_bytes = os.path.getsize(coded)
  assert (f"{num_bytes} bytes, {metrics.bits_per_pixel(num_bytes, 40, 72):.4f}"
          " bpp") in result.stdout
  for latent in loaded.latents:  # -V: each latent's share
    assert f"  {latent}: " in result.stdout

  result = run("decompress", coded, str(tmp_path / "out.png"))
  assert result.returncode == 0, result.stderr
  decoded = data.read_image(str(tmp_path / "out.png"))
  np.testing.assert_array_equal(decoded, loaded.reconstruct(image))

  output = str(tmp_path / "eval.json")
  result = run("evaluate", "--images", source, "--output", output)
  assert result.returncode == 0, result.stderr
  with open(output) as f:
    point = json.load(f)["points"][0]
  row = point["per_image"][0]
  assert row["bytes"] == num_bytes and row["exact"] is True
  assert abs(sum(row[f"bpp-{n}"] for n in loaded.latents)
             - row["bpp-payload"]) < 1e-9
  assert all(row[f"bpp-{n}-estimate"] > 0 for n in loaded.latents)
  assert point["metadata"]["model_id"] == loaded.metadata["model_id"]

  # A damaged file and a file labelled with another system: one line each.
  with open(coded, "rb") as f:
    bitstream = container.unpack(f.read())
  damaged = bytearray(container.pack(bitstream))
  damaged[len(damaged) // 2] ^= 0xFF
  with open(coded, "wb") as f:
    f.write(bytes(damaged))
  _one_line_error(run("decompress", coded, str(tmp_path / "x.png")))
  other = next(n for n in systems.NAMES if n != bitstream.system)
  bitstream.system = other
  container.write(coded, bitstream)
  assert other in _one_line_error(run("decompress", coded,
                                      str(tmp_path / "y.png")))
  assert not os.path.exists(tmp_path / "x.png")
  assert not os.path.exists(tmp_path / "y.png")
