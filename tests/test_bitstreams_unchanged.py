"""Fixed models of the landed systems write the same files, byte for byte.

Each case builds a small untrained model from a fixed seed, exports it and
compresses a fixed image; the SHA-256 of the whole file (container, model id,
strings) was recorded with the code before the shared engine learned to
derive the coding signatures from `latent_names` (before hcae). A change to
the engine that alters any system's files, weights' names or coding fails
here. Run with TFC_REPRO_PRINT_DIGESTS=1 to print the current digests.
"""

import hashlib
import os

import pytest
import tensorflow as tf

from tfc_repro import bls2017, bmshj2018, container, lee2019, savedmodel
from conftest import smooth_image, train_args

CASES = {
    "bls2017": (bls2017.SYSTEM, ["--num_filters", "8"]),
    "bmshj2018-hyperprior": (bmshj2018.SYSTEM, [
        "--num_filters", "8", "--num_latents", "12"]),
    "bmshj2018-tfc": (bmshj2018.SYSTEM, [
        "--variant", "tfc", "--num_filters", "8"]),
    "bmshj2018-factorized": (bmshj2018.SYSTEM, [
        "--model", "factorized", "--num_filters", "8", "--num_latents", "12"]),
    "lee2019": (lee2019.SYSTEM, [
        "--num_filters", "8", "--num_latents", "8", "--context_filters", "16"]),
    "lee2019-hybrid": (lee2019.SYSTEM, [
        "--num_filters", "8", "--num_latents", "8", "--num_hybrid_latents",
        "4", "--context_filters", "16"]),
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
}


def file_digest(system, flags, path):
  """SHA-256 of the file a seeded, exported model writes for a fixed image."""
  args = train_args(system, ["--model_path", path, "train", *flags])
  tf.keras.utils.set_random_seed(1234)
  model = system.build_model(args)
  model.prepare_for_compression()
  savedmodel.export(model, path)
  loaded = savedmodel.LoadedModel(path)
  image = smooth_image(40, 72, seed=11)
  data = container.pack(loaded.compress(image))
  return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("case", sorted(CASES))
def test_fixed_model_writes_the_same_file(case, tmp_path):
  system, flags = CASES[case]
  digest = file_digest(system, flags, str(tmp_path / case))
  if os.environ.get("TFC_REPRO_PRINT_DIGESTS"):
    print(f"\n    {case!r}: {digest!r},")
  assert digest == DIGESTS[case]
