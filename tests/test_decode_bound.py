"""The decode bound (tfc_repro/decode_bound.py): a file must hold, for every
latent, at least the bits its declared symbols cost at the least, or it is
refused before anything is decoded.

Every system case of tests/test_contract.py: a file made "consistent huge"
(the largest image the model accepts, the latent shapes it implies, the
strings of a small image) is refused by the bound, before decoding; the
bound sits exactly where it says; every honest file still decodes, down to
a 1x1 image and flat images (the cheapest honest files per pixel); the
bound counts the symbols the decoder decodes; and a model exported without
the bound's record computes it from its tables. The bound itself is checked
against TFC's range coder on coded sequences.
"""

import json
import math
import os
import random
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_compression.python.ops import gen_ops

from tfc_repro import container, decode_bound, latent_coders, savedmodel
from tfc_repro import systems
from conftest import smooth_image
from test_contract import CASES, build, case_id, fixed_codec

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
import fuzz  # pylint: disable=g-import-not-at-top,wrong-import-position

PARAMS = [pytest.param((name, kind), id=case_id(name, kind))
          for name in systems.NAMES for kind in CASES.get(name, {})]


@pytest.fixture(scope="module", params=PARAMS)
def case(request):
  """(case id, model, in-memory codec) of one case."""
  name, kind = request.param
  return (case_id(name, kind), *fixed_codec(name, kind))


class _Refusing:
  """Stands in for the coding module: any decoding attempt fails the test."""

  def __init__(self, module):
    self._module = module

  def __getattr__(self, name):
    if name == "decompress":
      raise AssertionError("decompress ran on a file the decode bound "
                           "should have refused")
    return getattr(self._module, name)


def _refused_before_decoding(codec, bitstream, match):
  module, codec._module = codec._module, _Refusing(codec._module)  # pylint: disable=protected-access
  try:
    with pytest.raises(container.ContainerError, match=match) as error:
      codec.decompress(container.unpack(container.pack(bitstream)))
  finally:
    codec._module = module  # pylint: disable=protected-access
  assert "\n" not in str(error.value)
  return str(error.value)


def _consistent_huge(codec, bitstream):
  """The bitstream declaring the largest square image the codec accepts,
  with the latent shapes the model derives for it, strings kept."""
  huge = container.unpack(container.pack(bitstream))
  side = math.isqrt(codec.max_pixels)
  huge.image_shape = (side, side)
  huge.latent_shapes = savedmodel.expected_latent_shapes(
      huge.image_shape, codec.stride, codec.shape_strides)
  return huge


def test_a_consistent_huge_file_is_refused_before_decoding(case):
  _, _, codec = case
  good = codec.compress(smooth_image(64, 64, seed=1))
  huge = _consistent_huge(codec, good)
  codec._check_size(huge.image_shape, AssertionError)  # pylint: disable=protected-access
  message = _refused_before_decoding(
      codec, huge, r"the entropy-coded data of latent '\w+' is not what this "
      r"model writes for a \d+x\d+ image: \d+ bytes, where its \d+ symbols "
      r"take at least \d+ \(.* bits each\); the data was probably cut short "
      "or the header altered")
  name = message.split("'")[1]
  assert name in codec.latents
  index = codec.latents.index(name)
  minimum = codec.bound.minimum_bytes(huge.latent_shapes)
  assert len(huge.strings[index]) < minimum[index]
  assert f": {len(huge.strings[index])} bytes," in message
  assert f"take at least {minimum[index]} (" in message


def test_the_bound_is_where_it_says(case):
  """Strings padded to each latent's minimum pass the check (they are
  decoded, and refused after); one byte less, and the file is refused."""
  _, _, codec = case
  huge = _consistent_huge(codec, codec.compress(smooth_image(64, 64, seed=1)))
  minimum = codec.bound.minimum_bytes(huge.latent_shapes)
  assert max(minimum) > 0
  padded = container.unpack(container.pack(huge))
  padded.strings = [s + bytes(max(0, m - len(s)))
                    for s, m in zip(huge.strings, minimum)]
  codec.check(padded)
  for i, m in enumerate(minimum):
    if m == 0:
      continue
    short = container.unpack(container.pack(padded))
    short.strings[i] = padded.strings[i][:m - 1]
    _refused_before_decoding(
        codec, short, f"latent '{codec.latents[i]}' is not what .*: "
        f"{m - 1} bytes, where")


def _flat(height, width, color):
  return np.broadcast_to(np.asarray(color, np.uint8),
                         (height, width, 3)).copy()


@pytest.mark.parametrize("image", [
    pytest.param(lambda: smooth_image(1, 1, seed=3), id="1x1"),
    pytest.param(lambda: _flat(1, 1, (200, 10, 90)), id="1x1-flat"),
    pytest.param(lambda: smooth_image(17, 33, seed=3), id="17x33"),
    pytest.param(lambda: smooth_image(96, 160, seed=4), id="96x160"),
    pytest.param(lambda: _flat(256, 384, (0, 0, 0)), id="flat-black"),
    pytest.param(lambda: _flat(256, 384, (90, 140, 200)), id="flat-color"),
])
def test_honest_files_pass_and_decode(case, image):
  """Every string an encoder writes holds at least its minimum (flat images
  are the cheapest honest files per pixel: the most probable symbol
  everywhere), and the file decodes exactly."""
  _, model, codec = case
  image = image()
  bitstream = codec.compress(image)
  minimum = codec.bound.minimum_bits(bitstream.latent_shapes)
  for name, string, bits in zip(codec.latents, bitstream.strings, minimum):
    assert 8 * len(string) >= bits, name
  if image.shape[0] * image.shape[1] >= 256 * 384:
    # Large enough for the bound to bite on some latent.
    assert max(minimum) > 0
  decoded = codec.decompress(container.unpack(container.pack(bitstream)))
  np.testing.assert_array_equal(decoded,
                                model.reconstruct(tf.constant(image)).numpy())


def test_the_bound_counts_the_symbols_the_decoder_decodes(case):
  """Each latent's symbols (its coded shape's product times its channels)
  are as many as the model's decoder decodes for the file."""
  _, model, codec = case
  bitstream = codec.compress(smooth_image(72, 136, seed=5))
  count = len(model.latent_names)

  @tf.function
  def decoded_symbols(*args):
    latents = latent_coders.Latents(
        strings=dict(zip(model.latent_names, args[:count])),
        shapes=dict(zip(model.coded_shape_names, args[count + 1:])))
    model._decompress(latents, args[count])  # pylint: disable=protected-access
    return {name: tf.size(s) for name, s in latents.symbols.items()}

  sizes = decoded_symbols(
      *[tf.constant(s, tf.string) for s in bitstream.strings],
      tf.constant(bitstream.image_shape, tf.int32),
      *[tf.constant(s, tf.int32) for s in bitstream.latent_shapes])
  counts = codec.bound.symbols(bitstream.latent_shapes)
  assert {name: int(sizes[name]) for name in model.latent_names} == dict(
      zip(codec.latents, counts))
  assert [latent.name for latent in codec.bound.latents] == list(
      codec.latents)


def test_the_record_is_the_cost_of_the_decoders_tables(case):
  """The recorded bits per symbol are those of the tables the latent's
  range decoder reads, and what a model without a record computes from its
  loaded tables; every latent has a positive cost."""
  _, _, codec = case
  record = codec.metadata[decode_bound.KEY]["latents"]
  assert list(record) == list(codec.latents)
  metadata = {k: v for k, v in codec.metadata.items()
              if k != decode_bound.KEY}
  computed = decode_bound.Bound.of(codec._module, metadata)  # pylint: disable=protected-access
  assert not computed.recorded and codec.bound.recorded
  for latent, fallback in zip(codec.bound.latents, computed.latents):
    entry = record[latent.name]
    assert entry["precision"] in ([12], [16])
    assert 0 < entry["max_probability"] < 1
    assert latent.bits_per_symbol == pytest.approx(-math.log2(
        entry["max_probability"] + 2. ** -16))
    assert 0 < latent.bits_per_symbol < 16
    assert fallback.bits_per_symbol == latent.bits_per_symbol
    assert (fallback.shape, fallback.channels) == (None, 1)
    assert latent.channels >= 1


def test_a_model_exported_without_the_record_loads_codes_and_is_bounded(
    tmp_path):
  """A SavedModel of before the record (the same model, its metadata
  without it) loads, codes, and bounds each latent at one symbol per
  position of its smallest shape with the cost of its loaded tables."""
  model = build("lee2019", "hybrid")
  module, metadata = savedmodel.coding_module(model)
  recorded = metadata.pop(decode_bound.KEY)
  module.metadata = tf.Variable(json.dumps(metadata), trainable=False,
                                dtype=tf.string)
  path = str(tmp_path / "old")
  tf.saved_model.save(module, path)
  loaded = savedmodel.LoadedModel(path)
  assert decode_bound.KEY not in loaded.metadata
  assert not loaded.bound.recorded
  for latent in loaded.bound.latents:
    assert latent.bits_per_symbol == pytest.approx(
        recorded["latents"][latent.name]["bits_per_symbol"])
  image = smooth_image(40, 72, seed=2)
  bitstream = loaded.compress(image)
  np.testing.assert_array_equal(loaded.decompress(bitstream),
                                model.reconstruct(tf.constant(image)).numpy())
  shapes = bitstream.latent_shapes
  smallest = min(int(np.prod(s)) for s in shapes)
  assert loaded.bound.symbols(shapes) == [smallest] * len(loaded.latents)
  _refused_before_decoding(loaded, _consistent_huge(loaded, bitstream),
                           "probably cut short or the header altered")


def test_the_fuzzers_huge_cases_are_consistent_and_padded_past_the_minimum():
  model = build("bmshj2018", "hyperprior")
  codec = savedmodel.Codec.from_model(model)
  good = codec.compress(smooth_image(40, 72, seed=2))
  geometry = dict(stride=codec.stride, shape_strides=codec.shape_strides,
                  max_pixels=codec.max_pixels,
                  minimum_bytes=codec.bound.minimum_bytes)
  rng = random.Random(0)
  seen = set()
  for _ in range(12):
    data, details = fuzz._huge_case(good, rng, geometry)  # pylint: disable=protected-access
    bitstream = container.unpack(data)
    assert bitstream.latent_shapes == savedmodel.expected_latent_shapes(
        bitstream.image_shape, codec.stride, codec.shape_strides)
    assert details["pixels"] <= codec.max_pixels
    assert details["pixels"] >= 4 * 40 * 72
    minimum = codec.bound.minimum_bytes(bitstream.latent_shapes)
    short = any(len(s) < m for s, m in zip(bitstream.strings, minimum))
    if details["padded"]:
      assert all(len(s) > m for s, m in zip(bitstream.strings, minimum))
      assert any(len(s) == m + 1 for s, m in zip(bitstream.strings, minimum))
    else:
      assert bitstream.strings == good.strings
    if short:
      with pytest.raises(container.ContainerError,
                         match="the header altered"):
        codec.check(bitstream)
    else:
      codec.check(bitstream)  # reaches decoding
    seen.add((details["padded"], short))
  assert (True, False) in seen and (False, True) in seen


# -- The bound against TFC's range coder ----------------------------------


def _encode(rows, cells, values):
  """TFC's range coder on a flat table of `rows` ((precision, cdf)): the
  string of `values` coded with the rows `cells`."""
  table = np.concatenate([[p, *cdf] for p, cdf in rows])
  handle = gen_ops.create_range_encoder([], table.astype(np.int32))
  handle = gen_ops.entropy_encode_index(
      handle, np.asarray(cells, np.int32), np.asarray(values, np.int32))
  return gen_ops.entropy_encode_finalize(handle).numpy()


def _random_row(rng, precision, peaked):
  """A CDF row of `precision` bits: a few symbols, the first (peaked) or a
  random one carrying most of the mass."""
  size = rng.randrange(2, 9)
  total = 1 << precision
  if peaked:
    masses = [1] * size
    masses[rng.randrange(size)] += total - size
  else:
    cuts = sorted(rng.sample(range(1, total), size - 1))
    masses = np.diff([0, *cuts, total]).tolist()
  return precision, np.concatenate([[0], np.cumsum(masses)]).astype(int)


def test_table_rows_reads_tables_as_tfcs_coder_does():
  rows = [(12, np.array([0, 5, 4000, 4096])),
          (-16, np.array([0, 1, 65535, 65536])),
          (3, np.array([0, 8]))]
  flat = np.concatenate([[p, *cdf] for p, cdf in rows] + [[8, 8]])
  parsed = decode_bound.table_rows(flat.astype(np.int32))
  assert [p for p, _ in parsed] == [12, 16, 3]
  for (_, expected), (_, cdf) in zip(rows, parsed):
    np.testing.assert_array_equal(cdf, expected)
  padded = np.array([[12, 0, 5, 4096, 4096], [12, 0, 4095, 4096, 4096]])
  assert len(decode_bound.table_rows(padded.astype(np.int32))) == 2
  cost = decode_bound.cost([flat])
  assert cost["max_probability"] == 1.  # the 3-bit row of one symbol
  assert cost["bits_per_symbol"] == 0.
  assert decode_bound.cost([flat[:5]])["max_probability"] == 3995 / 4096
  for bad in ([12, 1, 4096], [12, 0, 7, 5, 4096], [17, 0, 1 << 17],
              [12, 0, 5]):
    with pytest.raises(decode_bound.TableError):
      decode_bound.table_rows(np.array(bad, np.int32))


@pytest.mark.parametrize("precision", [12, 16])
def test_strings_hold_at_least_the_bound(precision):
  """Strings of TFC's range coder (escape on) for random tables and
  sequences (the most probable symbol repeated, random symbols, long runs
  of one row) hold at least n · bits per symbol − `SLACK_BITS`; without
  the slack the end of a string can be short of it."""
  rng = random.Random(precision)
  short_of_it = 0
  for trial in range(60):
    rows = [_random_row(rng, precision, peaked=rng.random() < .7)
            for _ in range(rng.randrange(1, 5))]
    bits = decode_bound.cost(
        [np.concatenate([[-p, *cdf] for p, cdf in rows]).astype(np.int32)])
    bits = bits["bits_per_symbol"]
    count = rng.choice([10, 1000, 30000])
    cells = [rng.randrange(len(rows)) for _ in range(count)] if (
        trial % 3) else [i % len(rows) for i in range(count)]
    values = []
    for cell in cells:
      cdf = rows[cell][1]
      modes = int(np.argmax(np.diff(cdf)))
      values.append(modes if trial % 2 == 0 else rng.randrange(len(cdf) - 1))
    string = _encode([(-p, cdf) for p, cdf in rows], cells, values)
    assert 8 * len(string) >= count * bits - decode_bound.SLACK_BITS, trial
    short_of_it += 8 * len(string) < count * bits
  assert short_of_it > 0


def test_exactly_coded_runs_are_the_exception():
  """The limit the module doc names: a symbol whose interval the coder
  narrows exactly (probability 2^-k) around a short binary fraction is
  written in a byte however often it repeats; TFC's own Gaussian table has
  one (value +1 at σ = 200, probability 8/4096, interval centred on ½)."""
  from tfc_repro import scale_table  # pylint: disable=g-import-not-at-top
  entropy_model = scale_table.gaussian_entropy_model(True)
  rows = decode_bound.table_rows(entropy_model.cdf.numpy())
  precision, cdf = rows[61]
  symbol = 1 - int(entropy_model.cdf_offset.numpy()[61])
  assert (cdf[symbol], cdf[symbol + 1]) == (2044, 2052)
  string = _encode([(-precision, cdf)], [0] * 20000, [symbol] * 20000)
  assert len(string) == 1
  assert 20000 * 9 > 100 * decode_bound.SLACK_BITS


@pytest.mark.parametrize("slack,expected", [
    (None, 20. + 2e-4 * 600), ("2", 2 * (20. + 2e-4 * 600)),
    ("0", 20. + 2e-4 * 600), ("nan", 20. + 2e-4 * 600),
    ("x", 20. + 2e-4 * 600), ("1e300", None), ("inf", None)])
def test_the_decode_time_limit_follows_the_slack_and_always_waits(
    slack, expected, monkeypatch):
  """TFC_REPRO_DECODE_SLACK scales the limit; an unusable value is 1, and a
  huge or infinite one is the longest wait `threading` allows."""
  import threading  # pylint: disable=g-import-not-at-top
  if slack is None:
    monkeypatch.delenv("TFC_REPRO_DECODE_SLACK", raising=False)
  else:
    monkeypatch.setenv("TFC_REPRO_DECODE_SLACK", slack)
  limit = savedmodel.decode_time_limit((20, 30))
  assert limit == pytest.approx(expected or threading.TIMEOUT_MAX)
  worker = threading.Thread(target=lambda: None)
  worker.start()
  worker.join(limit)  # no overflow
