"""Output files are written whole or not at all."""

import os
import stat
import threading

import numpy as np
import pytest

from conftest import aged
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


def test_what_a_killed_write_left_is_removed_by_a_later_write(tmp_path):
  """Leftovers older than a day go; a younger one (a write that may still
  run) stays, and so do other files and what a link points to."""
  day = files.STALE_SECONDS
  (tmp_path / "kept").mkdir()
  (tmp_path / "kept" / "data").write_bytes(b"kept")
  names = {".out.bin.a1.partial": day + 60, ".out.bin.b2.partial": day - 60,
           ".other.bin.c3.partial": 2 * day, "out.bin.partial": 2 * day}
  for name, age in names.items():
    (tmp_path / name).write_bytes(b"half")
    aged(str(tmp_path / name), age)
  os.symlink(tmp_path / "kept", tmp_path / ".out.bin.d4.partial")
  aged(str(tmp_path / ".out.bin.d4.partial"), 2 * day)
  files.write_bytes(str(tmp_path / "out.bin"), b"new")
  assert sorted(os.listdir(tmp_path)) == [
      ".other.bin.c3.partial", ".out.bin.b2.partial", "kept", "out.bin",
      "out.bin.partial"]
  assert (tmp_path / "kept" / "data").read_bytes() == b"kept"
  (tmp_path / ".stale.pack-x").mkdir()
  (tmp_path / ".stale.pack-x" / "weights").write_bytes(b"w")
  aged(str(tmp_path / ".stale.pack-x"), 2 * day)
  files.remove_stale(str(tmp_path), ".stale.pack-")
  assert not (tmp_path / ".stale.pack-x").exists()
  files.remove_stale(str(tmp_path / "absent"), ".x")  # nothing to do


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
  assert container.read(coded, 1 << 20).strings == [b"abc"]
  assert sorted(os.listdir(tmp_path)) == ["image.png", "image.tfci"]


def test_nothing_planted_beside_the_output_is_written_through(tmp_path):
  victim = tmp_path / "victim.txt"
  victim.write_bytes(b"precious")
  path = str(tmp_path / "out.tfci")
  for planted in (path + ".partial", str(tmp_path / ".out.tfci.partial")):
    os.symlink(victim, planted)
  files.write_bytes(path, b"coded")
  assert victim.read_bytes() == b"precious"
  assert open(path, "rb").read() == b"coded" and not os.path.islink(path)
  assert sorted(os.listdir(tmp_path)) == [
      ".out.tfci.partial", "out.tfci", "out.tfci.partial", "victim.txt"]


def test_an_output_is_created_as_open_would_create_it(tmp_path):
  path = str(tmp_path / "out.bin")
  old_mask = os.umask(0o027)
  try:
    files.write_bytes(path, b"x")
  finally:
    os.umask(old_mask)
  assert os.stat(path).st_mode & 0o777 == 0o640


def test_devices_and_pipes_are_written_in_place(tmp_path):
  files.write_bytes(os.devnull, b"coded")
  assert stat.S_ISCHR(os.stat(os.devnull).st_mode)  # still the device
  fifo = str(tmp_path / "pipe")
  os.mkfifo(fifo)
  received = []
  reader = threading.Thread(
      target=lambda: received.append(open(fifo, "rb").read()), daemon=True)
  reader.start()
  files.write_bytes(fifo, b"coded")
  reader.join(10)
  assert received == [b"coded"]
  assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_folder_or_a_missing_folder_is_named_as_the_output(tmp_path):
  with pytest.raises(OSError, match=f"^cannot write {tmp_path}: a folder$"):
    files.write_bytes(str(tmp_path), b"x")
  missing = str(tmp_path / "no" / "out.bin")
  with pytest.raises(OSError, match=f"^cannot write {missing}: No such file"):
    files.write_bytes(missing, b"x")
  assert os.listdir(tmp_path) == []
