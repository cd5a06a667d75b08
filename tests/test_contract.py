"""The contract every registered system keeps, checked the same way for all.

A system declares its latents (`latent_names`, `shape_names`); from that the
engine makes the coding signatures, the export, the bitstream and the
evaluation columns. These tests run each registered system (in each of its
model kinds) through that chain with a small untrained model from a fixed
seed: exact round trips on awkward sizes, files that match the model's
estimate, one string per latent, per-latent evaluation columns, files of
another model refused with one line, an export that writes the same files as
the model, and files that stay the same byte for byte.

`DIGESTS` pins the SHA-256 of the file each fixed model writes for a fixed
image. The digests of bls2017, bmshj2018 and lee2019 were recorded with the
code before the engine derived the coding signatures from `latent_names`
(commit 85fca74, through a SavedModel export), those of later systems when
they were added (the regularized ones again when its configuration gained
`source_filters`, which its files' configuration hash covers); they must not
change unless a format change is intended. Run with TFC_REPRO_PRINT_DIGESTS=1 to print the
current digests.
"""

import hashlib
import os

import numpy as np
import pytest
import tensorflow as tf

from tfc_repro import container, data, evaluate, savedmodel, systems
from conftest import smooth_image, train_args

# Small models of every registered system, one per model kind; the first
# kind of each system is also exported and loaded.
CASES = {
    "bls2017": {"": ["--num_filters", "8"]},
    "bmshj2018": {
        "hyperprior": ["--num_filters", "8", "--num_latents", "12"],
        "tfc": ["--variant", "tfc", "--num_filters", "8"],
        "factorized": ["--model", "factorized", "--num_filters", "8",
                       "--num_latents", "12"],
        "meanscale": ["--model", "meanscale", "--num_filters", "8",
                      "--num_latents", "12"],
    },
    "lee2019": {
        "": ["--num_filters", "8", "--num_latents", "8",
             "--context_filters", "16"],
        "hybrid": ["--num_filters", "8", "--num_latents", "8",
                   "--num_hybrid_latents", "4", "--context_filters", "16"],
    },
    "hcae": {
        "": ["--num_filters", "8", "--levels", "3"],
        "scale": ["--num_filters", "8", "--latent_channels", "2,3",
                  "--prior", "scale"],
    },
    "regularized": {
        "": ["--num_filters", "8", "--num_latents", "12"],
        "lee2019": ["--backbone", "lee2019", "--num_filters", "8",
                    "--num_latents", "8", "--context_filters", "16"],
    },
}
DIGESTS = {
    "bls2017":
        "7cf49aefa9fee42af57514b9362afb1394204bb30d11533ecc5dfd85ea0a48f1",
    "bmshj2018-hyperprior":
        "dddbf6266b74f7341f9b49081db9fb1c2e4c9b8ef5edcc907a4ff957c4955654",
    "bmshj2018-tfc":
        "ac7bd44e607eff7a29e4e20cc55e2a04cd3e14e765451ff0c7a8a52d203621d8",
    "bmshj2018-factorized":
        "0f57ef22849586a1c01ac34b74b8084cfb482580b5364369a471694627fc4ad7",
    "lee2019":
        "ea7bcc913aa1a6e7aedac4a4c67b91daa2befeb3724c027f5c00dc3efab61915",
    "lee2019-hybrid":
        "4b2524e6e80cc0752103d60f1593ca088985742891493d03d700377bbf78c244",
    "hcae":
        "b6a8a1cb2ca8696d61d761f8b39d4ed15369a83725a791fdfdd30c743f6fd6ef",
    "hcae-scale":
        "c600a0fdf8284617ac8815cb0b46409ad026c92f47f522e1135040872f51b950",
    "bmshj2018-meanscale":
        "f47c05d9ab181852d287768c9d98cdb875dd94966a6a4a7921c1eb640bc55a99",
    "regularized":
        "2cae1f801ec44c7a295f7ec0dff5ea699da5ba3391f8c14e373091161cfd43bd",
    "regularized-lee2019":
        "6256ae8bc9514db34ad7313142cb48c25542b618fbacc3f88eb1a15880aa1956",
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


@pytest.fixture(scope="module", params=PARAMS)
def codec(request):
  """(case id, system, model, in-memory codec) of one case."""
  name, kind = request.param
  model = build(name, kind)
  return (case_id(name, kind), systems.system(name), model,
          savedmodel.Codec.from_model(model))


def test_fixed_model_writes_the_same_file(codec):
  case, _, _, codec = codec
  digest = hashlib.sha256(
      container.pack(codec.compress(digest_image()))).hexdigest()
  if os.environ.get("TFC_REPRO_PRINT_DIGESTS"):
    print(f"\n    {case!r}: {digest!r},")
  assert digest == DIGESTS[case]


@pytest.mark.parametrize("name", systems.NAMES)
def test_export_writes_the_same_files_as_the_model(name, tmp_path):
  system = systems.system(name)
  model = build(name, next(iter(CASES[name])))
  codec = savedmodel.Codec.from_model(model)
  savedmodel.export(model, str(tmp_path / "model"))
  loaded = savedmodel.LoadedModel(str(tmp_path / "model"))
  assert loaded.metadata["system"] == system.name
  assert loaded.latents == codec.latents == tuple(model.latent_names)
  image = smooth_image(33, 47, seed=8)
  data_loaded = container.pack(loaded.compress(image))
  assert data_loaded == container.pack(codec.compress(image))
  np.testing.assert_array_equal(
      loaded.decompress(container.unpack(data_loaded)),
      model.reconstruct(tf.constant(image)).numpy())


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
  refused("does not match the image", image_shape=(4096, 4096))
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
                         match=f"(latent '{name}' is not what|range decoder "
                               "rejects)"):
        loaded.decompress(crafted)
