"""Named weight arrays in .npz files (export's training weights, shipped
models' weights)."""

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
  with open(path, "rb") as f:
    written = f.read()
  # The same arrays make the same bytes, whenever they are written.
  weights_file.write(weights, path, compression=compression)
  with open(path, "rb") as f:
    assert f.read() == written
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
