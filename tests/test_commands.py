"""Every registered system's commands on its exported model: `compress`
(with -V), `decompress` and `evaluate` through the system's own program
(its parser and `cli.main`, in this process), and a damaged file and a file
of another system refused in one line each, writing nothing. The models are
the contract suite's fixed models as test_export_idiom.py exports them (one
per system, and lee2019's hybrid model)."""

import json
import os

import numpy as np
import pytest

from tfc_repro import container, data, metrics, systems
from conftest import smooth_image
from test_export_idiom import exported_case, export_cases


@pytest.fixture(scope="module", params=list(export_cases()))
def exported(request, tmp_path_factory):
  """(system name, `LoadedModel`) of a case, exported once per process."""
  _, _, loaded, _ = exported_case(*request.param, tmp_path_factory)
  return request.param[0], loaded


def _one_line_error(result):
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 1 and len(lines) == 1, result.stderr
  assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
  return lines[0]


def test_a_file_goes_through_the_commands_and_bad_files_are_refused(
    exported, tmp_path, run_main, load_once):
  name, loaded = exported
  load_once.add(loaded)  # the commands below take it instead of loading
  run = lambda *argv: run_main(systems.system(name), "--model_path",
                               loaded.path, *argv)
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
  with open(coded, "rb") as f:
    bitstream = container.unpack(f.read())
  np.testing.assert_array_equal(decoded, loaded.decompress(bitstream))

  output = str(tmp_path / "eval.json")
  result = run("evaluate", "--images", source, "--output", output)
  assert result.returncode == 0, result.stderr
  with open(output) as f:
    document = json.load(f)
  assert {f"bpp-{n}" for n in loaded.latents} <= set(document["results"])
  point = document["points"][0]
  row = point["per_image"][0]
  assert row["bytes"] == num_bytes
  assert row["psnr-rgb"] == pytest.approx(metrics.psnr(image, decoded))
  assert abs(sum(row[f"bpp-{n}"] for n in loaded.latents)
             - row["bpp-payload"]) < 1e-9
  assert all(row[f"bpp-{n}-estimate"] > 0 for n in loaded.latents)
  assert point["metadata"]["model_id"] == loaded.metadata["model_id"]

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
