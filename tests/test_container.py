"""The bitstream container: round trip and every kind of damage."""

import dataclasses
import os
import threading

import pytest

from tfc_repro import container


def _bitstream():
  return container.Bitstream(
      system="bls2017", config_hash=bytes(range(8)), model_id=bytes(range(8, 16)),
      digest=bytes(range(16, 20)),
      image_shape=(512, 768), latent_shapes=[(32, 48), (8, 12)],
      strings=[b"\x01\x02\x03" * 50, b"side"])


def test_round_trip():
  original = _bitstream()
  parsed = container.unpack(container.pack(original))
  assert parsed == original
  assert parsed.payload_bytes == 154


def test_overhead_is_small():
  data = container.pack(_bitstream())
  assert len(data) - _bitstream().payload_bytes <= 52


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"TF", "truncated"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "wrong magic"),
    (b"TFCR\x07" + b"\0" * 40, "version 7"),
])
def test_bad_headers(data, message):
  with pytest.raises(container.ContainerError, match=message):
    container.unpack(data)


def test_every_truncation_is_detected():
  data = container.pack(_bitstream())
  for length in range(len(data)):
    with pytest.raises(container.ContainerError):
      container.unpack(data[:length])


@pytest.mark.parametrize("flip", [0x01, 0x5A, 0xFF])
def test_every_flipped_byte_is_detected(flip):
  data = container.pack(_bitstream())
  for position in range(len(data)):
    damaged = bytearray(data)
    damaged[position] ^= flip
    with pytest.raises(container.ContainerError):
      container.unpack(bytes(damaged))


def test_trailing_garbage_is_detected():
  with pytest.raises(container.ContainerError, match="corrupt"):
    container.unpack(container.pack(_bitstream()) + b"\0")


def test_read_missing_file(tmp_path):
  with pytest.raises(container.ContainerError, match="no such file"):
    container.read(str(tmp_path / "missing.tfci"), 1 << 20)


def test_write_and_read(tmp_path):
  path = str(tmp_path / "x.tfci")
  num_bytes = container.write(path, _bitstream())
  assert num_bytes == len(container.pack(_bitstream()))
  assert container.read(path, 1 << 20) == _bitstream()


def test_what_is_not_a_bitstream_is_refused_before_it_is_read(tmp_path):
  """A device, a pipe or a huge file is refused without being read whole:
  a stream without the magic bytes after 4 bytes, any file past the size a
  bitstream of the largest image can have, a file larger than its own
  image allows once parsed."""
  with pytest.raises(container.ContainerError, match="wrong magic"):
    container.read("/dev/zero", 1 << 20)  # endless: read 4 bytes
  with pytest.raises(container.ContainerError, match="is a directory"):
    container.read(str(tmp_path), 1 << 20)
  huge = str(tmp_path / "huge.tfci")
  with open(huge, "wb") as f:
    f.write(container.MAGIC)
    f.truncate(1 << 32)  # sparse: 4 GiB that take no disk
  limit = container.max_file_bytes(1 << 10)
  with pytest.raises(container.ContainerError,
                     match=f"larger than a bitstream .* at most 1024 pixels "
                           f"can be \\({limit} bytes\\)"):
    container.read(huge, 1 << 10)
  # A pipe that sends more than the limit is read only up to it.
  fifo = str(tmp_path / "pipe.tfci")
  os.mkfifo(fifo)
  def endless():
    try:
      with open(fifo, "wb") as f:
        f.write(container.MAGIC)
        while True:
          f.write(b"\0" * 65536)
    except BrokenPipeError:
      pass
  writer = threading.Thread(target=endless, daemon=True)
  writer.start()
  with pytest.raises(container.ContainerError, match="larger than"):
    container.read(fifo, 1 << 10)
  writer.join(10)
  assert not writer.is_alive()
  # A valid file whose strings take more than its image allows.
  padded = dataclasses.replace(
      _bitstream(), image_shape=(1, 1),
      strings=[b"x" * (container.HEADER_ALLOWANCE + 100)])
  path = str(tmp_path / "padded.tfci")
  with open(path, "wb") as f:
    f.write(container.pack(padded))
  with pytest.raises(container.ContainerError,
                     match="corrupt .* for a 1x1 image, above the 128 bits"):
    container.read(path, 1 << 30)
  with pytest.raises(ValueError, match="above the 128 bits per pixel"):
    container.write(str(tmp_path / "out.tfci"), padded)
  assert not os.path.exists(tmp_path / "out.tfci")


def _with_valid_crc(body):
  import struct, zlib  # pylint: disable=g-import-not-at-top,multiple-imports
  return body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _header(image_height_varint):
  """A crafted file (valid CRC) whose image height is the given varint."""
  return _with_valid_crc(
      b"TFCR" + bytes([container.VERSION]) + b"\x07bls2017" + bytes(16 + 4) +
      image_height_varint +
      b"\x10" + b"\x00" + b"\x00")


@pytest.mark.parametrize("varint, message", [
    (b"\x80\x00", "canonical"),            # 0 in two bytes
    (b"\x90\x80\x00", "canonical"),        # 16 in three bytes
    (b"\x80\x80\x80\x80\x08", "out of range"),   # 2^31
    (b"\xff" * 9 + b"\x01", "out of range"),     # 2^70 - 1
])
def test_crafted_size_fields_are_refused(varint, message):
  with pytest.raises(container.ContainerError, match=message):
    container.unpack(_header(varint))
  # The same file with a canonical, small field parses.
  assert container.unpack(_header(b"\x10")).image_shape == (16, 16)


def test_values_that_do_not_fit_are_not_written():
  bitstream = _bitstream()
  bitstream.image_shape = (1 << 31, 1)
  with pytest.raises(ValueError, match="2\\^31"):
    container.pack(bitstream)
