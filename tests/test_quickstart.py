"""The main job, scripts/quickstart.sh, end to end at a tiny size: its
outputs go to the folder the user names (OUTPUT), tracked files stay
untouched, and it prints the model's point against JPEG and WebP."""

import json
import os
import subprocess

import pytest

from conftest import ROOT


def _tracked_changes():
  run = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                       cwd=ROOT, capture_output=True, text=True, check=True)
  return run.stdout


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TFC_REPRO_DATA"),
                    reason="needs Kodak in TFC_REPRO_DATA (set by .ci/run)")
def test_quickstart_writes_into_the_users_folder(tmp_path):
  out = tmp_path / "my results"
  before = _tracked_changes()
  run = subprocess.run(
      ["bash", os.path.join(ROOT, "scripts", "quickstart.sh"), "--steps", "2",
       "--num_filters", "8", "--patchsize", "64", "--batchsize", "1"],
      env=dict(os.environ, OUTPUT=str(out), MODEL_DIR=str(tmp_path / "m")),
      capture_output=True, text=True, timeout=900)
  assert run.returncode == 0, run.stderr[-3000:]
  point = json.loads((out / "bls2017.json").read_text())
  assert len(point["results"]["bpp"]) == 1
  assert point["points"][0]["metadata"]["lmbda"] == 0.0025  # the default
  assert (out / "bls2017.png").exists() and (out / "bls2017.pdf").exists()
  assert len(list((out / "reconstructions" / "bls2017").iterdir())) == 24
  assert (tmp_path / "m" / "bls2017" / "saved_model.pb").exists()
  assert "| bls2017 |" in run.stdout  # the tables against the codecs
  assert "against jpeg" in run.stdout and "against webp" in run.stdout
  assert f"are in {out}/" in run.stdout
  assert _tracked_changes() == before  # nothing tracked was rewritten
