"""The contract every registered system keeps, checked the same way for all.

A system declares its latents (`latent_names`, `shape_names`); from that the
engine makes the coding signatures, the export, the bitstream and the
evaluation columns. These tests run each registered system (in each of its
model kinds) through that chain with a small untrained model from a fixed
seed: exact round trips on awkward sizes, files that match the model's
estimate, one string per latent, per-latent evaluation columns, files of
another model refused with one line, and files that stay the same byte
for byte. (That an export writes the same files as the model is checked
with the export idiom, test_export_idiom.py.)

`DIGESTS` pins the SHA-256 of the file each fixed model writes for a fixed
image, `PAYLOAD_DIGESTS` that of its entropy-coded strings and shapes alone.
The payload digests were recorded before container format 2 (which added
the latent digest to every file); they did not change with it, nor with
format 3 (the image shape in the digest), and the file digests were
recorded again at each. (Before, the file digests of
bls2017, bmshj2018 and lee2019 had stayed the same from the code before
the engine derived the coding signatures from `latent_names`, commit
85fca74, through every later change.) Neither may change unless a format
change is intended. (The regularized models' file digests changed once
more when `source_scale` entered their configuration, which the file's
config hash covers; their strings did not. Every file digest changed again
when the GDN form entered every configuration, `gdn`; no string did.) The
cases keep the simplified GDN their digests were recorded with; the papers'
full GDN, the default, is pinned by `FULL_GDN_DIGESTS`. Run with
TFC_REPRO_PRINT_DIGESTS=1 to print the current digests.
"""

import functools
import hashlib
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tfc_repro import (container, data, evaluate, latent_coders, savedmodel,
                       systems, tiling)
from conftest import smooth_image, train_args

# Small models of every registered system, one per model kind (the first
# kind of each system is also exported and loaded: test_export_idiom.py).
# The pinned digests were recorded with the simplified GDN, before the
# papers' full GDN became the default: these cases keep it.
SIMPLIFIED = ["--gdn", "simplified"]
CASES = {
    "bls2017": {"": ["--num_filters", "8", *SIMPLIFIED]},
    "bmshj2018": {
        "hyperprior": ["--num_filters", "8", "--num_latents", "12",
                       *SIMPLIFIED],
        "tfc": ["--variant", "tfc", "--num_filters", "8"],
        "factorized": ["--model", "factorized", "--num_filters", "8",
                       "--num_latents", "12", *SIMPLIFIED],
        "meanscale": ["--model", "meanscale", "--num_filters", "8",
                      "--num_latents", "12", *SIMPLIFIED],
    },
    "lee2019": {
        "": ["--num_filters", "8", "--num_latents", "8",
             "--context_filters", "16", *SIMPLIFIED],
        "hybrid": ["--num_filters", "8", "--num_latents", "8",
                   "--num_hybrid_latents", "4", "--context_filters", "16",
                   *SIMPLIFIED],
    },
    "hcae": {
        "": ["--num_filters", "8", "--levels", "3", *SIMPLIFIED],
        "scale": ["--num_filters", "8", "--latent_channels", "2,3",
                  "--prior", "scale", *SIMPLIFIED],
    },
    "regularized": {
        "": ["--num_filters", "8", "--num_latents", "12", *SIMPLIFIED],
        "lee2019": ["--backbone", "lee2019", "--num_filters", "8",
                    "--num_latents", "8", "--context_filters", "16",
                    *SIMPLIFIED],
    },
}
DIGESTS = {
    "bls2017":
        "fb54d219a074f43b1a1276ec6c4dbc8a40945c36b76bf049c2d75c08ec8da8ba",
    "bmshj2018-hyperprior":
        "acc286a3dbd5fba4b256accd9ab8d738dcfb5f990e4a4ace0419c15ae115d406",
    "bmshj2018-tfc":
        "324c21ed3a63c023c2025dea00b8dbcbd75de19c75f32904ac9466209a5ec56b",
    "bmshj2018-factorized":
        "cceff3ee42213243f834327d4cafb820edf4a9c2f65f42cab70865ecab49b7e8",
    "bmshj2018-meanscale":
        "c6d308d1ca9ac9950b9893d717e5d895486a43fa24bc19116ce12a4c7f4bab20",
    "lee2019":
        "40836f0edc829067eb3f00a1be1410f9156a206e2a54fe18a3909ec10da26587",
    "lee2019-hybrid":
        "5f0347a79b2942f161ec14b02afe7ed908ca53a8809f7481d076733611407a25",
    "hcae":
        "7e73a90590daab62349875baffa2d2ba7d9a948bd82c5c6b0dc4782ec4dc8269",
    "hcae-scale":
        "a6f19d020e8a9b5bd82b313a8bd4e1ef7b55a329f47972924b5d82368896fc1d",
    "regularized":
        "15dbd3b374ad85550ea3758db6b1e5d0a455d85119d3f421e645fadae016a105",
    "regularized-lee2019":
        "5daa4a8375e33c30b6d50719821a58a3076923e947c4811b79914300a7a1a833",
}
# The same for the entropy-coded strings and shapes alone (recorded before
# container format 2 added the latent digest; the regularized models write
# exactly their backbone's strings).
PAYLOAD_DIGESTS = {
    "bls2017":
        "baaf5cf4ad87e81f7772deea97cfaf41c7941715d218c0e91b9e2f41337af470",
    "bmshj2018-hyperprior":
        "9b3932b54fd96e000c63235a5e666a68ebe03b1615c97392f596eaff40e86104",
    "bmshj2018-tfc":
        "eb676cbc82f9adc1fe32157d7f1f9d5e67320da3277094968f68d89e442b1e18",
    "bmshj2018-factorized":
        "906d7429ee51c1950a639936a841ceda470037f2cb041e79944d9f9158195caa",
    "bmshj2018-meanscale":
        "f236a61896e3c541aff362e35db5e4404427709d936cee7cdcfab47638d02e87",
    "lee2019":
        "65bd219d1a41fcd0f6bc9c5bda54094ff7ec0f4cdda8ae8c6aab8dda623570e5",
    "lee2019-hybrid":
        "16797958f73d8aba01e7c50d34476acbfad9e2ca9de475ad829af8878314ce2e",
    "hcae":
        "d3dcb54cb9dceb66759af793a0f856f1f7175b6bd56051bd187cffb9236e6071",
    "hcae-scale":
        "249bf8d7e3c1a922312183a0244733564e77285bcc51f80c3ca09de7521cfbfc",
    "regularized":
        "f236a61896e3c541aff362e35db5e4404427709d936cee7cdcfab47638d02e87",
    "regularized-lee2019":
        "65bd219d1a41fcd0f6bc9c5bda54094ff7ec0f4cdda8ae8c6aab8dda623570e5",
}
SEED = 1234


def case_id(name, kind):
  return f"{name}-{kind}" if kind else name


PARAMS = [pytest.param((name, kind), id=case_id(name, kind))
          for name in systems.NAMES for kind in CASES.get(name, {})]


def digest_image():
  return smooth_image(40, 72, seed=11)


def build(name, kind):
  """The fixed model of a case, ready to code."""
  system = systems.system(name)
  args = train_args(system, ["--model_path", "unused", "train",
                             *CASES[name][kind]])
  tf.keras.utils.set_random_seed(SEED)
  model = system.build_model(args)
  model.prepare_for_compression()
  return model


@functools.lru_cache(maxsize=None)
def fixed_codec(name, kind):
  """(model, in-memory codec) of a case, built once per test process for
  the modules that code with it (tests/conftest.py runs a case's tests on
  one process). Tests only code with it; one that would change the model
  builds its own."""
  model = build(name, kind)
  return model, savedmodel.Codec.from_model(model)


@pytest.fixture(scope="module", params=PARAMS)
def codec(request):
  """(case id, system, model, in-memory codec) of one case."""
  name, kind = request.param
  return (case_id(name, kind), systems.system(name), *fixed_codec(name, kind))


def test_fixed_model_writes_the_same_strings(codec):
  """The entropy-coded strings and shapes alone, apart from the container:
  pinned across container format changes."""
  case, _, _, codec = codec
  bitstream = codec.compress(digest_image())
  digest = hashlib.sha256()
  for string in bitstream.strings:
    digest.update(len(string).to_bytes(4, "big") + string)
  for shape in [bitstream.image_shape, *bitstream.latent_shapes]:
    digest.update(repr(tuple(int(d) for d in shape)).encode())
  digest = digest.hexdigest()
  if os.environ.get("TFC_REPRO_PRINT_DIGESTS"):
    print(f"\n    {case!r}: {digest!r},")
  assert digest == PAYLOAD_DIGESTS[case]


def test_fixed_model_writes_the_same_file(codec):
  case, _, _, codec = codec
  digest = hashlib.sha256(
      container.pack(codec.compress(digest_image()))).hexdigest()
  if os.environ.get("TFC_REPRO_PRINT_DIGESTS"):
    print(f"\n    {case!r}: {digest!r},")
  assert digest == DIGESTS[case]


# The first case of each system: one model per system's code.
FIRST_CASES = [pytest.param((name, next(iter(CASES[name]))),
                            id=case_id(name, next(iter(CASES[name]))))
               for name in systems.NAMES]


@pytest.mark.parametrize("codec", FIRST_CASES, indirect=True)
def test_model_id_does_not_depend_on_what_was_built_before(codec):
  """The id in every file is the same whatever the process built earlier
  (Keras numbers unnamed layers process-wide: an id that hashed those names
  would change with the test order)."""
  case, _, _, codec = codec
  import tensorflow_compression as tfc
  tf.keras.layers.Conv2D(3, 3).build((None, None, None, 3))
  tf.keras.layers.Dense(2).build((None, 3))
  tfc.GDN().build((None, None, None, 3))
  name, kind = case.split("-", 1) if "-" in case else (case, "")
  again = savedmodel.Codec.from_model(build(name, kind))
  assert again.model_id == codec.model_id


# The default (full-GDN) model of each case above whose kind is a paper
# variant, pinned the same way: file digest and exact round trip.
FULL_GDN_DIGESTS = {
    "bls2017":
        "65820b2b12163da7e9f0755b640d52d0f7a47561feb3fb6b65125169e464b81a",
    "bmshj2018-hyperprior":
        "6587abe5f1ff699b7825f99ce4e4e69f0633b1814f311baf5b69aba77649d8d3",
    "lee2019":
        "62137372393243888aa51756b3f5200906d71bff2b63e419353c748be85c25e8",
    "hcae":
        "ecb4786e34f65592f525d987e1012b6cb81155464bdea46a0b3a0b9554fa21f5",
    "regularized":
        "3047847273002477b14e118c98202318c85810832deec9528c0fb722c1949230",
}


def full_gdn_params():
  for name in systems.NAMES:
    for kind, argv in CASES.get(name, {}).items():
      if "--variant" not in argv:
        yield pytest.param((name, kind), id=case_id(name, kind))
        break


@pytest.mark.parametrize("case", list(full_gdn_params()))
def test_full_gdn_model_writes_the_same_file_and_round_trips(case):
  name, kind = case
  system = systems.system(name)
  argv = [a for a in CASES[name][kind] if a not in SIMPLIFIED]
  args = train_args(system, ["--model_path", "unused", "train", *argv])
  assert args.gdn == "full"
  tf.keras.utils.set_random_seed(SEED)
  model = system.build_model(args)
  model.prepare_for_compression()
  codec = savedmodel.Codec.from_model(model)
  image = digest_image()
  data = container.pack(codec.compress(image))
  np.testing.assert_array_equal(codec.decompress(container.unpack(data)),
                                model.reconstruct(tf.constant(image)).numpy())
  digest = hashlib.sha256(data).hexdigest()
  if os.environ.get("TFC_REPRO_PRINT_DIGESTS"):
    print(f"\n    {case_id(name, kind)!r}: {digest!r},")
  assert digest == FULL_GDN_DIGESTS[case_id(name, kind)]


def test_every_registered_system_has_contract_cases():
  assert sorted(CASES) == sorted(systems.NAMES)


@pytest.mark.parametrize("shape", [(1, 1), (17, 33), (3, 4000)])
def test_round_trip_is_exact_on_any_size(codec, shape):
  _, _, model, loaded = codec
  image = smooth_image(*shape, seed=3)
  data = container.pack(loaded.compress(image))
  decoded = loaded.decompress(container.unpack(data))
  assert decoded.shape == image.shape and decoded.dtype == np.uint8
  np.testing.assert_array_equal(
      decoded, model.reconstruct(tf.constant(image)).numpy())


def test_tiled_coding_is_the_untiled_coding(codec):
  """Large images are coded tile by tile (tiling.py): with tiles much
  smaller than the image, the file and the decoded image are the ones that
  the whole image in one tile gives."""
  case, _, model, loaded = codec
  if model.tile is None:
    pytest.skip(f"{case} codes whole images, untiled (its tile is None)")
  image = smooth_image(150, 290, seed=6)
  untiled = loaded.compress(image)
  model.tile = 64
  try:
    model._retrace_functions()  # pylint: disable=protected-access
    tiled = savedmodel.Codec.from_model(model)
    bitstream = tiled.compress(image)
    decoded = tiled.decompress(bitstream)
  finally:
    model.tile = tiling.TILE
    model._retrace_functions()  # pylint: disable=protected-access
  assert max(image.shape) > 4 * 64
  assert bitstream.strings == untiled.strings
  np.testing.assert_array_equal(decoded, loaded.decompress(untiled))


def test_one_string_per_latent_and_bits_match_the_estimate(codec):
  _, system, model, loaded = codec
  assert loaded.latents == tuple(model.latent_names)
  assert loaded.metadata["system"] == system.name
  image = smooth_image(96, 160, seed=4)
  bitstream = loaded.compress(image)
  assert len(bitstream.strings) == len(model.latent_names)
  assert len(bitstream.latent_shapes) == len(model.coded_shape_names)
  estimate = loaded.estimate_bits(image)
  assert list(estimate) == list(model.latent_names)
  for name, string in zip(model.latent_names, bitstream.strings):
    assert abs(8 * len(string) - estimate[name]) <= (
        0.01 * estimate[name] + 64), name
  # The per-latent strings make up the payload; the container adds little.
  payload = sum(len(s) for s in bitstream.strings)
  assert payload == bitstream.payload_bytes
  assert len(container.pack(bitstream)) - payload < 64


def test_evaluation_has_a_rate_column_per_latent(codec, tmp_path):
  _, _, model, loaded = codec
  path = tmp_path / "img.png"
  data.write_png(str(path), smooth_image(40, 56, seed=5))
  document = evaluate.evaluate_models([loaded], [str(path)],
                                      str(tmp_path / "r.json"))
  row = document["points"][0]["per_image"][0]
  total = sum(row[f"bpp-{name}"] for name in model.latent_names)
  np.testing.assert_allclose(total, row["bpp-payload"], rtol=1e-9)


def test_a_file_of_another_model_is_refused_with_one_line(codec):
  _, system, _, loaded = codec
  bitstream = loaded.compress(smooth_image(16, 16))
  other = container.unpack(container.pack(bitstream))
  other.model_id = bytes(8)
  with pytest.raises(container.ContainerError,
                     match=f"different {system.name} model"):
    loaded.decompress(other)
  other.config_hash = bytes(8)
  with pytest.raises(container.ContainerError, match="another configuration"):
    loaded.decompress(other)
  fewer = container.unpack(container.pack(bitstream))
  fewer.strings = fewer.strings[:-1]
  with pytest.raises(container.ContainerError, match="coded latents"):
    loaded.decompress(fewer)


class _Refusing:
  """Stands in for the coding module: any decoding attempt fails the test."""

  def __init__(self, module):
    self._module = module

  def __getattr__(self, name):
    if name == "decompress":
      raise AssertionError("decompress ran on a file the header check "
                           "should have refused")
    return getattr(self._module, name)


def test_crafted_headers_are_refused_before_decoding(codec):
  _, _, _, loaded = codec
  good = loaded.compress(smooth_image(40, 72, seed=2))
  shapes = list(good.latent_shapes)

  def refused(match, **fields):
    crafted = container.unpack(container.pack(good))
    for key, value in fields.items():
      setattr(crafted, key, value)
    # Through the container (valid CRC), as an attacker's file would come.
    crafted = container.unpack(container.pack(crafted))
    module, loaded._module = loaded._module, _Refusing(loaded._module)
    try:
      with pytest.raises(container.ContainerError, match=match):
        loaded.decompress(crafted)
    finally:
      loaded._module = module

  refused("does not match the image",
          latent_shapes=[(1000, 1000)] * len(shapes))
  # (above hcae's own size limit: refused for that first)
  refused("does not match the image|above the limit",
          image_shape=(4096, 4096))
  refused("does not match the image", image_shape=(40 + 64, 72))
  refused("does not match the image", latent_shapes=[(s[1], s[0])
                                                     for s in shapes])
  refused("does not match the image",
          latent_shapes=[tuple(s) + (1,) for s in shapes])
  refused("latent shapes", latent_shapes=shapes + [shapes[-1]])
  refused("latent shapes", latent_shapes=shapes[:-1])
  refused("empty image", image_shape=(0, 72))
  refused("above the limit", image_shape=(1 << 16, 1 << 16),
          latent_shapes=savedmodel.expected_latent_shapes(
              (1 << 16, 1 << 16), loaded.stride, loaded.shape_strides))


def test_an_image_shape_altered_within_the_padding_is_refused(codec):
  """Image sizes that pad to the same size share their latent shapes: a
  header whose image shape was changed within that range (a crop, or
  padding pixels shown as image) is refused by the latent digest, which
  covers the image shape, instead of decoding into an image nobody sent."""
  _, _, _, loaded = codec
  good = loaded.compress(smooth_image(40, 72, seed=2))
  checked = 0
  step = loaded.stride - 1
  for shape in ((40, 71), (39, 72), (40, 72 - step), (40 - step, 72)):
    crafted = container.unpack(container.pack(good))
    crafted.image_shape = shape
    if (savedmodel.expected_latent_shapes(shape, loaded.stride,
                                          loaded.shape_strides) !=
        savedmodel.expected_latent_shapes((40, 72), loaded.stride,
                                          loaded.shape_strides)):
      continue  # refused by the header check (tested above)
    with pytest.raises(container.ContainerError, match="latent digest"):
      loaded.decompress(container.unpack(container.pack(crafted)))
    checked += 1
  assert checked >= 2


def test_extended_strings_are_refused(codec):
  _, _, _, loaded = codec
  good = loaded.compress(smooth_image(40, 72, seed=2))
  names = loaded.latents
  for i, name in enumerate(names):
    string = good.strings[i]
    for changed in (string + b"\0", string + b"\xff", string + string):
      crafted = container.unpack(container.pack(good))
      crafted.strings[i] = changed
      with pytest.raises(container.ContainerError,
                         match=f"latent '{name}' is not what"):
        loaded.decompress(crafted)


def test_truncated_strings_are_refused(codec):
  """A string cut short decodes (TFC's range decoder reads zeros past its
  end) but not into the encoder's latents: the latent digest refuses it."""
  _, _, _, loaded = codec
  good = loaded.compress(smooth_image(40, 72, seed=2))
  for i, string in enumerate(good.strings):
    for length in sorted({0, len(string) // 2, len(string) - 1}):
      if length >= len(string):
        continue
      crafted = container.unpack(container.pack(good))
      crafted.strings[i] = string[:length]
      with pytest.raises(container.ContainerError,
                         match="(latents are not the encoder's|is not what)"):
        loaded.decompress(crafted)


def test_a_decoder_with_other_tables_refuses(codec):
  """Tables that differ from the encoder's (here every table's symbol
  offset moved by one: each string still decodes, and codes back to itself,
  into other symbols) give another latent digest, not an image."""
  case, _, model, loaded = codec
  image = smooth_image(40, 72, seed=2)
  good = loaded.compress(image)
  offsets = [v for v in model.variables if v.name.endswith("cdf_offset:0")]
  if not offsets:  # tables built as graph constants (lee2019's ŷ grid)
    offsets = [v for v in loaded._module.weights  # pylint: disable=protected-access
               if "cdf_offset" in v.name]
  assert offsets, case
  for variable in offsets:
    variable.assign_add(tf.ones_like(variable))
  try:
    with pytest.raises(container.ContainerError,
                       match="(latents are not the encoder's|is not what)"):
      loaded.decompress(good)
  finally:
    for variable in offsets:
      variable.assign_sub(tf.ones_like(variable))
  np.testing.assert_array_equal(loaded.decompress(good),
                                model.reconstruct(image))


# A file found by bench/fuzz.py (a payload byte of the hcae case's file
# altered, CRC recomputed) on which TFC's range decoder, given the string
# alone, never stops: an overflow escape decoded at the end of a string
# starts an Elias-gamma prefix that counts the zeros the decoder reads past
# the end, forever.
DECODER_LOOP_FILE = os.path.join(os.path.dirname(__file__), "data",
                                 "hcae-range-decoder-loop.tfci")
_DECODER_LOOP_SCRIPT = """
import dataclasses, sys, time
sys.path.insert(0, sys.argv[1])
import test_contract
from tfc_repro import container, latent_coders, savedmodel
savedmodel.DECODE_SECONDS, savedmodel.DECODE_SECONDS_PER_PIXEL = 2., 0.

def attempt(codec, bitstream, label):
  start = time.perf_counter()
  try:
    codec.decompress(bitstream)
    print(label, "decoded")
  except container.ContainerError as e:
    print(label, f"{time.perf_counter() - start:.1f} {e}")

def looping_file(codec):
  # The strings are what loops; the header takes the fixed model's ids as
  # they are today (they change with its configuration).
  return dataclasses.replace(container.read(sys.argv[2], 1 << 20),
                             config_hash=codec.config_hash,
                             model_id=codec.model_id)

codec = savedmodel.Codec.from_model(test_contract.build("hcae", ""))
attempt(codec, looping_file(codec), "guarded:")
# The same model whose decoders read the strings without their guard: TFC's
# decoder loops, and only the time limit stops it.
latent_coders.guarded = lambda string, symbols: string
codec = savedmodel.Codec.from_model(test_contract.build("hcae", ""))
bitstream = looping_file(codec)
attempt(codec, bitstream, "unguarded:")
attempt(codec, bitstream, "then:")  # the abandoned decode holds TF's threads
"""


def test_a_file_on_which_tfcs_decoder_loops_is_refused_and_the_limit_holds():
  """With its guard the decoder refuses the file at once; without it
  (TFC's decoder on the string alone) the decode is given up at the time
  limit. In a process of its own: the abandoned decode keeps a core busy
  until its process exits."""
  tests = os.path.dirname(os.path.abspath(__file__))
  run = subprocess.run(
      [sys.executable, "-c", _DECODER_LOOP_SCRIPT, tests, DECODER_LOOP_FILE],
      capture_output=True, text=True, timeout=300, cwd=tests,
      env=dict(os.environ, PYTHONPATH=os.path.dirname(tests)))
  assert run.returncode == 0, run.stderr[-2000:]
  lines = dict(line.split(" ", 1) for line in run.stdout.strip().splitlines()
               if line.split(" ", 1)[0] in ("guarded:", "unguarded:",
                                            "then:"))
  assert set(lines) == {"guarded:", "unguarded:", "then:"}, run.stdout
  assert "decoded" not in lines.values(), lines
  seconds, message = lines["guarded:"].split(" ", 1)
  assert "did not finish" not in message and float(seconds) < 2, message
  assert "is not what this model writes" in message or (
      "latents are not the encoder's" in message), message
  seconds, message = lines["unguarded:"].split(" ", 1)
  assert "did not finish within 2 s" in message
  assert 2 <= float(seconds) < 10
  assert lines["then:"].split(" ", 1)[1].startswith(
      "an earlier decode of altered data is still running in this process")


def escape_strings(coder, length):
  """Strings of `length` bytes (at least 8) on which TFC's range coder,
  given them alone, does not stop: the first symbol decodes to the overflow
  escape of its table, exactly at the escape interval's lower end. With
  nothing but zeros after it, the escape's Elias-gamma prefix never ends;
  with a one bit k bits further, the prefix ends after about
  32 + k + log2(w) zeros (w the escape interval's probability), which for
  k around −1 − log2(w) decodes a value of about 2^31 that TFC's encoder, in
  the recode check, codes forever. `coder` codes its latent with one table
  per channel (a factorized prior), channel 0 first."""
  cdf = coder.tables.coding.cdf.numpy()
  precision = -int(cdf[0])  # negative: overflow coding on
  row = [int(c) for c in cdf[1:]]
  escape_lower = row[row.index(1 << precision) - 1]
  head = (escape_lower << (32 - precision)).to_bytes(4, "big")
  strings = [head + bytes(length - 4)]
  width = ((1 << precision) - escape_lower) / (1 << precision)
  k = int(np.floor(-1 - np.log2(width)))
  for bit in (k - 1, k, k + 1):
    tail = bytearray(length - 4)
    tail[bit // 8] |= 0x80 >> (bit % 8)
    strings.append(head + bytes(tail))
  return strings


def test_strings_crafted_to_hang_tfcs_range_coder_are_refused_at_once(
    codec, monkeypatch):
  """Strings that send TFC's range decoder into an endless overflow prefix,
  or make it decode a value its encoder then codes forever, as the string
  of the first latent decoded, are refused in well under the time limit
  (cut to 5 s here, so that a decoder without its guards fails this test
  quickly)."""
  _, _, model, loaded = codec
  monkeypatch.setattr(savedmodel, "DECODE_SECONDS", 5.)
  monkeypatch.setattr(savedmodel, "DECODE_SECONDS_PER_PIXEL", 0.)
  good = loaded.compress(smooth_image(40, 72, seed=2))
  factorized = [coder for coder in model.coders.values()
                if isinstance(coder, latent_coders.FactorizedCoder)]
  assert factorized
  for coder in factorized:
    i = loaded.latents.index(coder.name)
    for string in escape_strings(coder, max(16, len(good.strings[i]))):
      crafted = container.unpack(container.pack(good))
      crafted.strings[i] = string
      start = time.perf_counter()
      with pytest.raises(container.ContainerError,
                         match="is not what this model writes|latents are "
                               "not the encoder's"):
        loaded.decompress(crafted)
      assert time.perf_counter() - start < 5
