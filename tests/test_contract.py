"""The contract every registered system keeps, checked the same way for all.

A system declares its latents (`latent_names`, `shape_names`); from that the
engine makes the coding signatures, the export, the bitstream and the
evaluation columns. These tests run each registered system (in each of its
model kinds) through that chain with a small untrained model from a fixed
seed: exact round trips on awkward sizes, files that match the model's
estimate, one string per latent, per-latent evaluation columns, and files
of another model refused with one line.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfc_repro import container, evaluate, savedmodel, systems
from conftest import smooth_image, train_args

# Small models of every registered system, one per model kind.
CASES = {
    "bls2017": {"": ["--num_filters", "8"]},
    "bmshj2018": {
        "hyperprior": ["--num_filters", "8", "--num_latents", "12"],
        "factorized": ["--model", "factorized", "--num_filters", "8",
                       "--num_latents", "12"],
    },
    "lee2019": {
        "base": ["--num_filters", "8", "--num_latents", "8",
                 "--context_filters", "16"],
        "hybrid": ["--num_filters", "8", "--num_latents", "8",
                   "--num_hybrid_latents", "4", "--context_filters", "16"],
    },
    "hcae": {
        "meanscale": ["--num_filters", "8", "--levels", "3"],
        "scale": ["--num_filters", "8", "--latent_channels", "2,3",
                  "--prior", "scale"],
    },
}
PARAMS = [pytest.param(name, kind, id=f"{name}-{kind}" if kind else name)
          for name in systems.NAMES for kind in CASES.get(name, {})]


def test_every_registered_system_has_contract_cases():
  assert sorted(CASES) == sorted(systems.NAMES)


@pytest.fixture(scope="module", params=PARAMS)
def exported(request, tmp_path_factory):
  """(system, in-memory model as exported, LoadedModel) of one case."""
  name, kind = request.param
  system = systems.system(name)
  path = str(tmp_path_factory.mktemp("contract") / f"{name}-{kind}")
  args = train_args(system, ["--model_path", path, "train",
                             *CASES[name][kind]])
  tf.keras.utils.set_random_seed(7)
  model = system.build_model(args)
  model.prepare_for_compression()
  savedmodel.export(model, path)
  return system, model, savedmodel.LoadedModel(path)


@pytest.mark.parametrize("shape", [(1, 1), (17, 33), (3, 4000)])
def test_round_trip_is_exact_on_any_size(exported, shape):
  _, model, loaded = exported
  image = smooth_image(*shape, seed=3)
  data = container.pack(loaded.compress(image))
  decoded = loaded.decompress(container.unpack(data))
  assert decoded.shape == image.shape and decoded.dtype == np.uint8
  np.testing.assert_array_equal(
      decoded, model.reconstruct(tf.constant(image)).numpy())


def test_one_string_per_latent_and_bits_match_the_estimate(exported):
  system, model, loaded = exported
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


def test_evaluation_has_a_rate_column_per_latent(exported, tmp_path):
  _, model, loaded = exported
  path = tmp_path / "img.png"
  from tfc_repro import data
  data.write_png(str(path), smooth_image(40, 56, seed=5))
  document = evaluate.evaluate_models([loaded], [str(path)],
                                      str(tmp_path / "r.json"))
  row = document["points"][0]["per_image"][0] if "points" in document else (
      None)
  if row is None:
    import json
    row = json.load(open(tmp_path / "r.json"))["points"][0]["per_image"][0]
  total = sum(row[f"bpp-{name}"] for name in model.latent_names)
  np.testing.assert_allclose(total, row["bpp-payload"], rtol=1e-9)


def test_a_file_of_another_model_is_refused_with_one_line(exported):
  system, _, loaded = exported
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
  for error in (container.ContainerError,):
    assert "\n" not in str(error("x"))
