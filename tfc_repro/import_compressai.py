"""CompressAI's published models as tfc-repro models.

    python -m tfc_repro.import_compressai bmshj2018-hyperprior-3-6d87be32.pth.tar hp-3
    python -m tfc_repro.bmshj2018 --model_path hp-3 compress photo.png photo.tfci
    python -m tfc_repro.bmshj2018 --model_path hp-3 evaluate --images kodak --output hp-3.json

Reads a CompressAI state dict and writes a tfc-repro SavedModel of the
matching bmshj2018 model (`--variant paper`, `--gdn full`), which compresses,
decompresses and evaluates like any other: bmshj2018-factorized ->
`--model factorized`, bmshj2018-hyperprior -> `--model hyperprior`,
mbt2018-mean -> `--model meanscale`.

The state dict is a file of CompressAI's model zoo (`.pth.tar`; reading it
needs PyTorch; `--url` prints its address) or an `.npz` of the same keys,
which needs no PyTorch:

    python -c "import sys, torch, numpy; d = torch.load(sys.argv[1], 'cpu'); \\
        numpy.savez(sys.argv[2], **{k: v.numpy() for k, v in d.items()})" \\
        IN.pth.tar OUT.npz

The architecture, quality (1-8) and metric come from a zoo file's name (e.g.
bmshj2018-hyperprior-ms-ssim-3-92dd7878.pth.tar, whose SHA-256 is checked) or
from the flags; the quality fixes N and M as CompressAI's zoo does (and λ,
kept as metadata).

The imported model computes what CompressAI's does: its transforms, its
4-layer factorized density (filters 3,3,3,3), quantization around its stored
medians, its tables' ranges (the stored quantiles, tail mass 1e-9), σ coded
with the smallest entry ≥ σ of its scale table, 16-bit coding tables, and
likelihoods bounded below at 1e-9 in the estimated rate. Its latents are
CompressAI's up to float rounding (a value within about 1e-5 of a rounding
boundary can round the other way) and its files are within a fraction of a
percent of the size of CompressAI's. They are TFC range-coder files, not
CompressAI's rANS strings: the tables are computed by TFC from the weights
(the state dict's CDF buffers are not used). Images whose sides are not
multiples of 64 (16 for bmshj2018-factorized) are padded by repeating their
edges, where CompressAI's evaluation pads with zeros around the image.
"""

import argparse
import math
import os
import re
import sys
import zipfile
import zlib

import numpy as np

from tfc_repro import argutil
from tfc_repro import data

# The architectures, as CompressAI's zoo names them, and the bmshj2018 model
# (`--model`) of each.
ARCHITECTURES = {
    "bmshj2018-factorized": "factorized",
    "bmshj2018-hyperprior": "hyperprior",
    "mbt2018-mean": "meanscale",
}
METRICS = ("mse", "ms-ssim")
QUALITIES = range(1, 9)

# CompressAI's model zoo: the address of its files and, per architecture,
# metric and quality, each file's name (compressai/zoo/image.py).
ZOO_URL = "https://compressai.s3.amazonaws.com/models/v1/"
ZOO_FILES = {
    ("bmshj2018-factorized", "mse"): (
        "bmshj2018-factorized-prior-1-446d5c7f.pth.tar",
        "bmshj2018-factorized-prior-2-87279a02.pth.tar",
        "bmshj2018-factorized-prior-3-5c6f152b.pth.tar",
        "bmshj2018-factorized-prior-4-1ed4405a.pth.tar",
        "bmshj2018-factorized-prior-5-866ba797.pth.tar",
        "bmshj2018-factorized-prior-6-9b02ea3a.pth.tar",
        "bmshj2018-factorized-prior-7-6dfd6734.pth.tar",
        "bmshj2018-factorized-prior-8-5232faa3.pth.tar"),
    ("bmshj2018-factorized", "ms-ssim"): (
        "bmshj2018-factorized-ms-ssim-1-9781d705.pth.tar",
        "bmshj2018-factorized-ms-ssim-2-4a584386.pth.tar",
        "bmshj2018-factorized-ms-ssim-3-5352f123.pth.tar",
        "bmshj2018-factorized-ms-ssim-4-4f91b847.pth.tar",
        "bmshj2018-factorized-ms-ssim-5-b3a88897.pth.tar",
        "bmshj2018-factorized-ms-ssim-6-ee028763.pth.tar",
        "bmshj2018-factorized-ms-ssim-7-8c265a29.pth.tar",
        "bmshj2018-factorized-ms-ssim-8-8811bd14.pth.tar"),
    ("bmshj2018-hyperprior", "mse"): (
        "bmshj2018-hyperprior-1-7eb97409.pth.tar",
        "bmshj2018-hyperprior-2-93677231.pth.tar",
        "bmshj2018-hyperprior-3-6d87be32.pth.tar",
        "bmshj2018-hyperprior-4-de1b779c.pth.tar",
        "bmshj2018-hyperprior-5-f8b614e1.pth.tar",
        "bmshj2018-hyperprior-6-1ab9c41e.pth.tar",
        "bmshj2018-hyperprior-7-3804dcbd.pth.tar",
        "bmshj2018-hyperprior-8-a583f0cf.pth.tar"),
    ("bmshj2018-hyperprior", "ms-ssim"): (
        "bmshj2018-hyperprior-ms-ssim-1-5cf249be.pth.tar",
        "bmshj2018-hyperprior-ms-ssim-2-1ff60d1f.pth.tar",
        "bmshj2018-hyperprior-ms-ssim-3-92dd7878.pth.tar",
        "bmshj2018-hyperprior-ms-ssim-4-4377354e.pth.tar",
        "bmshj2018-hyperprior-ms-ssim-5-c34afc8d.pth.tar",
        "bmshj2018-hyperprior-ms-ssim-6-3a6d8229.pth.tar",
        "bmshj2018-hyperprior-ms-ssim-7-8747d3bc.pth.tar",
        "bmshj2018-hyperprior-ms-ssim-8-cc15b5f3.pth.tar"),
    ("mbt2018-mean", "mse"): (
        "mbt2018-mean-1-e522738d.pth.tar",
        "mbt2018-mean-2-e54a039d.pth.tar",
        "mbt2018-mean-3-723404a8.pth.tar",
        "mbt2018-mean-4-6dba02a3.pth.tar",
        "mbt2018-mean-5-d504e8eb.pth.tar",
        "mbt2018-mean-6-a19628ab.pth.tar",
        "mbt2018-mean-7-d5d441d1.pth.tar",
        "mbt2018-mean-8-8089ae3e.pth.tar"),
    ("mbt2018-mean", "ms-ssim"): (
        "mbt2018-mean-ms-ssim-1-5bf9c0b6.pth.tar",
        "mbt2018-mean-ms-ssim-2-e2a1bf3f.pth.tar",
        "mbt2018-mean-ms-ssim-3-640ce819.pth.tar",
        "mbt2018-mean-ms-ssim-4-12626c13.pth.tar",
        "mbt2018-mean-ms-ssim-5-1be7f059.pth.tar",
        "mbt2018-mean-ms-ssim-6-b83bf379.pth.tar",
        "mbt2018-mean-ms-ssim-7-ddf9644c.pth.tar",
        "mbt2018-mean-ms-ssim-8-0cc7b94f.pth.tar"),
}

# CompressAI's entropy coding (compressai/entropy_models/entropy_models.py):
# the tail mass of its tables (EntropyBottleneck, GaussianConditional), the
# precision of its entropy coder, the hidden filters of the factorized density
# and the lower bound of σ.
TAIL_MASS = 1e-9
PRECISION = 16
FILTERS = (3, 3, 3, 3)
SCALE_BOUND = 0.11
# CompressAI bounds every likelihood below at 1e-9 (likelihood_bound) in the
# rate that forward() estimates.
LIKELIHOOD_BOUND = 1e-9
# CompressAI's table of scales, get_scale_table(): exp(linspace(ln 0.11,
# ln 256, 64)) as PyTorch computes it in float32. ŷ is coded with the
# smallest entry ≥ max(σ, 0.11) (GaussianConditional.build_indexes); the first
# entry is exactly float32(0.11), so every σ at the bound takes entry 0.
SCALE_TABLE = np.array([float.fromhex(h) for h in """
    0x1.c28f5cp-4 0x1.fd8f26p-4 0x1.202460p-3 0x1.45df8ep-3 0x1.708b90p-3
    0x1.a0ce08p-3 0x1.d76248p-3 0x1.0a8e14p-2 0x1.2d759ap-2 0x1.54ef34p-2
    0x1.81941cp-2 0x1.b41194p-2 0x1.ed2b98p-2 0x1.16dfe4p-1 0x1.3b6468p-1
    0x1.64b112p-1 0x1.936630p-1 0x1.c8390cp-1 0x1.01fb56p+0 0x1.23c37ap+0
    0x1.49f80ep+0 0x1.752d5ep+0 0x1.a60b1ep+0 0x1.dd4ef8p+0 0x1.0de7b8p+1
    0x1.313f8ep+1 0x1.59382cp+1 0x1.866cb8p+1 0x1.b98ca2p+1 0x1.f35e5ep+1
    0x1.1a612ep+2 0x1.3f5b30p+2 0x1.692cb6p+2 0x1.98781cp+2 0x1.cdf4f0p+2
    0x1.053962p+3 0x1.276e36p+3 0x1.4e1dbap+3 0x1.79de0ep+3 0x1.ab5906p+3
    0x1.e34eb0p+3 0x1.114c20p+4 0x1.3515b0p+4 0x1.5d8ee8p+4 0x1.8b54e2p+4
    0x1.bf1952p+4 0x1.f9a516p+4 0x1.1dedbap+5 0x1.435eb2p+5 0x1.6db6cap+5
    0x1.9d9a60p+5 0x1.d3c340p+5 0x1.0881e0p+6 0x1.2b24c6p+6 0x1.5250bap+6
    0x1.7e9dd8p+6 0x1.b0b80cp+6 0x1.e961bcp+6 0x1.14bb7ap+7 0x1.38f830p+7
    0x1.61f39cp+7 0x1.904ce4p+7 0x1.c4b7d6p+7 0x1.000000p+8
    """.split()], np.float32)

# GDN's reparameterization (compressai/ops/parametrizers.py, the same as
# TFC's GDNParameter): a stored value r stands for max(r, √(minimum +
# offset²))² − offset², offset 2^-18; β's minimum is 1e-6, γ's 0.
REPARAM_OFFSET = 2. ** -18
BETA_MIN = 1e-6

# CompressAI's tables and buffers that the import does not use: the range
# coder's CDFs (TFC computes its own from the weights), the target of the
# quantiles' auxiliary loss and the likelihood bound of training.
IGNORED_SUFFIXES = ("._quantized_cdf", "._offset", "._cdf_length", ".target",
                    ".likelihood_lower_bound.bound")


class StateDictError(ValueError):
  """A state dict that cannot be imported, with a one-line reason."""


# -- Reading state dicts -------------------------------------------------------


def read_state_dict(path, trusted=False):
  """{key: array} of an `.npz` file or a PyTorch file (`.pth`, `.pth.tar`,
  `.pt`; needs torch), keys as stored; a training checkpoint's
  "state_dict". PyTorch files are unpickled with torch's `weights_only`
  (tensors and containers only); a file that needs more is read only when
  `trusted` (a zoo file whose SHA-256 matches its name)."""
  if not os.path.isfile(path):
    raise StateDictError(f"no file {path}")
  if path.endswith(".npz"):
    try:
      with np.load(path, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}
    # A cut or corrupt zip, or a member that does not inflate.
    except (OSError, ValueError, EOFError, zipfile.BadZipFile,
            zlib.error) as e:
      raise StateDictError(f"{path} does not read as .npz: "
                           f"{argutil.first_line(e)}") from None
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise StateDictError(
        f"reading {os.path.basename(path)} needs PyTorch (pip install torch), "
        "or convert it to .npz where PyTorch is (see --help)") from None
  try:
    loaded = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # pylint: disable=broad-except
    if not trusted:
      raise StateDictError(f"{path} does not read as a PyTorch state dict: "
                           f"{argutil.first_line(e)}") from None
    try:
      loaded = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # pylint: disable=broad-except
      raise StateDictError(f"{path} does not read as a PyTorch state dict: "
                           f"{argutil.first_line(e)}") from None
  if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
    loaded = loaded["state_dict"]  # a training checkpoint
  if not isinstance(loaded, dict):
    raise StateDictError(f"{path} holds a {type(loaded).__name__}, not a state "
                         "dict")
  state = {}
  for key, value in loaded.items():
    if not isinstance(value, torch.Tensor):
      raise StateDictError(f"{path}: {key} is a {type(value).__name__}, not a "
                           "tensor")
    state[key] = value.detach().cpu().numpy()
  return state


_PARAMETER_LISTS = {"matrix": "matrices", "matrices": "matrices",
                    "bias": "biases", "biases": "biases",
                    "factor": "factors", "factors": "factors"}


def canonical_key(key):
  """CompressAI 1.2.x's spelling of a key: without DataParallel's "module."
  prefix, the density's parameters as `matrices.i`, `biases.i`, `factors.i`
  (also stored as `_matrix{i}`, `_matrices.{i}`, ...)."""
  if key.startswith("module."):
    key = key[len("module."):]
  match = re.fullmatch(
      r"entropy_bottleneck\._?(matrix|matrices|bias|biases|factor|factors)"
      r"\.?(\d+)", key)
  if match:
    return (f"entropy_bottleneck.{_PARAMETER_LISTS[match.group(1)]}."
            f"{int(match.group(2))}")
  return key


def expected_shapes(architecture, num_filters, num_latents):
  """{key: shape} of the parameters of an architecture's state dict."""
  n, m = num_filters, num_latents
  shapes = {}
  # g_a: Conv2d weights (out, in, h, w); g_s: ConvTranspose2d (in, out, h, w).
  for prefix, sizes in (("g_a", [(n, 3), (n, n), (n, n), (m, n)]),
                        ("g_s", [(m, n), (n, n), (n, n), (n, 3)])):
    for i, (a, b) in enumerate(sizes):
      shapes[f"{prefix}.{2 * i}.weight"] = (a, b, 5, 5)
      shapes[f"{prefix}.{2 * i}.bias"] = (b if prefix == "g_s" else a,)
      if i < 3:
        shapes[f"{prefix}.{2 * i + 1}.beta"] = (n,)
        shapes[f"{prefix}.{2 * i + 1}.gamma"] = (n, n)
  channels = m
  if architecture != "bmshj2018-factorized":
    channels = n
    shapes.update({"h_a.0.weight": (n, m, 3, 3), "h_a.0.bias": (n,),
                   "h_a.2.weight": (n, n, 5, 5), "h_a.2.bias": (n,),
                   "h_a.4.weight": (n, n, 5, 5), "h_a.4.bias": (n,)})
    if architecture == "bmshj2018-hyperprior":
      hs = [((n, n, 5, 5), n), ((n, n, 5, 5), n), ((m, n, 3, 3), m)]
    else:
      hs = [((n, m, 5, 5), m), ((m, m * 3 // 2, 5, 5), m * 3 // 2),
            ((2 * m, m * 3 // 2, 3, 3), 2 * m)]
    for i, (weight, bias) in enumerate(hs):
      shapes[f"h_s.{2 * i}.weight"] = weight
      shapes[f"h_s.{2 * i}.bias"] = (bias,)
  filters = (1,) + FILTERS + (1,)
  for i in range(len(FILTERS) + 1):
    shapes[f"entropy_bottleneck.matrices.{i}"] = (channels, filters[i + 1],
                                                  filters[i])
    shapes[f"entropy_bottleneck.biases.{i}"] = (channels, filters[i + 1], 1)
    if i < len(FILTERS):
      shapes[f"entropy_bottleneck.factors.{i}"] = (channels, filters[i + 1], 1)
  shapes["entropy_bottleneck.quantiles"] = (channels, 1, 3)
  return shapes


def _buffer_values(architecture):
  """{key pattern: value} of the buffers whose value the import relies on:
  GDN's reparameterization and the scale bound (checked, then unused)."""
  pedestal = REPARAM_OFFSET ** 2
  values = {
      r"g_[as]\.[135]\.(beta|gamma)_reparam\.pedestal": pedestal,
      r"g_[as]\.[135]\.beta_reparam\.lower_bound\.bound":
          math.sqrt(BETA_MIN + pedestal),
      r"g_[as]\.[135]\.gamma_reparam\.lower_bound\.bound":
          math.sqrt(pedestal),
  }
  if architecture != "bmshj2018-factorized":
    values.update({r"gaussian_conditional\.scale_bound": SCALE_BOUND,
                   r"gaussian_conditional\.lower_bound_scale\.bound":
                       SCALE_BOUND})
  return values


def guess_architecture(state):
  """The architecture a state dict (canonical keys) looks like, or None."""
  if "g_a.0.weight" not in state:
    return None
  if "h_s.4.weight" not in state:
    return "bmshj2018-factorized"
  m = np.shape(state.get("g_a.6.weight", ()))[:1]
  if m and np.shape(state["h_s.4.weight"])[0] == 2 * m[0]:
    return "mbt2018-mean"
  return "bmshj2018-hyperprior"


def _shape(shape):
  return "(" + ", ".join(str(d) for d in shape) + ")"


def check_state_dict(state, architecture, num_filters, num_latents,
                     source="state dict"):
  """The parameters of `state` (keys as stored) as {canonical key: float32
  array}, checked against the architecture and sizes; raises `StateDictError`
  with one line naming the first problem: keys of another architecture,
  missing parameters, other sizes, a parameter of the wrong shape or type or
  not finite, a buffer that says the model computes otherwise."""
  expected = expected_shapes(architecture, num_filters, num_latents)
  buffers = _buffer_values(architecture)
  canonical = {}
  for key in state:
    name = canonical_key(str(key))
    if name in canonical:
      raise StateDictError(f"{source}: {key} and {canonical[name]} are the "
                           "same parameter")
    canonical[name] = key
  guess = guess_architecture({name: state[key]
                              for name, key in canonical.items()})
  hint = (f"; it looks like a {guess} state dict"
          if guess and guess != architecture else "")
  known = set(expected) | {"gaussian_conditional.scale_table"}
  for name, key in canonical.items():
    if name.endswith(IGNORED_SUFFIXES) or any(
        re.fullmatch(p, name) for p in buffers):
      continue
    if name not in known or (name.startswith("gaussian_conditional.") and
                             architecture == "bmshj2018-factorized"):
      raise StateDictError(f"{source}: unexpected key {key} for "
                           f"{architecture}{hint}")
  missing = [name for name in expected if name not in canonical]
  if missing:
    raise StateDictError(f"{source}: no {missing[0]} ({architecture} has "
                         f"{len(expected)} parameters, {len(missing)} "
                         f"missing){hint}")
  # The sizes, from g_a's first and last layers.
  sizes = [np.shape(state[canonical[f"g_a.{i}.weight"]])[:1] for i in (0, 6)]
  if sizes != [(num_filters,), (num_latents,)] and all(sizes):
    raise StateDictError(
        f"{source}: a model with N={sizes[0][0]}, M={sizes[1][0]} (the "
        f"outputs of g_a.0 and g_a.6), not N={num_filters}, M={num_latents}"
        " (give --num_filters and --num_latents for other sizes than the "
        "quality's)")
  params = {}
  for name, key in canonical.items():
    if name.endswith(IGNORED_SUFFIXES):
      continue
    value = np.asarray(state[key])
    if value.dtype.kind not in "fiu":
      raise StateDictError(f"{source}: {key} is not numeric ({value.dtype})")
    if name == "gaussian_conditional.scale_table":
      if value.size and (value.shape != SCALE_TABLE.shape or not np.allclose(
          value, SCALE_TABLE, rtol=1e-6, atol=0)):
        raise StateDictError(
            f"{source}: {key} is not CompressAI's default scale table (64 "
            "scales from 0.11 to 256), the only one tfc-repro codes with")
      continue
    pattern = next((p for p in buffers if re.fullmatch(p, name)), None)
    if pattern is not None:
      if value.size != 1 or not math.isclose(float(value.reshape(-1)[0]),
                                             buffers[pattern], rel_tol=1e-5):
        raise StateDictError(
            f"{source}: {key} is {value.reshape(-1)[:4].tolist()}, not "
            f"{buffers[pattern]:.6g} (a parameterization tfc-repro does not "
            "have)")
      continue
    if value.dtype.kind != "f":
      raise StateDictError(f"{source}: {key} is {value.dtype}, not a float "
                           "parameter")
    if value.shape != expected[name]:
      raise StateDictError(
          f"{source}: {key} has shape {_shape(value.shape)}, {architecture} "
          f"with N={num_filters}, M={num_latents} has "
          f"{_shape(expected[name])}{hint}")
    if not np.all(np.isfinite(value)):
      raise StateDictError(f"{source}: {key} holds NaN or infinite values")
    params[name] = value.astype(np.float32)
  quantiles = params["entropy_bottleneck.quantiles"][:, 0, :]
  if np.any(quantiles[:, 0] > quantiles[:, 2]):
    raise StateDictError(f"{source}: entropy_bottleneck.quantiles has a lower "
                         "quantile above its upper one")
  return params


# -- The models -----------------------------------------------------------------


def _models():
  """The model classes (TensorFlow is imported on first use)."""
  global _MODELS  # pylint: disable=global-statement
  if _MODELS is None:
    _MODELS = _define_models()
  return _MODELS


_MODELS = None


def _define_models():
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  import tensorflow_compression as tfc
  from tfc_repro import bmshj2018
  from tfc_repro import latent_coders
  from tfc_repro import scale_table
  from tfc_repro import transforms
  # pylint: enable=g-import-not-at-top

  def _bounded(log_prob):
    """CompressAI's likelihood bound, on the log-likelihoods that the entropy
    models' rate is made of (the coding tables, made of `prob`, are not)."""
    return tf.maximum(log_prob, math.log(LIKELIHOOD_BOUND))

  class QuantilePrior(tfc.NoisyDeepFactorized):
    """TFC's factorized density (∗ U(−½, ½)) whose coding tables span
    CompressAI's stored quantiles instead of TFC's own estimate of its tails:
    the same symbols as CompressAI's tables. Its likelihoods are bounded
    below at 1e-9."""

    def __init__(self, quantiles, **kwargs):
      super().__init__(**kwargs)
      self._quantiles = quantiles

    def _log_prob(self, y):
      return _bounded(super()._log_prob(y))

    def _lower_tail(self, tail_mass):
      del tail_mass
      q = tf.convert_to_tensor(self._quantiles)
      return tf.minimum(q[:, 0], q[:, 1])

    def _upper_tail(self, tail_mass):
      del tail_mass
      q = tf.convert_to_tensor(self._quantiles)
      return tf.maximum(q[:, 2], q[:, 1])

  class SymmetricNoisyNormal(tfc.NoisyNormal):
    """TFC's Gaussian ∗ U(−½, ½) whose upper tail mirrors its lower one: at
    CompressAI's tail mass of 1e-9, TFC's float32 quantile of 1 − 5e-10 is
    infinite. The tables then span ±⌈6.11·σ⌉, as CompressAI's. Its
    likelihoods are bounded below at 1e-9."""

    def _upper_tail(self, tail_mass):
      return 2. * self.base.loc - tfc.lower_tail(self, tail_mass)

    def _log_prob(self, y):
      return _bounded(super()._log_prob(y))

  class CompressAICoding:
    """CompressAI's entropy coding on a bmshj2018 model (see the module doc):
    its 4-layer factorized density with quantization offsets and table
    ranges from its stored quantiles (lower, median, upper per channel),
    tail mass 1e-9, 16-bit range coding, and ŷ coded with the smallest
    table scale ≥ σ. The layers are CompressAI's (compressai/models/
    google.py), built as the bmshj2018 model builds its own."""

    def _init_compressai(self, model_name, num_filters, num_latents, lmbda,
                         metric, quality):
      """The base model's constructor with this configuration."""
      bmshj2018.model.CompressionModel.__init__(self, dict(
          lmbda=lmbda, metric=metric, model=model_name,
          num_filters=num_filters, num_latents=num_latents, variant="paper",
          quality=quality, conv="signal", gdn="full", coding="compressai"))
      self.variant = "paper"
      self.analysis_transform, self.synthesis_transform = (
          bmshj2018.image_transforms(num_filters, num_latents))

    def _plain_kernels(self):
      """Every convolution keeps its kernel as a plain variable (TFC's
      kernel_parameter="variable") rather than as its real DFT: the same
      function, and CompressAI's kernels exactly, with no float error from
      the DFT's round trip (which moved x̂ by up to 7e-5 of its range).
      Called before the model is built."""
      for stack in (self.analysis_transform, self.synthesis_transform,
                    getattr(self, "hyper_analysis_transform", None),
                    getattr(self, "hyper_synthesis_transform", None)):
        for layer in stack.layers if stack is not None else ():
          if isinstance(layer, tfc.SignalConv2D):
            layer.kernel_parameter = "variable"

    def _compressai_prior(self, channels):
      """The factorized density of `channels` channels and its quantiles."""
      # Not trainable: CompressAI trains them by an auxiliary loss.
      self.quantiles = tf.Variable(tf.zeros((channels, 3)), trainable=False,
                                   name="entropy_bottleneck/quantiles")
      return QuantilePrior(self.quantiles, batch_shape=(channels,),
                           num_filters=FILTERS)

    def compressai_bottleneck(self, prior, compression):
      """The entropy model of the factorized latent: ẑ = round(z − m) + m
      with m the stored median (CompressAI's "dequantize")."""
      return latent_coders.ContinuousBatchedEntropyModel(
          prior, coding_rank=3, compression=compression, tail_mass=TAIL_MASS,
          range_coder_precision=PRECISION,
          quantization_offset=self.quantiles[:, 1])

  class HyperpriorCoding(CompressAICoding):
    """Both entropy models of a hyperprior model."""

    def gaussian_entropy_model(self, compression):
      return tfc.LocationScaleIndexedEntropyModel(
          SymmetricNoisyNormal, scale_table.NUM_SCALES, scale_table.scale_fn,
          coding_rank=3, compression=compression, tail_mass=TAIL_MASS,
          range_coder_precision=PRECISION)

    def hyperprior_entropy_model(self, compression):
      return self.compressai_bottleneck(self.hyperprior, compression)

    # No Python control flow to convert (AutoGraph cannot read this closure).
    @tf.autograph.experimental.do_not_convert
    def coding_indexes(self, indexes):
      """The table entry of each σ (given as `scale_index(σ)`): the
      smallest ≥ max(σ, 0.11), i.e. the number of CompressAI's entries
      below σ, compared as `scale_index` maps both."""
      thresholds = scale_table.scale_index(tf.constant(SCALE_TABLE[:-1]))
      flat = tf.reshape(indexes, (1, -1))
      count = tf.searchsorted(thresholds[None], flat, side="left")
      return tf.reshape(tf.cast(count, indexes.dtype), tf.shape(indexes))

  class Factorized(CompressAICoding, bmshj2018.FactorizedModel):
    """bmshj2018-factorized: FactorizedPrior."""

    def __init__(self, num_filters, num_latents, lmbda, metric, quality):
      # pylint: disable=super-init-not-called
      self._init_compressai("factorized", num_filters, num_latents, lmbda,
                            metric, quality)
      self.prior = self._compressai_prior(num_latents)
      self._plain_kernels()
      self.build((None, None, None, 3))

    def factorized_entropy_model(self, compression):
      return self.compressai_bottleneck(self.prior, compression)

  class Hyperprior(HyperpriorCoding, bmshj2018.ScaleHyperpriorModel):
    """bmshj2018-hyperprior: ScaleHyperprior."""

    def __init__(self, num_filters, num_latents, lmbda, metric, quality):
      # pylint: disable=super-init-not-called
      self._init_compressai("hyperprior", num_filters, num_latents, lmbda,
                            metric, quality)
      n, m = num_filters, num_latents
      # h_a on |y|: conv 3x3/1 N, ReLU, conv 5x5/2 N, ReLU, conv 5x5/2 N,
      # the last with a bias (the bmshj2018 model's has none).
      self.hyper_analysis_transform = transforms.hyper_analysis(
          [(n, 3, 1), (n, 5, 2), (n, 5, 2)], last_bias=True)
      # h_s: deconv 5x5/2 N, ReLU, deconv 5x5/2 N, ReLU, conv 3x3/1 M,
      # ReLU -> σ.
      self.hyper_synthesis_transform = transforms.hyper_synthesis(
          [(n, 5, 2), (n, 5, 2), (m, 3, 1)], final_activation=tf.nn.relu)
      self.hyperprior = self._compressai_prior(n)
      self._plain_kernels()
      self.build((None, None, None, 3))

  class MeanScale(HyperpriorCoding, bmshj2018.MeanScaleHyperpriorModel):
    """mbt2018-mean: MeanScaleHyperprior."""

    def __init__(self, num_filters, num_latents, lmbda, metric, quality):
      # pylint: disable=super-init-not-called
      self._init_compressai("meanscale", num_filters, num_latents, lmbda,
                            metric, quality)
      n, m = num_filters, num_latents
      leaky = transforms.leaky_relu_001  # PyTorch's LeakyReLU slope
      # h_a on y: conv 3x3/1 N, LeakyReLU, conv 5x5/2 N, LeakyReLU,
      # conv 5x5/2 N.
      self.hyper_analysis_transform = transforms.hyper_analysis(
          [(n, 3, 1), (n, 5, 2), (n, 5, 2)], last_bias=True, activation=leaky)
      # h_s: deconv 5x5/2 M, LeakyReLU, deconv 5x5/2 3M/2, LeakyReLU,
      # conv 3x3/1 2M -> (σ, μ).
      self.hyper_synthesis_transform = transforms.hyper_synthesis(
          [(m, 5, 2), (m * 3 // 2, 5, 2), (2 * m, 3, 1)], activation=leaky)
      self.hyperprior = self._compressai_prior(n)
      self._plain_kernels()
      self.build((None, None, None, 3))

  return {"bmshj2018-factorized": Factorized,
          "bmshj2018-hyperprior": Hyperprior,
          "mbt2018-mean": MeanScale}


def build_model(architecture, num_filters, num_latents, quality,
                metric="mse"):
  """The tfc-repro model of an architecture, untrained: a bmshj2018 model
  (`ARCHITECTURES`) with CompressAI's entropy coding."""
  from tfc_repro import bmshj2018  # pylint: disable=g-import-not-at-top
  if architecture not in ARCHITECTURES:
    raise StateDictError(f"architecture must be one of "
                         f"{', '.join(ARCHITECTURES)}, got {architecture!r}")
  lmbda = bmshj2018.LAMBDAS[metric][quality - 1]
  return _models()[architecture](num_filters, num_latents, lmbda, metric,
                                 quality)


# -- Weights --------------------------------------------------------------------


def conv_kernel(weight):
  """A Conv2d weight (out, in, h, w) as the kernel (h, w, in, out) of a
  correlation (`SignalConv2D(corr=True)`, `tf.nn.conv2d`)."""
  return np.transpose(weight, (2, 3, 1, 0))


def deconv_kernel(weight):
  """A ConvTranspose2d weight (in, out, h, w) as the kernel (h, w, in, out) of
  an up-sampling convolution (`SignalConv2D(corr=False)` with strides_up):
  the same taps, unflipped (both are the transpose of a strided correlation,
  with the kernel centred alike when padding = k // 2 and output_padding = s -
  1)."""
  return np.transpose(weight, (2, 3, 0, 1))


def flipped_conv_kernel(weight):
  """A Conv2d weight (a correlation) as the kernel of a stride-1 convolution
  (`SignalConv2D(corr=False)`, which h_s' last layer is in tfc-repro): the
  correlation kernel flipped in both spatial axes."""
  return conv_kernel(weight)[::-1, ::-1]


def _set_kernel(layer, kernel, key):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_compression as tfc  # pylint: disable=g-import-not-at-top
  kernel = np.ascontiguousarray(kernel, np.float32)
  parameter = layer.kernel_parameter
  if isinstance(parameter, tfc.RDFTParameter):
    value = tfc.RDFTParameter(tf.constant(kernel))
    parameter.real.assign(value.real)
    parameter.imag.assign(value.imag)
  else:
    parameter.assign(kernel)
  if isinstance(parameter, tf.Variable) and not np.array_equal(
      layer.kernel.numpy(), kernel):
    raise StateDictError(f"{key}: the layer does not hold the kernel assigned")


def _set_conv(layer, params, prefix, kernel_fn):
  _set_kernel(layer, kernel_fn(params[prefix + ".weight"]), prefix + ".weight")
  layer.bias_parameter.assign(params[prefix + ".bias"])


def _set_gdn(gdn, params, prefix):
  # Both store √(value + offset²); CompressAI's γ[i, j] weighs x_j² in output
  # i, TFC's γ[j, i] (it computes x² · γ): transposed.
  gdn.beta_parameter.variable.assign(params[prefix + ".beta"])
  gdn.gamma_parameter.variable.assign(params[prefix + ".gamma"].T)


def _set_density(prior, params):
  base = prior.base
  for i, matrix in enumerate(base._matrices):  # pylint: disable=protected-access
    matrix.assign(params[f"entropy_bottleneck.matrices.{i}"])
  for i, bias in enumerate(base._biases):  # pylint: disable=protected-access
    bias.assign(params[f"entropy_bottleneck.biases.{i}"])
  for i, factor in enumerate(base._factors):  # pylint: disable=protected-access
    factor.assign(params[f"entropy_bottleneck.factors.{i}"])


def assign_weights(model, architecture, params):
  """Sets the weights of `build_model`'s model from checked parameters
  (`check_state_dict`)."""
  for name, stack in (("g_a", model.analysis_transform),
                      ("g_s", model.synthesis_transform)):
    kernel_fn = conv_kernel if name == "g_a" else deconv_kernel
    for i in range(4):
      layer = stack.get_layer(f"layer_{i}")
      _set_conv(layer, params, f"{name}.{2 * i}", kernel_fn)
      if i < 3:
        _set_gdn(layer.activation, params, f"{name}.{2 * i + 1}")
  if architecture != "bmshj2018-factorized":
    for i in range(3):
      _set_conv(model.hyper_analysis_transform.get_layer(f"layer_{i}"),
                params, f"h_a.{2 * i}", conv_kernel)
      _set_conv(model.hyper_synthesis_transform.get_layer(f"layer_{i}"),
                params, f"h_s.{2 * i}",
                deconv_kernel if i < 2 else flipped_conv_kernel)
  prior = model.prior if architecture == "bmshj2018-factorized" else (
      model.hyperprior)
  _set_density(prior, params)
  model.quantiles.assign(params["entropy_bottleneck.quantiles"][:, 0, :])


def forward(model, image):
  """What CompressAI's forward() returns in eval mode, computed by an
  imported model on an RGB uint8 image whose sides are multiples of the
  model's stride: {"y_hat", "z_hat" (hyperpriors), "x_hat" (on [0, 1], not
  clipped), "likelihoods": {"y", "z"}, "indexes" (the table entry coding
  each element of ŷ; hyperpriors)}, as numpy arrays laid out (1, H, W, C).
  The likelihoods are those of the model's entropy models (their sum of
  −log2 is the rate `model(x, training=False)` reports)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfc_repro import scale_table  # pylint: disable=g-import-not-at-top
  image = np.asarray(image)
  if image.shape[0] % model.stride or image.shape[1] % model.stride:
    raise ValueError(f"image sides {image.shape[:2]} are not multiples of "
                     f"{model.stride}")
  x = tf.cast(tf.constant(image)[None], tf.float32)
  y = model.analysis_transform(x)
  result = {}
  if model.config["model"] == "factorized":
    entropy_model = model.factorized_entropy_model(compression=False)
    y_hat = entropy_model.quantize(y)
    likelihood_y = tf.exp(model.prior.log_prob(y_hat))
  else:
    entropy_model = model.gaussian_entropy_model(compression=False)
    side_model = model.hyperprior_entropy_model(compression=False)
    z = model.hyper_analysis_transform(model.hyper_input(y))
    z_hat = side_model.quantize(z)
    result["z_hat"] = z_hat.numpy()
    result["likelihoods_z"] = tf.exp(model.hyperprior.log_prob(z_hat)).numpy()
    indexes, mean = model.side_parameters(z_hat, tf.shape(y)[1:3])
    result["indexes"] = model.coding_indexes(indexes).numpy().astype(np.int32)
    y_hat = entropy_model.quantize(y, loc=mean)
    centred = y_hat if mean is None else y_hat - mean
    # The entropy model's own prior (as its rate computes it).
    likelihood_y = tf.exp(entropy_model.prior_fn(
        loc=0., scale=scale_table.scale_fn(indexes)).log_prob(centred))
  result["y_hat"] = y_hat.numpy()
  result["likelihoods_y"] = likelihood_y.numpy()
  result["x_hat"] = (model.synthesis_transform(y_hat) / 255.).numpy()
  return result


# -- Import ---------------------------------------------------------------------


def zoo_file_info(path):
  """(architecture, metric, quality) of a zoo file's name, or None."""
  name = os.path.basename(path)
  for (architecture, metric), names in ZOO_FILES.items():
    if name in names:
      return architecture, metric, names.index(name) + 1
  return None


def check_zoo_file(path):
  """(architecture, metric, quality) of a file named as one of the zoo's,
  after checking that its SHA-256 begins with the hash in its name (as
  PyTorch checks the zoo's downloads); None for other names."""
  named = zoo_file_info(path)
  if named is not None:
    prefix = re.search(r"-([0-9a-f]+)\.pth\.tar$", path).group(1)
    if not data.file_sha256(path).startswith(prefix):
      raise StateDictError(
          f"{os.path.basename(path)} is not the file of CompressAI's zoo of "
          f"that name (its SHA-256 does not begin with {prefix}): a partial "
          "download, or another file renamed")
  return named


def zoo_url(architecture, metric, quality):
  """The address of a zoo file."""
  return ZOO_URL + ZOO_FILES[(architecture, metric)][quality - 1]


def resolve(path, state, architecture=None, quality=None, metric=None,
            num_filters=None, num_latents=None):
  """(architecture, quality, metric, N, M) from the flags, else from a zoo
  file's name or the state dict (the architecture only)."""
  named = zoo_file_info(path) if path else None
  if named is not None:
    for flag, given, known in (("--architecture", architecture, named[0]),
                               ("--metric", metric, named[1]),
                               ("--quality", quality, named[2])):
      if given is not None and given != known:
        raise StateDictError(f"{os.path.basename(path)} is CompressAI's "
                             f"{named[0]} {named[1]} quality {named[2]}, "
                             f"but {flag} {given} was given")
    architecture, metric, quality = named
  if architecture is None:
    architecture = guess_architecture(
        {canonical_key(str(k)): v for k, v in state.items()})
    if architecture is None:
      raise StateDictError("not a CompressAI image model's state dict (no "
                           "g_a.0.weight)")
  if architecture not in ARCHITECTURES:
    raise StateDictError(f"architecture must be one of "
                         f"{', '.join(ARCHITECTURES)}, got {architecture!r}")
  if quality is None:
    raise StateDictError("give --quality (1-8): it fixes N and M, and λ")
  if quality not in QUALITIES:
    raise StateDictError(f"quality must be 1..8, got {quality}")
  metric = metric or "mse"
  if metric not in METRICS:
    raise StateDictError(f"metric must be one of {METRICS}, got {metric!r}")
  from tfc_repro import bmshj2018  # pylint: disable=g-import-not-at-top
  n, m = bmshj2018.paper_sizes(quality, ARCHITECTURES[architecture])
  num_filters = num_filters or n
  num_latents = num_latents or m
  return architecture, quality, metric, num_filters, num_latents


def import_state_dict(state, architecture, quality, metric="mse",
                      num_filters=None, num_latents=None, source="state dict"):
  """The tfc-repro model of a CompressAI state dict ({key: array}), with its
  weights set (not yet prepared for compression)."""
  architecture, quality, metric, n, m = resolve(
      None, state, architecture, quality, metric, num_filters, num_latents)
  params = check_state_dict(state, architecture, n, m, source)
  model = build_model(architecture, n, m, quality, metric)
  assign_weights(model, architecture, params)
  return model


def import_file(path, model_path, architecture=None, quality=None,
                metric=None, num_filters=None, num_latents=None):
  """Imports the state dict at `path` and exports it to `model_path` as
  training exports a model; returns the metadata."""
  trusted = os.path.isfile(path) and check_zoo_file(path) is not None
  state = read_state_dict(path, trusted)
  architecture, quality, metric, n, m = resolve(
      path, state, architecture, quality, metric, num_filters, num_latents)
  params = check_state_dict(state, architecture, n, m,
                            source=os.path.basename(path))
  # pylint: disable=g-import-not-at-top
  from tfc_repro import training
  # pylint: enable=g-import-not-at-top
  model = build_model(architecture, n, m, quality, metric)
  assign_weights(model, architecture, params)
  info = dict(
      lmbda=model.user_lambda, loss_lambda=model.loss_lambda, metric=model.metric,
      train_data=f"CompressAI's pretrained {architecture} (imported)",
      imported_from=dict(
          library="compressai", architecture=architecture, quality=quality,
          metric=metric, num_filters=n, num_latents=m,
          file=os.path.basename(path), sha256=data.file_sha256(path),
          zoo_url=(zoo_url(architecture, metric, quality)
                   if zoo_file_info(path) else None)))
  return training.export(model, info, model_path)


def build_parser():
  parser = argutil.ArgumentParser(
      prog="python -m tfc_repro.import_compressai",
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("state_dict", nargs="?",
                      help="CompressAI state dict: .pth/.pth.tar (needs "
                           "PyTorch) or .npz.")
  parser.add_argument("model_path", nargs="?",
                      help="Folder to write the tfc-repro model to.")
  parser.add_argument("--architecture", choices=tuple(ARCHITECTURES),
                      help="CompressAI's architecture (default: from the "
                           "zoo file's name or the state dict's keys).")
  parser.add_argument("--quality", type=int, choices=QUALITIES,
                      metavar="{1..8}",
                      help="CompressAI's quality level (default: from the zoo "
                           "file's name); fixes N, M and λ.")
  parser.add_argument("--metric", choices=METRICS,
                      help="What the model was trained for (default: from "
                           "the zoo file's name, else mse).")
  parser.add_argument("--num_filters", type=int,
                      help="N, for a model of other sizes than the zoo's.")
  parser.add_argument("--num_latents", type=int,
                      help="M, for a model of other sizes than the zoo's.")
  parser.add_argument("--url", action="store_true",
                      help="Print the zoo file's address for --architecture, "
                           "--quality and --metric, and exit.")
  return parser


def main(argv):
  parser = build_parser()
  args = parser.parse_args(argv)
  if args.url:
    if args.architecture is None or args.quality is None:
      parser.error("--url needs --architecture and --quality")
    print(zoo_url(args.architecture, args.metric or "mse", args.quality))
    return 0
  if args.state_dict is None or args.model_path is None:
    parser.error("give the state dict and the model folder to write")
  for flag in ("num_filters", "num_latents"):
    value = getattr(args, flag)
    if value is not None and value <= 0:
      parser.error(f"--{flag} must be positive")
  argutil.quiet_tensorflow()
  from absl import logging  # pylint: disable=g-import-not-at-top
  # TFC warns of tables over 2048 entries: CompressAI's tail mass of 1e-9
  # makes the widest Gaussian's 3131 (σ = 256), as CompressAI's own.
  logging.set_verbosity(logging.ERROR)
  metadata = import_file(args.state_dict, args.model_path, args.architecture,
                         args.quality, args.metric, args.num_filters,
                         args.num_latents)
  source = metadata["imported_from"]
  print(f"exported CompressAI's {source['architecture']} {source['metric']} "
        f"quality {source['quality']} (N={source['num_filters']}, "
        f"M={source['num_latents']}) as a bmshj2018 --model "
        f"{metadata['config']['model']} model to {args.model_path}")
  return 0


if __name__ == "__main__":
  sys.exit(argutil.run(main, "python -m tfc_repro.import_compressai"))
