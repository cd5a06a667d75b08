"""Output files are written whole or not at all."""

import os

import numpy as np
import pytest

from tfc_repro import container, data, files


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_beside(
    tmp_path):
  path = str(tmp_path / "out.bin")
  files.write_bytes(path, b"old")
  with pytest.raises(RuntimeError):
    with files.replaced_atomically(path) as partial:
      with open(partial, "wb") as f:
        f.write(b"half")
      raise RuntimeError("killed")
  assert open(path, "rb").read() == b"old"
  assert os.listdir(tmp_path) == ["out.bin"]


def test_an_os_error_names_the_file(tmp_path):
  path = str(tmp_path / "out.png")
  with pytest.raises(OSError, match=f"cannot write {path}: disk full"):
    with files.replaced_atomically(path):
      raise OSError(28, "disk full")
  assert os.listdir(tmp_path) == []


def test_png_and_coded_files_are_replaced_whole(tmp_path, monkeypatch):
  path = str(tmp_path / "image.png")
  data.write_png(path, np.zeros((4, 5, 3), np.uint8))
  bitstream = container.Bitstream(
      system="bls2017", config_hash=b"\0" * 8, model_id=b"\0" * 8,
      digest=b"\0" * container.DIGEST_BYTES, image_shape=(4, 5),
      latent_shapes=[(1, 1, 2)], strings=[b"abc"])
  coded = str(tmp_path / "image.tfci")
  container.write(coded, bitstream)

  def full_disk(*args, **kwargs):
    raise OSError(28, "No space left on device")

  from PIL import Image  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(Image.Image, "save", full_disk)
  with pytest.raises(OSError, match="No space left"):
    data.write_png(path, np.full((4, 5, 3), 255, np.uint8))
  assert data.read_image(path).max() == 0  # the old image, whole
  monkeypatch.setattr(container, "pack", lambda b: b"x" * 10)
  monkeypatch.setattr(files.os, "replace", full_disk)
  with pytest.raises(OSError, match=f"cannot write {coded}"):
    container.write(coded, bitstream)
  assert container.read(coded).strings == [b"abc"]
  assert sorted(os.listdir(tmp_path)) == ["image.png", "image.tfci"]
