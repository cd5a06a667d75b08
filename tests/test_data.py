"""Image reading, training crops, Kodak checksums."""

import math
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tfc_repro import data
from conftest import smooth_image


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "LA", "CMYK"])
def test_read_image_converts_modes_to_rgb8(tmp_path, mode):
  rgb = smooth_image(20, 30)
  if mode == "I;16":
    image = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
  else:
    image = Image.fromarray(rgb).convert(mode)
  path = str(tmp_path / ("x.tif" if mode in ("I;16", "CMYK") else "x.png"))
  image.save(path)
  array = data.read_image(path)
  assert array.shape == (20, 30, 3) and array.dtype == np.uint8
  if mode in ("L", "I;16"):
    assert np.array_equal(array[..., 0], array[..., 1])
  if mode == "I;16":
    assert np.array_equal(array[..., 0], rgb[..., 0])
  if mode == "RGBA":
    assert np.array_equal(array, rgb)


def _exif_rotated_jpeg(path):
  """A 16x8 JPEG (bright left half, dark right half) whose EXIF orientation 6
  asks viewers to turn it 90° clockwise: displayed 8 wide and 16 tall, with
  the bright half on top."""
  stored = np.zeros((8, 16, 3), np.uint8)
  stored[:, :8] = 250
  exif = Image.Exif()
  exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
  Image.fromarray(stored).save(path, exif=exif, quality=95)
  return path


def test_read_image_applies_exif_orientation(tmp_path):
  array = data.read_image(_exif_rotated_jpeg(str(tmp_path / "r.jpg")))
  assert array.shape == (16, 8, 3)
  assert array[:8].mean() > 200 and array[8:].mean() < 50


def _warnings(capsys):
  return [line for line in capsys.readouterr().err.splitlines()
          if line.startswith("warning:")]


def _png16(path, array):
  """A 16-bit PNG of a (H, W, C) uint16 array (Pillow cannot write 16-bit
  colour PNGs)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with open(path, "wb") as f:
    f.write(tf.io.encode_png(array).numpy())
  return path


def test_dropped_transparency_and_depth_are_warned(tmp_path, capsys):
  rgb = smooth_image(20, 30)
  rgba = np.concatenate([rgb, np.full((20, 30, 1), 255, np.uint8)], axis=2)
  rgba[:5, :5, 3] = 0
  cases = {  # file: what the warning must name
      "alpha.png": "alpha channel", "palette.png": "palette transparency",
      "gray16.png": "16-bit", "rgb16.png": "16-bit", "la.png": "alpha",
      "float.tif": "floating-point"}
  Image.fromarray(rgba).save(tmp_path / "alpha.png")
  Image.fromarray(rgba).convert("LA").save(tmp_path / "la.png")
  palette = Image.fromarray(rgb).quantize(16)
  palette.save(tmp_path / "palette.png", transparency=palette.getpixel((0, 0)))
  Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(
      tmp_path / "gray16.png")
  _png16(str(tmp_path / "rgb16.png"), rgb.astype(np.uint16) * 257)
  Image.fromarray(rgb[..., 0].astype(np.float32)).save(tmp_path / "float.tif")
  capsys.readouterr()
  for name, dropped in cases.items():
    path = str(tmp_path / name)
    array = data.read_image(path)
    assert array.shape == (20, 30, 3) and array.dtype == np.uint8
    lines = _warnings(capsys)
    assert len(lines) == 1, (name, lines)
    assert lines[0].startswith(f"warning: {path}: ") and dropped in lines[0]
    assert "8-bit RGB" in lines[0]
  # 16-bit RGBA: one line naming both.
  path = _png16(str(tmp_path / "rgba16.png"), rgba.astype(np.uint16) * 257)
  assert np.array_equal(data.read_image(path), rgb)
  (line,) = _warnings(capsys)
  assert "alpha channel" in line and "16-bit" in line
  data.read_image(path)  # read again (training epochs): no repeat
  assert not _warnings(capsys)


def test_nothing_dropped_gives_no_warning(tmp_path, capsys):
  rgb = smooth_image(20, 30)
  Image.fromarray(rgb).save(tmp_path / "rgb.png")
  Image.fromarray(rgb).convert("RGBA").save(tmp_path / "opaque.png")
  Image.fromarray(rgb).convert("L").save(tmp_path / "gray.png")
  Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
  Image.fromarray(rgb).save(tmp_path / "x.jpg")
  capsys.readouterr()
  for name in ("rgb.png", "opaque.png", "gray.png", "palette.png", "x.jpg"):
    data.read_image(str(tmp_path / name))
  assert not _warnings(capsys)


def test_read_image_errors(tmp_path):
  with pytest.raises(data.DataError, match="no such file"):
    data.read_image(str(tmp_path / "missing.png"))
  bad = tmp_path / "bad.png"
  bad.write_bytes(b"not an image")
  with pytest.raises(data.DataError, match="cannot read"):
    data.read_image(str(bad))
  with pytest.raises(data.DataError, match="directory"):
    data.read_image(str(tmp_path))
  # A pipe (or a device) would be waited on or read without end.
  fifo = str(tmp_path / "pipe.png")
  os.mkfifo(fifo)
  for path in (fifo, "/dev/zero"):
    with pytest.raises(data.DataError, match="is not a regular file"):
      data.read_image(path)


def _png_header_only(path, width, height):
  """A PNG whose header declares width x height and whose data is cut."""
  def chunk(kind, body):
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body)))
  header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
  with open(path, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * (3 * width + 1)))
            + chunk(b"IEND", b""))


def test_an_image_above_the_limit_is_refused_from_its_header(tmp_path):
  path = str(tmp_path / "bomb.png")  # 99 bytes declaring 20000x20000
  _png_header_only(path, 20000, 20000)
  with pytest.raises(data.DataError, match=r"20000x20000 pixels is above the "
                     r"limit of 1000000 pixels \(--max_pixels\)"):
    data.read_image(path, max_pixels=1000000)
  # Without a limit, Pillow's decompression-bomb check refuses it, in one
  # line.
  with pytest.raises(data.DataError, match="cannot read .*exceeds limit"):
    data.read_image(path)
  small = str(tmp_path / "small.png")
  data.write_png(small, smooth_image(20, 30))
  assert data.read_image(small, max_pixels=600).shape == (20, 30, 3)
  with pytest.raises(data.DataError, match="20x30 pixels"):
    data.read_image(small, max_pixels=599)


def test_16_bit_samples_scale_by_their_depth_not_by_the_content(tmp_path):
  dark = np.arange(64 * 64).reshape(64, 64).astype(np.uint16) % 256
  path = str(tmp_path / "dark16.png")
  Image.fromarray(dark).save(path)  # 16-bit grey, at most 255 of 65535
  assert data.read_image(path).max() == 1
  bright = dark * 257  # the same ramp, full range
  Image.fromarray(bright.astype(np.uint16)).save(path)
  assert data.read_image(path).max() == 255


def test_list_images(tmp_path):
  (tmp_path / "sub").mkdir()
  for name in ("b.png", "a.jpg", "notes.txt", "sub/c.PNG"):
    (tmp_path / name).write_bytes(b"")
  assert [os.path.relpath(p, tmp_path) for p in data.list_images(
      str(tmp_path))] == ["a.jpg", "b.png", "sub/c.PNG"]
  assert len(data.list_images(str(tmp_path / "*.png"))) == 1
  with pytest.raises(data.DataError, match="no image files"):
    data.list_images(str(tmp_path / "*.gif"))


def test_split_holds_out_whole_images_deterministically():
  paths = [f"/d/{i}.png" for i in range(40)]
  train, validation = data.split_paths(paths)
  assert len(validation) == 2 and not set(train) & set(validation)
  assert data.split_paths(list(reversed(paths))) == (train, validation)
  assert data.split_paths(paths[:1]) == (paths[:1], [])


def test_crops_pad_small_images(tmp_path):
  paths = []
  for i, size in enumerate([(5, 7), (40, 3), (100, 120)]):
    path = str(tmp_path / f"{i}.png")
    data.write_png(path, smooth_image(*size, seed=i))
    paths.append(path)
  batch = next(iter(data.file_dataset(paths, 32, 3, training=True, seed=0)))
  assert batch.shape == (3, 32, 32, 3) and batch.dtype.name == "uint8"
  validation = list(data.file_dataset(paths, 32, 2, training=False))
  assert [b.shape[0] for b in validation] == [2, 2]


def test_cached_training_crops_come_from_every_image_decoded_once(tmp_path):
  """With `cache`, each file is decoded once: later passes crop the images
  kept in memory, even when the files are gone (without it, reading goes
  on and fails); every image still supplies crops, the same seed gives the
  same crops, and a crop-size schedule's pairs share the images."""
  def write():
    paths = []
    for i in range(3):
      path = str(tmp_path / f"{i}.png")
      # Constant images: a crop tells which image it came from.
      data.write_png(path, np.full((40 + 8 * i, 48, 3), 50 * (i + 1),
                                   np.uint8))
      paths.append(path)
    return paths

  paths = write()
  assert data.decoded_bytes(paths) == 3 * 48 * (40 + 48 + 56)
  assert data.decoded_bytes(paths, limit=1) == 3 * 48 * 40  # stops early

  def crops(cache, delete_after=None, final=None):
    batches = iter(data.file_dataset(write(), 16, 3, training=True, seed=0,
                                     cache=cache, final=final))
    values = []
    for i in range(60):  # many passes over the 3 images
      values.append(next(batches))
      if i == delete_after:
        for path in paths:
          os.remove(path)
    return values

  first = np.concatenate(crops(True))
  assert sorted({int(c[0, 0, 0]) for c in first}) == [50, 100, 150]
  np.testing.assert_array_equal(
      first, np.concatenate(crops(True, delete_after=1)))
  assert data.decoded_bytes(paths) == math.inf  # the files are gone
  with pytest.raises(Exception, match="(?i)not found|no such file"):
    crops(False, delete_after=1)
  pairs = crops(True, delete_after=1, final=(32, 1))
  assert [tuple(x.shape) for x in pairs[-1]] == [(3, 16, 16, 3),
                                                (1, 32, 32, 3)]
  assert sorted({int(p[1][0, 0, 0, 0]) for p in pairs}) == [50, 100, 150]


def test_default_photos_exist():
  paths = data.default_photo_paths()
  assert len(paths) == 6
  assert all(data.read_image(p).shape[2] == 3 for p in paths)


def test_named_evaluation_sets(tmp_path):
  paths, description = data.evaluation_images("scientific")
  assert description == "scientific (3 images)"
  for path in paths:  # colour images of another domain, readable as RGB
    image = data.read_image(path)
    assert image.ndim == 3 and image.shape[2] == 3
    assert min(image.shape[:2]) >= 256
    assert image.std(axis=2).mean() > 1  # not grey stored as RGB
  (tmp_path / "a.png").write_bytes(b"")
  assert data.evaluation_images(str(tmp_path)) == (
      [str(tmp_path / "a.png")], f"{tmp_path} (1 images)")
  with pytest.raises(data.DataError, match="no image files"):
    data.evaluation_images("kodakk")


def test_kodak_checksums_are_verified(tmp_path, monkeypatch):
  kodak = tmp_path / "kodak"
  kodak.mkdir()
  for name in data.KODAK_SHA256:
    (kodak / name).write_bytes(b"wrong")
  monkeypatch.setenv("TFC_REPRO_DATA", str(tmp_path))
  with pytest.raises(data.DataError, match="SHA-256"):
    data.kodak_paths()
  (kodak / "kodim05.png").unlink()
  with pytest.raises(data.DataError, match="missing"):
    data.kodak_paths()


@pytest.mark.skipif(not os.environ.get("TFC_REPRO_DATA"),
                    reason="needs TFC_REPRO_DATA (set by .ci/run)")
def test_kodak_from_data_folder():
  paths = data.kodak_paths()
  assert len(paths) == 24
  assert data.read_image(paths[0]).shape == (512, 768, 3)


def test_tfds_fails_fast_when_absent_and_offline(tmp_path, monkeypatch):
  monkeypatch.setattr(data, "_network_reachable", lambda *a, **k: False)
  with pytest.raises(data.DataError, match="not prepared .* unreachable"):
    data.tfds_dataset("clic", "train", 64, 2, data_dir=str(tmp_path))
  with pytest.raises(data.DataError, match="unknown tfds data set"):
    data.tfds_dataset("no_such_dataset_xyz", "train", 64, 2,
                      data_dir=str(tmp_path))


def test_tfds_crops_as_files_give_them(monkeypatch):
  """A prepared tfds data set gives the training batches (and a crop-size
  schedule's pairs) and the validation batches that image files give."""
  import tensorflow as tf
  import tensorflow_datasets as tfds
  images = np.stack([np.full((40, 48, 3), 50 * (i + 1), np.uint8)
                     for i in range(3)])

  class Builder:
    data_dir = "prepared"

    def is_prepared(self):
      return True

    def as_dataset(self, split, shuffle_files):
      del split, shuffle_files
      return tf.data.Dataset.from_tensor_slices({"image": images})

  monkeypatch.setattr(tfds, "builder", lambda name, data_dir=None: Builder())
  crops, final = next(iter(data.tfds_dataset("x", "train", 16, 3, seed=0,
                                             final=(32, 1))))
  assert crops.shape == (3, 16, 16, 3) and final.shape == (1, 32, 32, 3)
  assert int(final[0, 0, 0, 0]) in (50, 100, 150)
  assert next(iter(data.tfds_dataset("x", "train", 16, 3))).shape == (
      3, 16, 16, 3)
  validation = data.tfds_dataset("x", "validation", 16, 2, training=False)
  assert [tuple(b.shape) for b in validation] == [(2, 16, 16, 3),
                                                  (1, 16, 16, 3)]


def test_training_images_tensorflow_cannot_decode_are_named_before_training(
    tmp_path):
  good = str(tmp_path / "good.png")
  data.write_png(good, smooth_image(16, 16))
  tiff = str(tmp_path / "photo.tiff")
  Image.fromarray(smooth_image(16, 16)).save(tiff)
  broken = tmp_path / "broken.png"
  broken.write_bytes(b"not an image")
  data.check_training_images([good])
  with pytest.raises(data.DataError, match=f"{tiff}: TIFF images cannot be "
                     "used for training"):
    data.check_training_images([good, tiff])
  with pytest.raises(data.DataError, match=f"cannot read {broken} as an "
                     "image"):
    data.check_training_images([str(broken), good])
