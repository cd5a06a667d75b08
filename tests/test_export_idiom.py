"""TFC's idiom on every exported model: `m = tf.saved_model.load(path)`, then
`x_hat, digest = m.decompress(*m.compress(x))`.

`decompress` takes the strings and shapes that `compress` returns, and
optionally its last output, the latent digest, which it then checks: a
wrong digest fails instead of giving an image. The call without the digest
(what `LoadedModel` makes, and all that models exported before took) works
as before, and such older models load and code as they did; the exported
model writes the files of the model it was exported from. Checked with
the contract suite's fixed models: the first kind of every registered
system, and lee2019's hybrid model.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfc_repro import container, model as model_lib, savedmodel, systems
from conftest import smooth_image
from test_contract import CASES, case_id, fixed_codec


def _case(name, kind):
  return pytest.param((name, kind), id=case_id(name, kind))


def export_cases():
  """The exported cases: the first kind of every registered system, and
  lee2019's hybrid model."""
  for name in systems.NAMES:
    for kind in CASES[name]:
      if kind == next(iter(CASES[name])) or (name, kind) == ("lee2019",
                                                             "hybrid"):
        yield _case(name, kind)


LEE2019_HYBRID = _case("lee2019", "hybrid")


_EXPORTED = {}


def exported_case(name, kind, tmp_path_factory):
  """(case id, model, `LoadedModel`, `tf.saved_model.load`) of the contract
  case `kind` of system `name`, exported once per test process (a test of
  another module that takes it runs in the case's group: tests/conftest.py)."""
  if (name, kind) not in _EXPORTED:
    model, _ = fixed_codec(name, kind)
    path = str(tmp_path_factory.mktemp("idiom") / "model")
    savedmodel.export(model, path)
    _EXPORTED[name, kind] = (case_id(name, kind), model,
                             savedmodel.LoadedModel(path),
                             tf.saved_model.load(path))
  return _EXPORTED[name, kind]


@pytest.fixture(scope="module", params=list(export_cases()))
def exported(request, tmp_path_factory):
  """`exported_case` of each case (the tests below that take one case ask
  for it again)."""
  return exported_case(*request.param, tmp_path_factory)


def test_the_export_writes_the_same_files_as_the_model(exported):
  case, model, loaded, _ = exported
  name, _, kind = case.partition("-")
  codec = fixed_codec(name, kind)[1]
  assert loaded.metadata["system"] == name
  assert loaded.latents == codec.latents == tuple(model.latent_names)
  image = smooth_image(33, 47, seed=8)
  data_loaded = container.pack(loaded.compress(image))
  assert data_loaded == container.pack(codec.compress(image))
  np.testing.assert_array_equal(
      loaded.decompress(container.unpack(data_loaded)),
      model.reconstruct(tf.constant(image)).numpy())


def test_decompress_of_compress_gives_the_codecs_image(exported):
  _, _, codec, loaded = exported
  image = smooth_image(40, 72, seed=2)
  outputs = loaded.compress(image)
  x_hat, digest = loaded.decompress(*outputs)
  bitstream = codec.compress(image)
  np.testing.assert_array_equal(x_hat.numpy(), codec.decompress(bitstream))
  assert digest.numpy().tobytes() == bitstream.digest
  assert outputs[-1].numpy().tobytes() == bitstream.digest


def test_the_call_without_the_digest_still_works(exported):
  _, _, codec, loaded = exported
  image = smooth_image(33, 47, seed=8)
  outputs = loaded.compress(image)
  x_hat, digest = loaded.decompress(*outputs[:-1])
  np.testing.assert_array_equal(x_hat.numpy(),
                                codec.decompress(codec.compress(image)))
  assert digest.numpy().tobytes() == outputs[-1].numpy().tobytes()


def test_the_fields_of_a_file_decode_with_its_digest(exported):
  """The strings, shapes and digest of a file, as Python bytes and NumPy
  arrays, are converted as the signatures say."""
  _, _, codec, loaded = exported
  image = smooth_image(40, 72, seed=5)
  bitstream = container.unpack(container.pack(codec.compress(image)))
  x_hat, _ = loaded.decompress(
      *bitstream.strings, np.array(bitstream.image_shape, np.int32),
      *[np.array(s, np.int32) for s in bitstream.latent_shapes],
      np.frombuffer(bitstream.digest, np.uint8))
  np.testing.assert_array_equal(x_hat.numpy(), codec.decompress(bitstream))


def test_a_wrong_digest_is_refused(exported):
  _, _, _, loaded = exported
  outputs = loaded.compress(smooth_image(40, 72, seed=2))
  digest = outputs[-1].numpy()
  other = loaded.compress(smooth_image(40, 72, seed=9))[-1].numpy()
  assert other.tobytes() != digest.tobytes()
  for wrong in (digest ^ np.uint8(1), other, np.zeros_like(digest)):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="latent digest mismatch"):
      loaded.decompress(*outputs[:-1], tf.constant(wrong))


def test_the_model_in_memory_takes_the_idiom_too(exported):
  _, model, codec, _ = exported
  image = smooth_image(40, 72, seed=2)
  outputs = model.compress(image)
  x_hat, _ = model.decompress(*outputs)
  np.testing.assert_array_equal(x_hat.numpy(),
                                codec.decompress(codec.compress(image)))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="latent digest mismatch"):
    model.decompress(*outputs[:-1],
                     tf.constant(outputs[-1].numpy() ^ np.uint8(1)))


def test_decompress_is_traced_for_two_signatures(exported):
  _, model, _, loaded = exported
  plain, checked = model.coding_signatures("decompress")
  assert checked == (*plain, tf.TensorSpec((model_lib.DIGEST_BYTES,),
                                           tf.uint8))
  # Without the digest first: what a model exported before had alone.
  assert [len(c.structured_input_signature[0])
          for c in loaded.decompress.concrete_functions] == [len(plain),
                                                             len(checked)]
  with pytest.raises(TypeError):
    model.decompress(*model.compress(smooth_image(16, 16))[:-2])


@pytest.mark.parametrize("exported", [LEE2019_HYBRID], indirect=True)
def test_lee2019_reference_functions_take_the_idiom(exported):
  """compress_reference / decompress_reference (not exported) are made the
  same way."""
  _, model, _, _ = exported
  image = smooth_image(40, 48, seed=7)
  outputs = model.compress_reference(image)
  x_hat, _ = model.decompress_reference(*outputs)
  np.testing.assert_array_equal(x_hat.numpy(),
                                model.decompress(*model.compress(image))[0])


def older_export(model, path):
  """Writes `model` as exports did before `decompress` took the digest:
  `decompress` with its one input signature, without the digest."""
  module, _ = savedmodel.coding_module(model)
  plain = model.coding_signatures("decompress")[0]
  module.decompress = tf.function(model.decompress.python_function,
                                  input_signature=plain)
  tf.saved_model.save(module, path)


# The cases also exported as before (one with one latent, one with three).
OLDER_EXPORTS = [_case("bls2017", next(iter(CASES["bls2017"]))),
                 LEE2019_HYBRID]


@pytest.mark.parametrize("exported", OLDER_EXPORTS, indirect=True)
def test_a_model_exported_before_loads_and_codes_as_before(exported,
                                                           tmp_path):
  _, model, new, _ = exported
  older_export(model, str(tmp_path / "old"))
  old = savedmodel.LoadedModel(str(tmp_path / "old"))
  assert old.metadata["model_id"] == new.metadata["model_id"]
  assert old.bound.latents == new.bound.latents
  image = smooth_image(40, 72, seed=2)
  data = container.pack(old.compress(image))
  assert data == container.pack(new.compress(image))
  np.testing.assert_array_equal(old.decompress(container.unpack(data)),
                                new.decompress(container.unpack(data)))
  # Its SavedModel takes the call without the digest only.
  loaded = old._module  # pylint: disable=protected-access
  assert len(loaded.decompress.concrete_functions) == 1
  outputs = loaded.compress(image)
  np.testing.assert_array_equal(loaded.decompress(*outputs[:-1])[0].numpy(),
                                new.decompress(container.unpack(data)))
  with pytest.raises((TypeError, ValueError)):
    loaded.decompress(*outputs)
