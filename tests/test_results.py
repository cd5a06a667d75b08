"""Results files: the command they record and merging one-point files."""

import glob
import json
import math
import os
import re
import shlex
import subprocess

import pytest

from tfc_repro import argutil, data, results
from conftest import run_cli


def _point_file(path, bpp, psnr, dataset="kodak (1 images)", lmbda=0.01):
  document = results.rd_document(
      "one point", "m trained for 10 steps", [
          {"metadata": {"lmbda": lmbda},
           "per_image": [{"image": "a.png", "bpp": bpp, "psnr-rgb": psnr,
                          "ms-ssim-rgb": 0.9}]}],
      dataset=dataset,
      command=f"python -m tfc_repro.bls2017 evaluate --lambda {lmbda}")
  results.write_document(str(path), document)
  return str(path)


def test_merge_orders_points_by_rate_and_keeps_their_commands(tmp_path):
  files = [_point_file(tmp_path / "high.json", 1.2, 33.0, lmbda=0.05),
           _point_file(tmp_path / "low.json", 0.3, 27.5, lmbda=0.002),
           _point_file(tmp_path / "mid.json", 0.6, 30.1, lmbda=0.01)]
  output = tmp_path / "curve.json"
  result = run_cli("tfc_repro.results", "merge", *files, "--output",
                   str(output), "--name", "my curve (3 points)")
  assert result.returncode == 0, result.stderr
  document = json.loads(output.read_text())
  assert document["name"] == "my curve (3 points)"
  assert document["results"]["bpp"] == [0.3, 0.6, 1.2]
  assert document["results"]["psnr-rgb"] == [27.5, 30.1, 33.0]
  assert document["dataset"] == "kodak (1 images)"
  assert [p["metadata"]["evaluated_by"] for p in document["points"]] == [
      f"python -m tfc_repro.bls2017 evaluate --lambda {l}"
      for l in (0.002, 0.01, 0.05)]
  # The file says how to make it again, as a user types it.
  command = shlex.split(document["command"])
  assert command[:4] == ["python", "-m", "tfc_repro.results", "merge"]
  assert "my curve (3 points)" in command
  assert not list(tmp_path.glob("*.partial"))


def test_merge_refuses_mixed_datasets_and_bad_files(tmp_path):
  kodak = _point_file(tmp_path / "a.json", 0.5, 30.0)
  other = _point_file(tmp_path / "b.json", 0.7, 31.0, dataset="clic")
  bad = tmp_path / "bad.json"
  bad.write_text('{"name": "x"}')
  for inputs in ((kodak, other), (kodak, str(bad)),
                 (kodak, str(tmp_path / "missing.json"))):
    result = run_cli("tfc_repro.results", "merge", *inputs, "--output",
                     str(tmp_path / "out.json"), "--name", "n")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
  assert not (tmp_path / "out.json").exists()


def test_merge_refuses_the_same_model_twice_and_names_a_bad_file(tmp_path):
  def with_model(path, model_id):
    document = json.loads(open(path).read())
    document["points"][0]["metadata"]["model_id"] = model_id
    results.write_document(path, document)
    return path
  a = with_model(_point_file(tmp_path / "a.json", 0.5, 30.0), "aa")
  b = with_model(_point_file(tmp_path / "b.json", 0.9, 32.0), "aa")
  truncated = tmp_path / "truncated.json"
  truncated.write_text(open(a).read()[:40])
  for inputs, message in (((a, b), "the same model"),
                          ((a, str(truncated)), str(truncated))):
    result = run_cli("tfc_repro.results", "merge", *inputs, "--output",
                     str(tmp_path / "out.json"), "--name", "n")
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_commands_and_records_write_the_data_folder_as_a_variable(
    tmp_path, monkeypatch):
  root = tmp_path / "my data"
  root.mkdir()
  monkeypatch.setenv("TFC_REPRO_DATA", str(root))
  line = argutil.command_line("tfc_repro.bls2017", [
      "--images", f"{root}/train/00[1-8].png", f"--train_glob={root}/x",
      str(root), f"{root}2/other", "a b"])
  assert line == ('python -m tfc_repro.bls2017 --images '
                  '"$TFC_REPRO_DATA/train/00[1-8].png" '
                  '--train_glob="$TFC_REPRO_DATA/x" "$TFC_REPRO_DATA" '
                  f"'{root}2/other' 'a b'")
  # A shell reads it back into the same arguments.
  echoed = subprocess.run(
      ["bash", "-c", "printf '%s\\n' " + line.split(" ", 3)[3]],
      capture_output=True, text=True, check=True, env={
          "TFC_REPRO_DATA": str(root)}).stdout.splitlines()
  assert echoed == ["--images", f"{root}/train/00[1-8].png",
                    f"--train_glob={root}/x",
                    str(root), f"{root}2/other", "a b"]
  assert data.portable({"a": [f"glob:{root}/train, {root}2"]}) == {
      "a": [f"glob:$TFC_REPRO_DATA/train, {root}2"]}



def test_committed_results_say_how_to_remake_them_on_any_machine():
  """Every results file in the repository records a command a user can run
  from a checkout (no path of the machine that ran it; the data folder
  written as $TFC_REPRO_DATA)."""
  root = os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), "results")
  checked = 0
  for path in glob.glob(os.path.join(root, "**", "*.json"), recursive=True):
    with open(path, encoding="utf-8") as f:
      text = f.read()
    document = json.loads(text)
    if not (isinstance(document, dict) and "command" in document):
      continue
    checked += 1
    name = os.path.relpath(path, root)
    words = shlex.split(document["command"])
    assert words[0] in ("python", "bash"), (name, document["command"])
    assert not [w for w in words if w.startswith("/") or "=/" in w], name
    # The data folder is expanded by the shell, not quoted away.
    assert "'$TFC_REPRO_DATA" not in document["command"], name
    for machine_path in ("/work/", "/root/", "/home/", "/Users/"):
      assert machine_path not in text, (name, machine_path)
  assert checked > 20


def _valid_document():
  return results.rd_document(
      "curve", "what was measured", [
          {"metadata": {"lmbda": 0.01, "train_cpu_seconds": 60.0},
           "per_image": [{"image": "a.png", "bpp": 0.5, "psnr-rgb": 30.0,
                          "ms-ssim-rgb": 0.9}]}],
      dataset="kodak (1 images)", command="test")


def _broken(change):
  document = _valid_document()
  change(document)
  return document


# (how the document is broken, the field the error names).
BROKEN_DOCUMENTS = (
    (lambda d: d.update(results=[1, 2]), "results is a list"),
    (lambda d: d["results"].update(bpp=["0.5"]),
     "results.bpp[0] is the string '0.5', not a finite number"),
    (lambda d: d["results"].update({"psnr-rgb": []}),
     "results.psnr-rgb has 0 values but results.bpp has 1"),
    (lambda d: d["results"].update({"bpp-z1": 3}),
     "results.bpp-z1 is the number 3, not a list"),
    (lambda d: d.update(points=["x"]), "points[0] is the string 'x'"),
    (lambda d: d.update(points={}), "points is an object, not a list"),
    (lambda d: d["points"][0].update(metadata=None),
     "points[0].metadata is null, not an object"),
    (lambda d: d["points"][0]["metadata"].update(lmbda="0.01"),
     "points[0].metadata.lmbda is the string '0.01', not a number"),
    (lambda d: d["points"][0]["metadata"].update(train_cpu_seconds="1 h"),
     "points[0].metadata.train_cpu_seconds is the string '1 h'"),
    (lambda d: d["points"][0]["metadata"].update(config={"alpha": "0.1"}),
     "points[0].metadata.config.alpha is the string '0.1'"),
    (lambda d: d["points"][0].pop("per_image"),
     "points[0].per_image is missing"),
    (lambda d: d["points"][0]["per_image"][0].update(image=None),
     "points[0].per_image[0].image is null, not a string"),
    (lambda d: d["points"][0]["per_image"][0].update(bpp=[0.5]),
     "points[0].per_image[0].bpp is a list, not a number"),
    (lambda d: d.update(name=["x"]), "name is a list, not a string"),
    (lambda d: d["points"][0].update(left_out_of_means=["a.png"]),
     "points[0].left_out_of_means is not an object"),
)


@pytest.mark.parametrize("change, message", BROKEN_DOCUMENTS)
def test_one_check_names_the_file_and_the_bad_field(tmp_path, change,
                                                    message):
  path = tmp_path / "curve.json"
  path.write_text(json.dumps(_broken(change)))
  with pytest.raises(results.DocumentError) as error:
    results.read_rd_json(str(path))
  assert str(error.value).startswith(f"{path}: {message}"), error.value
  # The valid document passes, nulls read as NaN.
  path.write_text(json.dumps(_broken(
      lambda d: d["results"].update({"ms-ssim-rgb": [None]}))))
  assert math.isnan(results.read_rd_json(str(path))["results"][
      "ms-ssim-rgb"][0])


@pytest.mark.parametrize("content, message", (
    (b'{"results": {"bpp": [0.5]}, "name": "\xff"}', "not UTF-8 text"),
    (b"[" * 100000, "JSON nested too deeply"),
    (b'{"results": ', "not valid JSON"),
    (b"[1, 2]", "not a results document (the file holds a list"),
))
def test_unreadable_json_names_the_file(tmp_path, content, message):
  path = tmp_path / "curve.json"
  path.write_bytes(content)
  with pytest.raises(results.DocumentError, match=re.escape(
      f"{path}: {message}")):
    results.read_rd_json(str(path))


def test_merge_refuses_a_bad_point_and_a_missing_description(tmp_path,
                                                            capsys):
  good = _point_file(tmp_path / "a.json", 0.5, 30.0)
  no_description = tmp_path / "b.json"
  no_description.write_text(json.dumps(_broken(lambda d: d.pop(
      "description"))))
  bad_point = tmp_path / "c.json"
  bad_point.write_text(json.dumps(_broken(lambda d: d.update(points=[3]))))
  no_points = tmp_path / "d.json"
  no_points.write_text(json.dumps(_broken(lambda d: d.update(points=None))))
  for path, message in ((no_description, "description is missing"),
                        (no_points, "points is missing"),
                        (bad_point, "points[0] is the number 3, not an "
                                    "object")):
    with pytest.raises(SystemExit) as exit_info:
      results.main(["merge", good, str(path), "--output",
                    str(tmp_path / "out.json"), "--name", "n"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == f"error: {path}: {message}\n"
  assert not (tmp_path / "out.json").exists()


def test_a_mean_that_leaves_images_out_says_so(tmp_path):
  """A lossless image (infinite PSNR) and one too small for MS-SSIM are left
  out of those means, and the point names them; complete points have no
  such entry (their documents are unchanged)."""
  from tfc_repro import evaluate  # pylint: disable=g-import-not-at-top
  rows = [{"image": "flat.png", "bpp": 0.1, "psnr-rgb": math.inf,
           "ms-ssim-rgb": 1.0},
          {"image": "tiny.png", "bpp": 0.3, "psnr-rgb": 30.0,
           "ms-ssim-rgb": math.nan},
          {"image": "photo.png", "bpp": 0.5, "psnr-rgb": 32.0,
           "ms-ssim-rgb": 0.96}]
  complete = {"metadata": {"lmbda": 0.02}, "per_image": [
      {"image": "photo.png", "bpp": 0.9, "psnr-rgb": 35.0,
       "ms-ssim-rgb": 0.98}]}
  document = results.rd_document(
      "c", "d", [{"metadata": {"lmbda": 0.01}, "per_image": rows}, complete],
      command="test")
  assert document["results"]["bpp"] == [0.3, 0.9]
  assert document["results"]["psnr-rgb"] == [31.0, 35.0]
  assert document["results"]["ms-ssim-rgb"] == [0.98, 0.98]
  assert document["points"][0]["left_out_of_means"] == {
      "psnr-rgb": {"flat.png": "infinite"},
      "ms-ssim-rgb": {"tiny.png": "undefined"}}
  assert sorted(document["points"][1]) == ["metadata", "per_image"]
  assert results.left_out_notes(document["points"][0]) == [
      "psnr-rgb: mean of 2 of 3 images (left out: flat.png infinite)",
      "ms-ssim-rgb: mean of 2 of 3 images (left out: tiny.png undefined)"]
  # The printed table marks those means.
  table = evaluate.format_table(document).splitlines()
  assert table[2].split()[3:5] == ["31.000*", "0.9800*"]
  assert table[3].split()[3:5] == ["35.000", "0.9800"]
  assert table[4:] == [
      "* lambda 0.01: psnr-rgb: mean of 2 of 3 images (left out: flat.png "
      "infinite)", "* lambda 0.01: ms-ssim-rgb: mean of 2 of 3 images (left "
      "out: tiny.png undefined)"]
  # Written, read back (the values as null) and merged, it still says so.
  path = str(tmp_path / "c.json")
  results.write_document(path, document)
  merged = results.merged_document([results.read_rd_json(path)], "m")
  assert merged["points"][0]["left_out_of_means"] == (
      document["points"][0]["left_out_of_means"])


def _configured_point(path, bpp, metadata):
  document = results.rd_document(
      "p", "d", [{"metadata": metadata, "per_image": [
          {"image": "a.png", "bpp": bpp, "psnr-rgb": 30.0}]}],
      dataset="kodak (1 images)", command="test")
  results.write_document(str(path), document)
  return str(path)


def test_merge_refuses_points_of_another_system_or_configuration(tmp_path,
                                                                 capsys):
  """Points of one curve differ only in their quality setting."""
  def regularized(alpha, lmbda, quality):
    return {"system": "regularized", "lmbda": lmbda, "config": {
        "alpha": alpha, "lmbda": lmbda, "backbone_config": {
            "lmbda": lmbda, "quality": quality, "num_filters": 64}}}
  q1 = _configured_point(tmp_path / "q1.json", 0.2, regularized(0.1, 0.0018, 1))
  q2 = _configured_point(tmp_path / "q2.json", 0.4, regularized(0.1, 0.0035, 2))
  plain = _configured_point(tmp_path / "plain.json", 0.5,
                            regularized(0.0, 0.0067, 3))
  jpeg = _configured_point(tmp_path / "jpeg.json", 0.6,
                           {"codec": "jpeg", "quality": 50})
  output = str(tmp_path / "out.json")
  assert results.main(["merge", q1, q2, "--output", output, "--name",
                       "n"]) == 0
  for other, field, values in (
      (jpeg, "codec", 'is "jpeg", null there'),
      (plain, "config.alpha", "is 0.0, 0.1 there")):
    with pytest.raises(SystemExit) as exit_info:
      results.main(["merge", q1, q2, other, "--output", output, "--name",
                    "n"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == (
        f"error: {other} is not a point of the curve of {q1}: its {field} "
        f"{values} (the points of a curve differ only in lmbda, quality, "
        "paper_lambda)\n")


def test_merge_never_writes_over_an_input(tmp_path, capsys):
  a = _point_file(tmp_path / "a.json", 0.5, 30.0)
  b = _point_file(tmp_path / "b.json", 0.9, 32.0, lmbda=0.05)
  before = open(b).read()
  with pytest.raises(SystemExit):
    results.main(["merge", a, b, "--output", b, "--name", "n"])
  assert capsys.readouterr().err == (
      f"error: output file {b} is the input file {b}; give another output "
      "file\n")
  assert open(b).read() == before
