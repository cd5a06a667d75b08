"""The bitstream file shared by every system.

Layout (all integers unsigned LEB128 varints unless said otherwise):

    magic            4 bytes  b"TFCR"
    format version   1 byte
    system name      varint length + ASCII
    config hash      8 bytes  (SHA-256 of the model's configuration, truncated)
    model id         8 bytes  (SHA-256 of configuration and weights, truncated)
    latent digest    4 bytes  (fingerprint of the image shape and every
                              latent's integer symbols)
    image shape      2 varints (height, width)
    latent shapes    varint count, then per shape: varint rank + varint dims
    strings          varint count, then per string: varint length + bytes
    CRC-32           4 bytes big-endian, over everything before it

Any damage (truncation, a flipped byte, trailing garbage, a foreign file)
raises `ContainerError` with a one-line reason before any decoding starts.
Varints must be canonical (no redundant continuation bytes) and below 2^31.
The CRC only catches accidents: a decoder must still check every field
against its model (`savedmodel.Codec.check` derives the latent shapes from
the image shape) and every string against what the model writes for it.
The latent digest is what the decoder's latents must hash to: a string cut
short decodes (TFC's range decoder reads past its end as zeros) but not to
the encoder's symbols, and neither does a file decoded with tables that
differ from the encoder's (another machine, another library build), nor
does an image shape altered within the padded size its latents allow.

A file is read only up to the size a bitstream of its image can have
(`max_file_bytes`: MAX_BITS_PER_PIXEL, five times raw 8-bit RGB, plus the
header), and a stream that does not start with the magic bytes is not read
further: a device, a pipe or a huge file is refused without being read.

Formats 1 (no latent digest) and 2 (a digest without the image shape) are
no longer read.
"""

import dataclasses
import os
import stat
import struct
import zlib

from tfc_repro import files

MAGIC = b"TFCR"
VERSION = 3
DIGEST_BYTES = 4
# Every varint (sizes, counts, lengths) is below 2^31.
MAX_VALUE = 1 << 31
# The most a file may take per pixel of its image: 128 bits, five times raw
# 8-bit RGB (a learned codec's file of a photo takes 0.1-4), plus a
# header allowance (the system name, shapes, length fields).
MAX_BITS_PER_PIXEL = 128
HEADER_ALLOWANCE = 1 << 16


def max_file_bytes(pixels):
  """The largest file of an image of `pixels` pixels that is read."""
  return HEADER_ALLOWANCE + MAX_BITS_PER_PIXEL * pixels // 8


class ContainerError(ValueError):
  """The file is not a valid tfc-repro bitstream, or not for this model."""


@dataclasses.dataclass
class Bitstream:
  system: str
  config_hash: bytes
  model_id: bytes
  digest: bytes
  image_shape: tuple
  latent_shapes: list
  strings: list

  @property
  def payload_bytes(self):
    """Bytes of the entropy-coded strings alone."""
    return sum(len(s) for s in self.strings)


def _varint(value):
  if not 0 <= value < MAX_VALUE:
    raise ValueError(f"cannot store value {value} (0 <= value < 2^31)")
  out = bytearray()
  while True:
    byte = value & 0x7F
    value >>= 7
    if value:
      out.append(byte | 0x80)
    else:
      out.append(byte)
      return bytes(out)


def pack(bitstream):
  """Serialises a `Bitstream` to bytes."""
  if len(bitstream.config_hash) != 8 or len(bitstream.model_id) != 8:
    raise ValueError("config_hash and model_id must be 8 bytes each")
  if len(bitstream.digest) != DIGEST_BYTES:
    raise ValueError(f"the latent digest must be {DIGEST_BYTES} bytes")
  name = bitstream.system.encode("ascii")
  out = bytearray(MAGIC)
  out.append(VERSION)
  out += _varint(len(name)) + name
  out += bitstream.config_hash + bitstream.model_id + bytes(bitstream.digest)
  out += b"".join(_varint(int(d)) for d in bitstream.image_shape[:2])
  out += _varint(len(bitstream.latent_shapes))
  for shape in bitstream.latent_shapes:
    out += _varint(len(shape)) + b"".join(_varint(int(d)) for d in shape)
  out += _varint(len(bitstream.strings))
  for string in bitstream.strings:
    out += _varint(len(string)) + bytes(string)
  out += struct.pack(">I", zlib.crc32(out) & 0xFFFFFFFF)
  return bytes(out)


class _Reader:

  def __init__(self, data):
    self.data = data
    self.pos = 0

  def take(self, n):
    if self.pos + n > len(self.data):
      raise ContainerError("file is truncated")
    chunk = self.data[self.pos:self.pos + n]
    self.pos += n
    return chunk

  def varint(self):
    """A canonical varint below MAX_VALUE (no field needs more; nothing may
    wrap through a 32-bit integer later)."""
    value = shift = 0
    while True:
      byte = self.take(1)[0]
      value |= (byte & 0x7F) << shift
      if value >= MAX_VALUE:
        raise ContainerError("file is corrupt (a size field is out of range)")
      if not byte & 0x80:
        if byte == 0 and shift:
          raise ContainerError("file is corrupt (a size field is not in "
                               "canonical form)")
        return value
      shift += 7


def unpack(data):
  """Parses bytes into a `Bitstream`, checking magic, version and CRC."""
  data = bytes(data)
  if not data:
    raise ContainerError("file is empty")
  if not data.startswith(MAGIC) and not MAGIC.startswith(data):
    raise ContainerError("not a tfc-repro bitstream (wrong magic bytes)")
  if len(data) < len(MAGIC) + 1 + 4:
    raise ContainerError("file is truncated")
  version = data[4]
  if version != VERSION:
    raise ContainerError(
        f"unsupported bitstream format version {version} (this is {VERSION})")
  body, crc = data[:-4], struct.unpack(">I", data[-4:])[0]
  if zlib.crc32(body) & 0xFFFFFFFF != crc:
    # Distinguish a cut file from a damaged one where it is cheap to do so.
    try:
      _parse(body)
    except ContainerError as e:
      if "truncated" in str(e):
        raise ContainerError("file is truncated (or corrupt)") from None
    raise ContainerError("file is corrupt (CRC-32 mismatch)")
  bitstream, end = _parse(body)
  if end != len(body):
    raise ContainerError("file is corrupt (unexpected trailing bytes)")
  return bitstream


def _parse(body):
  reader = _Reader(body)
  reader.take(5)
  name_length = reader.varint()
  if name_length > 64:
    raise ContainerError("file is corrupt (bad system name)")
  try:
    system = reader.take(name_length).decode("ascii")
  except UnicodeDecodeError:
    raise ContainerError("file is corrupt (bad system name)") from None
  config_hash = reader.take(8)
  model_id = reader.take(8)
  digest = reader.take(DIGEST_BYTES)
  image_shape = (reader.varint(), reader.varint())
  latent_shapes = []
  for _ in range(reader.varint()):
    rank = reader.varint()
    if rank > 8:
      raise ContainerError("file is corrupt (bad latent shape)")
    latent_shapes.append(tuple(reader.varint() for _ in range(rank)))
  strings = []
  for _ in range(reader.varint()):
    strings.append(reader.take(reader.varint()))
  return Bitstream(system, config_hash, model_id, digest, image_shape,
                   latent_shapes, strings), reader.pos


def read(path, max_pixels):
  """Reads and parses a bitstream file of an image of at most `max_pixels`
  pixels. Refuses, before reading it whole, a path that is not a file or
  a pipe, a file that does not start with the magic bytes, and one larger
  than `max_file_bytes(max_pixels)`; then one larger than its own image
  allows."""
  try:
    mode = os.stat(path).st_mode
  except FileNotFoundError:
    raise ContainerError(f"no such file: {path}") from None
  except OSError as e:
    raise ContainerError(f"cannot read {path}: {e.strerror or e}") from None
  if stat.S_ISDIR(mode):
    raise ContainerError(f"{path} is a directory, not a bitstream")
  if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
    raise ContainerError(f"{path} is not a file")
  limit = max_file_bytes(max_pixels)
  try:
    with open(path, "rb") as f:
      data = f.read(len(MAGIC))
      if data == MAGIC:
        data += f.read(limit + 1 - len(MAGIC))
  except OSError as e:
    raise ContainerError(f"cannot read {path}: {e.strerror or e}") from None
  if len(data) > limit:
    raise ContainerError(
        f"{path} is larger than a bitstream of an image of at most "
        f"{max_pixels} pixels can be ({limit} bytes)")
  bitstream = unpack(data)
  height, width = bitstream.image_shape
  if len(data) > max_file_bytes(height * width):
    raise ContainerError(
        f"file is corrupt ({len(data)} bytes for a {height}x{width} image, "
        f"above the {MAX_BITS_PER_PIXEL} bits per pixel a bitstream takes "
        "at most)")
  return bitstream


def write(path, bitstream):
  """Writes a bitstream file; returns the number of bytes written."""
  data = pack(bitstream)
  height, width = bitstream.image_shape[:2]
  if len(data) > max_file_bytes(height * width):
    raise ValueError(
        f"the coded image would take {len(data)} bytes, above the "
        f"{MAX_BITS_PER_PIXEL} bits per pixel a decoder reads: not written")
  files.write_bytes(path, data)  # whole or not at all
  return len(data)
