"""The command line end to end, through real files and subprocesses."""

import json
import os

import pytest
from PIL import Image

from tfc_repro import container, data, metrics
from conftest import run_cli, smooth_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cli_model(train_dir, tmp_path_factory):
  path = str(tmp_path_factory.mktemp("cli") / "model")
  result = run_cli("tfc_repro.bls2017", "--model_path", path, "train",
                   "--train_glob", train_dir, "--num_filters", "16",
                   "--patchsize", "64", "--batchsize", "4", "--steps", "6",
                   "--steps_per_epoch", "3")
  assert result.returncode == 0, result.stderr
  assert "exported bls2017 model" in result.stdout
  return path


def _bls(model_path, *args):
  return run_cli("tfc_repro.bls2017", "--model_path", model_path, *args)


def _assert_one_line_error(result, pattern):
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith("error: ") and pattern in lines[0], lines[0]
  assert "Traceback" not in result.stderr


def test_compress_decompress_evaluate(cli_model, tmp_path):
  image = smooth_image(120, 200, seed=4)
  source = str(tmp_path / "in.png")
  data.write_png(source, image)
  result = _bls(cli_model, "compress", source, str(tmp_path / "in.tfci"))
  assert result.returncode == 0, result.stderr
  num_bytes = os.path.getsize(tmp_path / "in.tfci")
  assert f"{num_bytes} bytes" in result.stdout
  assert f"{metrics.bits_per_pixel(num_bytes, 120, 200):.4f} bpp" in result.stdout

  # Output folders that do not exist yet are created, by every command.
  result = _bls(cli_model, "decompress", str(tmp_path / "in.tfci"),
                str(tmp_path / "decoded" / "out.png"))
  assert result.returncode == 0, result.stderr
  decoded = data.read_image(str(tmp_path / "decoded" / "out.png"))
  assert decoded.shape == image.shape

  output = str(tmp_path / "results" / "eval.json")
  result = _bls(cli_model, "evaluate", "--images", source, "--output", output)
  assert result.returncode == 0, result.stderr
  with open(output) as f:
    document = json.load(f)
  row = document["points"][0]["per_image"][0]
  assert row["bytes"] == num_bytes
  assert row["bpp"] == metrics.bits_per_pixel(num_bytes, 120, 200)
  assert abs(row["psnr-rgb"] - metrics.psnr(image, decoded)) < 1e-9
  for key in ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
              "decoding_time"):
    assert len(document["results"][key]) == 1
  assert document["points"][0]["metadata"]["steps"] == 6


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grayscale_and_rgba_inputs(cli_model, tmp_path, mode):
  source = str(tmp_path / f"in_{mode}.png")
  Image.fromarray(smooth_image(40, 56)).convert(mode).save(source)
  assert _bls(cli_model, "compress", source).returncode == 0
  result = _bls(cli_model, "decompress", source + ".tfci")
  assert result.returncode == 0, result.stderr
  assert data.read_image(source + ".tfci.png").shape == (40, 56, 3)


def test_compress_into_a_missing_folder_warns_of_dropped_alpha(cli_model,
                                                              tmp_path):
  rgba = Image.fromarray(smooth_image(40, 56)).convert("RGBA")
  rgba.putalpha(Image.linear_gradient("L").resize((56, 40)))  # transparent
  source = str(tmp_path / "alpha.png")
  rgba.save(source)
  output = tmp_path / "new" / "deeper" / "alpha.tfci"
  result = _bls(cli_model, "compress", source, str(output))
  assert result.returncode == 0, result.stderr
  assert output.stat().st_size > 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith(f"warning: {source}: alpha channel"), lines[0]


def test_outputs_never_replace_their_input(cli_model, tmp_path):
  source = tmp_path / "in.png"
  data.write_png(str(source), smooth_image(48, 64))
  original = source.read_bytes()
  (tmp_path / "link.png").symlink_to(source)
  _assert_one_line_error(_bls(cli_model, "compress", str(source),
                              str(tmp_path / "link.png")), "is the input file")
  _assert_one_line_error(  # the same file spelt two relative ways
      run_cli("tfc_repro.bls2017", "--model_path", cli_model, "compress",
              "in.png", "./in.png", cwd=str(tmp_path)), "is the input file")
  _assert_one_line_error(
      _bls(cli_model, "evaluate", "--images", str(source), "--output",
           str(source)), "is the input file")
  assert source.read_bytes() == original
  bitstream = tmp_path / "in.tfci"
  bitstream.write_bytes(b"any bitstream")
  _assert_one_line_error(_bls(cli_model, "decompress", str(bitstream),
                              str(bitstream)), "is the input file")
  assert bitstream.read_bytes() == b"any bitstream"


def test_bad_inputs_give_one_line_errors(cli_model, tiny_bls2017, tmp_path):
  source = str(tmp_path / "in.png")
  data.write_png(source, smooth_image(48, 64))
  good = str(tmp_path / "good.tfci")
  assert _bls(cli_model, "compress", source, good).returncode == 0
  with open(good, "rb") as f:
    payload = f.read()

  def damaged(name, content):
    path = str(tmp_path / name)
    with open(path, "wb") as f:
      f.write(content)
    return _bls(cli_model, "decompress", path, str(tmp_path / "x.png"))

  _assert_one_line_error(damaged("empty.tfci", b""), "empty")
  _assert_one_line_error(damaged("cut.tfci", payload[:len(payload) // 2]),
                         "truncated")
  flipped = bytearray(payload)
  flipped[len(payload) // 2] ^= 0xFF
  _assert_one_line_error(damaged("flip.tfci", bytes(flipped)), "corrupt")
  with open(source, "rb") as f:
    _assert_one_line_error(damaged("foreign.tfci", f.read()), "not a tfc-repro")
  # A file made by another bls2017 model (different weights).
  _assert_one_line_error(
      run_cli("tfc_repro.bls2017", "--model_path", tiny_bls2017[1],
              "decompress", good, str(tmp_path / "x.png")),
      "different bls2017 model")
  assert not os.path.exists(tmp_path / "x.png")

  _assert_one_line_error(_bls(cli_model, "compress", str(tmp_path / "no.png")),
                         "no such file")
  _assert_one_line_error(_bls(str(tmp_path / "nomodel"), "compress", source),
                         "no model")
  _assert_one_line_error(_bls(str(tmp_path), "compress", source),
                         "not a SavedModel")
  _assert_one_line_error(_bls(cli_model, "decompress", str(tmp_path / "no")),
                         "no such file")


def test_every_flipped_byte_gives_the_error(cli_model, tmp_path):
  source = str(tmp_path / "in.png")
  data.write_png(source, smooth_image(16, 16))
  assert _bls(cli_model, "compress", source, source + ".tfci").returncode == 0
  with open(source + ".tfci", "rb") as f:
    payload = f.read()
  for position in range(len(payload)):
    damaged = bytearray(payload)
    damaged[position] ^= 0x01
    with pytest.raises(container.ContainerError):
      container.unpack(bytes(damaged))


def test_help_explains_commands():
  result = run_cli("tfc_repro.bls2017", "--help")
  assert result.returncode == 0
  for command in ("train", "compress", "decompress", "evaluate"):
    assert command in result.stdout
  result = run_cli("tfc_repro.bls2017", "train", "--help")
  assert "--lambda" in result.stdout and "--profile" in result.stdout


@pytest.mark.parametrize("name", ["bls2017", "bmshj2018", "lee2019", "hcae",
                                  "regularized"])
def test_help_is_a_few_lines_that_show_every_command(name):
  """--help describes the program in a few lines (the design notes stay in
  the module); the flags of each command are under COMMAND --help."""
  from tfc_repro import cli, systems
  system = systems.system(name)
  description = cli.program_description(system)
  assert len(description.splitlines()) <= 12
  for command in ("train", "compress", "decompress", "evaluate"):
    assert f"--model_path MODEL {command}" in description
  assert description.startswith(system.description.strip().split("\n")[0])
  top_help = cli.build_parser(system).format_help()
  assert "tfc_repro.zoo" in top_help  # shipped models are named


def test_bad_flags_give_one_line_errors(train_dir, tmp_path):
  result = run_cli("tfc_repro.bls2017", "--model_path", str(tmp_path / "m"),
                   "train", "--metric", "ms-ssim", "--patchsize", "64",
                   "--train_glob", train_dir)
  _assert_one_line_error(result, "patchsize")
  result = run_cli("tfc_repro.bls2017", "--model_path", str(tmp_path / "m"),
                   "train", "--train_glob", str(tmp_path / "none*.png"))
  _assert_one_line_error(result, "no image files")


def test_train_help_shows_each_profiles_values(capsys):
  from tfc_repro import bls2017, cli
  with pytest.raises(SystemExit):
    cli.build_parser(bls2017.SYSTEM).parse_args(["train", "--help"])
  text = " ".join(capsys.readouterr().out.split())
  assert "(default: None)" not in text
  for key in ("patchsize", "steps", "lr"):
    shown = "; ".join(f"{name}: {cli._show(profile[key])}"  # pylint: disable=protected-access
                      for name, profile in sorted(bls2017.PROFILES.items()))
    assert f"({shown})" in text, key


def test_model_path_is_accepted_before_and_after_the_command():
  from tfc_repro import bls2017, cli
  parser = cli.build_parser(bls2017.SYSTEM)
  for command in (["train"], ["compress", "a.png"], ["decompress", "a.tfci"]):
    before = parser.parse_args(["--model_path", "m1", *command])
    after = parser.parse_args([*command, "--model_path", "m2"])
    assert (before.model_path, after.model_path) == ("m1", "m2"), command
    assert parser.parse_args(command).model_path == "bls2017"
