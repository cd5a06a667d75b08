"""Named weight arrays in .npz files (export's training weights, shipped
models' weights)."""

import io
import zipfile

import numpy as np
import pytest

from tfc_repro import weights_file


@pytest.mark.parametrize("compression", sorted(weights_file.COMPRESSIONS,
                                                key=str))
def test_weights_read_back_in_order_with_their_names(tmp_path, compression):
  weights = [("b/kernel:0", np.arange(6, dtype=np.float32).reshape(2, 3)),
             ("a/bias:0", np.float16([0.5, -2.])),
             ("c/step:0", np.int64(7))]
  path = str(tmp_path / "w.npz")
  weights_file.write(weights, path, compression=compression)
  # The same arrays make the same bytes, whenever they are written.
  with zipfile.ZipFile(path) as archive:
    assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0,
                                                         0)}
  read = weights_file.read(path)
  assert [n for n, _ in read] == [n for n, _ in weights]
  for (_, got), (_, want) in zip(read, weights):
    assert got.dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)
  widened = dict(weights_file.read(path, float16_as_float32=True))
  assert widened["a/bias:0"].dtype == np.float32
  assert widened["c/step:0"].dtype == np.int64


@pytest.mark.parametrize("content", [b"", b"not a zip file",
                                     b"PK\x03\x04" + b"\0" * 40])
def test_a_damaged_file_is_one_line_error(tmp_path, content):
  path = tmp_path / "w.npz"
  path.write_bytes(content)
  with pytest.raises(weights_file.WeightsFileError) as error:
    weights_file.read(str(path))
  assert "\n" not in str(error.value)


@pytest.mark.parametrize("compression", ["deflate", "lzma"])
def test_a_damaged_compressed_array_is_one_line_error(tmp_path, compression):
  path = tmp_path / "w.npz"
  weights_file.write([("x", np.arange(4096, dtype=np.float32))], str(path),
                     compression=compression)
  data = bytearray(path.read_bytes())
  middle = len(data) // 2
  data[middle:middle + 64] = bytes(64)
  path.write_bytes(bytes(data))
  with pytest.raises(weights_file.WeightsFileError) as error:
    weights_file.read(str(path))
  assert "\n" not in str(error.value)


def test_a_file_without_names_or_with_pickles_is_refused(tmp_path):
  path = str(tmp_path / "w.npz")
  np.savez(path, w00000=np.zeros(2))
  with pytest.raises(weights_file.WeightsFileError):
    weights_file.read(path)
  np.savez(path, names=np.array(["x"]), w00000=np.array([{"a": 1}],
                                                        dtype=object))
  with pytest.raises(weights_file.WeightsFileError):
    weights_file.read(path)


def _zip(members):
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as archive:
    for name, content in members.items():
      if not isinstance(content, bytes):
        array = io.BytesIO()
        np.lib.format.write_array(array, np.asarray(content))
        content = array.getvalue()
      archive.writestr(name, content)
  return buffer.getvalue()


def _huge_header():
  header = io.BytesIO()
  np.lib.format.write_array_header_1_0(header, {
      "descr": "<f4", "fortran_order": False, "shape": (2**40,)})
  return header.getvalue() + b"\0" * 16


@pytest.mark.parametrize("members,reason", [
    ({"names.npy": ["x"], "w00000.npy": b"no npy magic"}, "magic"),
    ({"names.npy": np.array("x"), "w00000.npy": [1.]}, "list of strings"),
    ({"names.npy": ["x"]}, "not the ones its names list"),
    ({"names.npy": ["x"], "w00000.npy": [1.], "w00001.npy": [2.]},
     "not the ones its names list"),
    ({"names.npy": ["x"], "w00000.npy": _huge_header()}, "more data"),
    ({"names.npy": ["x"], "w00000.npy": np.zeros(8)[:4].tobytes()},
     "magic"),
])
def test_a_crafted_file_is_refused_before_allocating(tmp_path, members,
                                                    reason):
  path = tmp_path / "w.npz"
  path.write_bytes(_zip(members))
  with pytest.raises(weights_file.WeightsFileError, match=reason) as error:
    weights_file.read(str(path))
  assert "\n" not in str(error.value)


def test_a_plain_npy_file_and_too_many_bytes_are_refused(tmp_path,
                                                         monkeypatch):
  path = tmp_path / "w.npz"
  np.save(str(tmp_path / "w.npy"), np.zeros(3))
  (tmp_path / "w.npy").rename(path)
  with pytest.raises(weights_file.WeightsFileError):
    weights_file.read(str(path))
  weights_file.write([("x", np.zeros(1000, np.float32))], str(path),
                     compression="lzma")
  monkeypatch.setattr(weights_file, "MAX_BYTES", 3000)
  with pytest.raises(weights_file.WeightsFileError, match="more than the"):
    weights_file.read(str(path))
