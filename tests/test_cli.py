"""The command line end to end, through real files: each command runs
through its program's parser and `cli.main` in this process (what
`python -m tfc_repro.bls2017 ...` runs, without a process start-up per
command), and in real processes where the process itself is what is tested
(--help, exit status and stderr of a damaged file)."""

import json
import os

import pytest
from PIL import Image

from tfc_repro import data, metrics, savedmodel
from conftest import run_cli, smooth_image, train_args


@pytest.fixture(scope="module")
def cli_model(tiny_bls2017):
  return tiny_bls2017[1]


@pytest.fixture(scope="module")
def other_bls2017(tmp_path_factory):
  """An untrained bls2017 model of the same configuration as `cli_model`
  (other weights), exported."""
  from tfc_repro import bls2017
  path = str(tmp_path_factory.mktemp("other") / "model")
  args = train_args(bls2017.SYSTEM, ["--model_path", path, "train",
                                     "--num_filters", "16"])
  model = bls2017.SYSTEM.build_model(args)
  model.prepare_for_compression()
  savedmodel.export(model, path)
  return path


@pytest.fixture
def run(run_main):
  """Runs `python -m tfc_repro.bls2017 ARGS` in this process."""
  from tfc_repro import bls2017
  return lambda *argv: run_main(bls2017.SYSTEM, *argv)


@pytest.fixture
def bls(run):
  return lambda model_path, *argv: run("--model_path", model_path, *argv)


def _assert_one_line_error(result, pattern):
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith("error: ") and pattern in lines[0], lines[0]
  assert "Traceback" not in result.stderr


def test_compress_decompress_evaluate(cli_model, bls, tmp_path):
  image = smooth_image(120, 200, seed=4)
  source = str(tmp_path / "in.png")
  data.write_png(source, image)
  result = bls(cli_model, "compress", source, str(tmp_path / "in.tfci"))
  assert result.returncode == 0, result.stderr
  num_bytes = os.path.getsize(tmp_path / "in.tfci")
  assert f"{num_bytes} bytes" in result.stdout
  assert f"{metrics.bits_per_pixel(num_bytes, 120, 200):.4f} bpp" in result.stdout

  # Output folders that do not exist yet are created, by every command.
  result = bls(cli_model, "decompress", str(tmp_path / "in.tfci"),
                str(tmp_path / "decoded" / "out.png"))
  assert result.returncode == 0, result.stderr
  decoded = data.read_image(str(tmp_path / "decoded" / "out.png"))
  assert decoded.shape == image.shape

  output = str(tmp_path / "results" / "eval.json")
  result = bls(cli_model, "evaluate", "--images", source, "--output", output)
  assert result.returncode == 0, result.stderr
  with open(output) as f:
    document = json.load(f)
  row = document["points"][0]["per_image"][0]
  assert row["bytes"] == num_bytes
  assert row["exact"] is True  # the file decodes to the model's image
  assert row["bpp"] == metrics.bits_per_pixel(num_bytes, 120, 200)
  assert abs(row["psnr-rgb"] - metrics.psnr(image, decoded)) < 1e-9
  for key in ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
              "decoding_time"):
    assert len(document["results"][key]) == 1
  assert document["points"][0]["metadata"]["steps"] == 40
  # The model as the command named it, not a path of this machine.
  assert document["points"][0]["metadata"]["model_path"] == cli_model


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grayscale_and_rgba_inputs(cli_model, bls, tmp_path, mode):
  source = str(tmp_path / f"in_{mode}.png")
  Image.fromarray(smooth_image(40, 56)).convert(mode).save(source)
  assert bls(cli_model, "compress", source).returncode == 0
  result = bls(cli_model, "decompress", source + ".tfci")
  assert result.returncode == 0, result.stderr
  assert data.read_image(source + ".tfci.png").shape == (40, 56, 3)


def test_compress_into_a_missing_folder_warns_of_dropped_alpha(cli_model, bls,
                                                              tmp_path):
  rgba = Image.fromarray(smooth_image(40, 56)).convert("RGBA")
  rgba.putalpha(Image.linear_gradient("L").resize((56, 40)))  # transparent
  source = str(tmp_path / "alpha.png")
  rgba.save(source)
  output = tmp_path / "new" / "deeper" / "alpha.tfci"
  result = bls(cli_model, "compress", source, str(output))
  assert result.returncode == 0, result.stderr
  assert output.stat().st_size > 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith(f"warning: {source}: alpha channel"), lines[0]


def test_outputs_never_replace_their_input(cli_model, bls, tmp_path,
                                           monkeypatch):
  source = tmp_path / "in.png"
  data.write_png(str(source), smooth_image(48, 64))
  original = source.read_bytes()
  (tmp_path / "link.png").symlink_to(source)
  _assert_one_line_error(bls(cli_model, "compress", str(source),
                              str(tmp_path / "link.png")), "is the input file")
  monkeypatch.chdir(tmp_path)
  _assert_one_line_error(  # the same file spelt two relative ways
      bls(cli_model, "compress", "in.png", "./in.png"), "is the input file")
  _assert_one_line_error(
      bls(cli_model, "evaluate", "--images", str(source), "--output",
           str(source)), "is the input file")
  # A reconstruction would be written over its image (in the model's
  # folder under --reconstructions).
  inside = tmp_path / "recon" / os.path.basename(cli_model) / "in.png"
  inside.parent.mkdir(parents=True)
  inside.write_bytes(original)
  _assert_one_line_error(
      bls(cli_model, "evaluate", "--images", str(inside), "--output",
          str(tmp_path / "r.json"), "--reconstructions",
          str(tmp_path / "recon")), "is the input file")
  assert inside.read_bytes() == original
  assert source.read_bytes() == original
  bitstream = tmp_path / "in.tfci"
  bitstream.write_bytes(b"any bitstream")
  _assert_one_line_error(bls(cli_model, "decompress", str(bitstream),
                              str(bitstream)), "is the input file")
  assert bitstream.read_bytes() == b"any bitstream"


def test_bad_inputs_give_one_line_errors(cli_model, other_bls2017, bls,
                                         tmp_path):
  source = str(tmp_path / "in.png")
  data.write_png(source, smooth_image(48, 64))
  good = str(tmp_path / "good.tfci")
  assert bls(cli_model, "compress", source, good).returncode == 0
  with open(good, "rb") as f:
    payload = f.read()

  def damaged(name, content):
    path = str(tmp_path / name)
    with open(path, "wb") as f:
      f.write(content)
    return bls(cli_model, "decompress", path, str(tmp_path / "x.png"))

  _assert_one_line_error(damaged("empty.tfci", b""), "empty")
  _assert_one_line_error(damaged("cut.tfci", payload[:len(payload) // 2]),
                         "truncated")
  flipped = bytearray(payload)
  flipped[len(payload) // 2] ^= 0xFF
  _assert_one_line_error(damaged("flip.tfci", bytes(flipped)), "corrupt")
  # The same file as its own process: exit status 1, one line, no traceback.
  result = run_cli("tfc_repro.bls2017", "--model_path", cli_model,
                   "decompress", str(tmp_path / "flip.tfci"),
                   str(tmp_path / "x.png"))
  assert result.returncode == 1
  _assert_one_line_error(result, "corrupt")
  with open(source, "rb") as f:
    _assert_one_line_error(damaged("foreign.tfci", f.read()), "not a tfc-repro")
  # A file made by another bls2017 model (different weights).
  _assert_one_line_error(
      bls(other_bls2017, "decompress", good, str(tmp_path / "x.png")),
      "different bls2017 model")
  assert not os.path.exists(tmp_path / "x.png")

  _assert_one_line_error(bls(cli_model, "compress", str(tmp_path / "no.png")),
                         "no such file")
  _assert_one_line_error(bls(str(tmp_path / "nomodel"), "compress", source),
                         "no model")
  _assert_one_line_error(bls(str(tmp_path), "compress", source),
                         "not a SavedModel")
  _assert_one_line_error(bls(cli_model, "decompress", str(tmp_path / "no")),
                         "no such file")


def test_compress_names_a_bad_input_before_it_loads_a_model(bls, tmp_path,
                                                           monkeypatch):
  """(A shipped model is rebuilt on first use: seconds lost on a typo.)"""
  from tfc_repro import cli
  monkeypatch.setattr(cli, "load_model", lambda *_: pytest.fail("loaded"))
  (tmp_path / "notes.txt").write_text("not an image")
  for source, problem in [("absent.png", "no such file: "),
                          ("notes.txt", "cannot read "),
                          ("", "is a directory")]:
    _assert_one_line_error(bls("cpu:bls2017-1", "compress",
                               str(tmp_path / source),
                               str(tmp_path / "out.tfci")), problem)


@pytest.mark.parametrize("argv", [
    ["--bogus", "compress", "a.png"],        # an unknown flag
    ["compress"],                             # a missing argument
    ["train", "--lambda", "abc"],             # a value of the wrong type
    ["train", "--profile", "nope"],           # an unknown choice
    ["nope"],                                 # an unknown command
    # A flag of another program that begins this one's --model_path (not
    # taken as an abbreviation of it: the model would go elsewhere).
    ["train", "--model", "factorized"],
    ["--model_pa", "m", "train"],
])
def test_usage_errors_are_one_line_with_status_2(argv, capsys):
  from tfc_repro import bls2017, cli
  with pytest.raises(SystemExit) as exit_:
    cli.build_parser(bls2017.SYSTEM).parse_args(argv)
  assert exit_.value.code == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1, lines
  assert lines[0].startswith("python -m tfc_repro.bls2017")
  assert ": error: " in lines[0] and lines[0].endswith("(see --help)")


@pytest.mark.parametrize("system, argv, message", [
    # The value after an unknown flag would be taken for the command.
    ("bls2017", ["--model", "cpu:bls2017-3", "compress", "a.png"],
     "unknown option --model (did you mean --model_path?)"),
    ("bmshj2018", ["--model", "cpu:bmshj2018-hyperprior-3", "compress",
                   "a.png"], "--model is an option of the train command, "
     "given after it; did you mean --model_path?"),
    ("bmshj2018", ["--lambda", "0.01", "train"],
     "--lambda is an option of the train command, given after it"),
    ("bls2017", ["--verbose", "--bogus=1", "x", "compress"],
     "unknown option --bogus"),
    # A mistyped command is named, whatever flags follow it.
    ("bls2017", ["--model_path", "m", "nope"],
     "argument command: invalid choice: 'nope'"),
    ("bls2017", ["evalute", "--images", "kodak"],
     "argument command: invalid choice: 'evalute'"),
])
def test_a_flag_before_the_command_is_named_when_unknown(system, argv,
                                                         message, capsys):
  from tfc_repro import cli, systems
  with pytest.raises(SystemExit):
    cli.build_parser(systems.system(system)).parse_args(argv)
  error = capsys.readouterr().err
  assert error.startswith(f"python -m tfc_repro.{system}: error: {message}"
                          ), error


@pytest.mark.parametrize("command, ending", [
    ("train", " (out of memory: a smaller --batchsize or --patchsize needs "
              "less)"),
    ("evaluate", " (out of memory)"),
])
def test_running_out_of_memory_is_one_line_naming_the_tensor(
    command, ending, capsys, monkeypatch):
  """A graph's error gives the op's message, not TF's hint or the name of
  the traced function after it."""
  import argparse
  import tensorflow as tf
  from tfc_repro import bls2017, cli
  message = "\n".join([
      "Graph execution error:", "", "Detected at node 'x' defined at:",
      "  File \"model.py\", line 269, in train_step", "",
      "OOM when allocating tensor with shape[100000000,32,32,3] and type "
      "float on /job:localhost/replica:0/task:0/device:CPU:0",
      "\t [[{{node gradient_tape/Tile_1}}]]",
      "Hint: If you want to see a list of allocated tensors when OOM "
      "happens, add report_tensor_allocations_upon_oom to RunOptions.",
      " [Op:__inference_train_function_6986]"])

  def out_of_memory(system, args):
    raise tf.errors.ResourceExhaustedError(None, None, message)
  monkeypatch.setitem(cli.COMMANDS, command, out_of_memory)
  args = argparse.Namespace(command=command, verbose=False)
  assert cli.main(bls2017.SYSTEM, args) == 1
  assert capsys.readouterr().err == (
      "error: OOM when allocating tensor with shape[100000000,32,32,3] and "
      "type float on /job:localhost/replica:0/task:0/device:CPU:0"
      f"{ending}\n")


def test_zoo_usage_errors_are_one_line(capsys):
  from tfc_repro import zoo
  with pytest.raises(SystemExit) as exit_:
    zoo.main(["bogus"])
  assert exit_.value.code == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and "invalid choice: 'bogus'" in lines[0], lines


@pytest.mark.slow
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


def test_bad_flags_give_one_line_errors(train_dir, bls, tmp_path):
  result = bls(str(tmp_path / "m"), "train", "--metric", "ms-ssim",
               "--patchsize", "64", "--train_glob", train_dir)
  _assert_one_line_error(result, "patchsize")
  result = bls(str(tmp_path / "m"), "train", "--train_glob",
               str(tmp_path / "none*.png"))
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


def test_images_of_one_name_in_two_folders_keep_distinct_names():
  from tfc_repro import evaluate
  assert evaluate.image_names(["/d/a/x.png", "/d/b/y.png"]) == ["x.png",
                                                                 "y.png"]
  assert evaluate.image_names(["/d/a/x.png", "/d/b/x.png", "/d/b/c/x.png"]) == [
      "a/x.png", "b/x.png", "b/c/x.png"]


def test_reconstructions_of_a_shipped_model_are_under_its_name():
  from types import SimpleNamespace
  from tfc_repro import evaluate
  shipped = SimpleNamespace(name="cpu:bls2017-1", system="bls2017",
                            path="/cache/zoo/cpu/bls2017-1-67ff5b2808aa-0901")
  assert evaluate.reconstruction_folder(shipped) == "bls2017-1"
  folder = SimpleNamespace(name="runs/bls2017/", system="bls2017",
                           path="runs/bls2017/")
  assert evaluate.reconstruction_folder(folder) == "bls2017"
