"""CompressAI's own outputs, as fixtures for tests/test_import_compressai.py.

Run where PyTorch and CompressAI are installed (the tests need neither):

    python scripts/compressai_fixtures.py [--output tests/data/compressai]

For each architecture that `python -m tfc_repro.import_compressai` imports
(bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean) it builds a
CompressAI model with small sizes (N=8, M=12) and random weights, and writes

  * `<architecture>.npz`: the model's state dict as CompressAI 1.2 saves it,
    less the Gaussian conditional's CDF table (64 x 3133 integers, which the
    import ignores; the entropy bottleneck's small CDF buffers are kept);
  * `<architecture>-outputs.npz`: CompressAI's outputs on `input.png`:
    forward() in eval mode (ŷ, ẑ, the likelihoods, the estimated bits, two
    32x32 corners and the per-channel sums of x̂), the scale table indexes of
    ŷ, and the bytes of compress()'s strings (y, z);

plus `input.png` (256x384) and `fixtures.json` (versions, seeds, margins).

The random weights are drawn so that the model is a plausible codec: each
latent channel has its own scale (two below 1, so that σ reaches the bound of
0.11, the others from 2 to 50), the hyperprior's σ follows it, μ stays within
half of it, the factorized densities are random and the latents fall within
them, the stored medians are moved off the densities' medians (as an
auxiliary loss leaves them) and GDN's γ is not symmetric. A model is drawn
again (next seed) until every latent lies at least 1e-4 from a rounding
boundary and every σ at least 1e-5 (relative) from a table scale, so that
float rounding in another framework cannot change ŷ, ẑ or the table entry,
and no likelihood is below 1e-8 (CompressAI bounds them at 1e-9 in forward(),
TFC's entropy models do not).
"""

import argparse
import json
import os
import sys
import types

import numpy as np

ARCHITECTURES = ("bmshj2018-factorized", "bmshj2018-hyperprior",
                 "mbt2018-mean")
NUM_FILTERS, NUM_LATENTS = 8, 12
IMAGE_SHAPE = (256, 384)
ROUNDING_MARGIN = 1e-4
SCALE_MARGIN = 1e-5
LEAST_LIKELIHOOD = 1e-8
CORNER = 32


def import_compressai():
  """(torch, compressai), importing CompressAI's models.

  CompressAI imports torchvision only to register dataset transforms; where
  torchvision is missing or does not load with the installed torch (e.g. a
  CPU build of torch beside a CUDA build of torchvision), an empty stand-in
  module lets the models import. Raises ImportError without CompressAI."""
  import torch  # pylint: disable=g-import-not-at-top
  try:
    import torchvision.transforms  # pylint: disable=g-import-not-at-top,unused-import
  except Exception:  # pylint: disable=broad-except
    for name in [n for n in sys.modules if n.split(".")[0] == "torchvision"]:
      del sys.modules[name]
    stand_in = types.ModuleType("torchvision")
    stand_in.transforms = types.ModuleType("torchvision.transforms")
    sys.modules["torchvision"] = stand_in
    sys.modules["torchvision.transforms"] = stand_in.transforms
  import compressai  # pylint: disable=g-import-not-at-top
  import compressai.models  # pylint: disable=g-import-not-at-top,unused-import
  return torch, compressai


def model_class(architecture):
  from compressai import models  # pylint: disable=g-import-not-at-top
  return {"bmshj2018-factorized": models.FactorizedPrior,
          "bmshj2018-hyperprior": models.ScaleHyperprior,
          "mbt2018-mean": models.MeanScaleHyperprior}[architecture]


def make_image(shape=IMAGE_SHAPE, seed=0):
  """A smooth random RGB image with some noise (uint8)."""
  rng = np.random.default_rng(seed)
  height, width = shape
  coarse = rng.uniform(0, 255, size=(height // 16 + 2, width // 16 + 2, 3))
  rows = np.linspace(0, coarse.shape[0] - 1.001, height)
  cols = np.linspace(0, coarse.shape[1] - 1.001, width)
  r0, c0 = rows.astype(int), cols.astype(int)
  fr, fc = (rows - r0)[:, None, None], (cols - c0)[None, :, None]
  image = ((1 - fr) * (1 - fc) * coarse[r0][:, c0] +
           fr * (1 - fc) * coarse[r0 + 1][:, c0] +
           (1 - fr) * fc * coarse[r0][:, c0 + 1] +
           fr * fc * coarse[r0 + 1][:, c0 + 1])
  image += rng.normal(0, 2, size=image.shape)
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _randomize_conv(torch, conv, generator, gain=1.):
  weight = conv.weight
  if isinstance(conv, torch.nn.ConvTranspose2d):
    # Each output sums about in·k²/s² taps.
    fan_in = weight.shape[0] * weight.shape[2] * weight.shape[3] / (
        conv.stride[0] * conv.stride[1])
  else:
    fan_in = weight.shape[1] * weight.shape[2] * weight.shape[3]
  weight.copy_(torch.randn(weight.shape, generator=generator) * gain /
               fan_in ** .5)
  conv.bias.copy_((torch.rand(conv.bias.shape, generator=generator) - .5) *
                  .2)


def _randomize_gdn(torch, gdn, generator):
  channels = gdn.beta.shape[0]
  beta = .5 + 1.5 * torch.rand(channels, generator=generator)
  gamma = (.1 * torch.eye(channels) +
           .05 * torch.rand((channels, channels), generator=generator) ** 2)
  gdn.beta.copy_(gdn.beta_reparam.init(beta))
  gdn.gamma.copy_(gdn.gamma_reparam.init(gamma))


def _quantile(torch, bottleneck, probability):
  """Per channel, where the bottleneck's density reaches `probability`."""
  channels = bottleneck.channels
  target = torch.tensor(float(np.log(probability / (1 - probability))))
  low = torch.full((channels, 1, 1), -1e4)
  high = torch.full((channels, 1, 1), 1e4)
  return bottleneck._search_target(  # pylint: disable=protected-access
      lambda v: bottleneck._logits_cumulative(v, stop_gradient=True),  # pylint: disable=protected-access
      target, low, high, rtol=1e-6, atol=1e-5)[:, 0, 0]


def _randomize_bottleneck(torch, bottleneck, generator):
  for matrix in bottleneck.matrices:
    matrix.add_(torch.randn(matrix.shape, generator=generator) * .5)
  for bias in bottleneck.biases:
    bias.copy_((torch.rand(bias.shape, generator=generator) - .5) * 2)
  for factor in bottleneck.factors:
    factor.copy_(torch.randn(factor.shape, generator=generator) * .5)
  # The quantiles at the tail targets (CompressAI's bisection), then the
  # median moved by up to ±0.4 (an auxiliary loss leaves it near, not on,
  # the density's median).
  bottleneck._update_quantiles()  # pylint: disable=protected-access
  quantiles = bottleneck.quantiles.data
  shift = (torch.rand(bottleneck.channels, generator=generator) - .5) * .8
  quantiles[:, 0, 1] += shift


def _fit(values, low, high):
  """(a, b) per channel (dim 1) so that a·values + b spans [low, high]
  between its 2nd and 98th percentiles."""
  flat = values.transpose(0, 1).reshape(values.shape[1], -1)
  lo = flat.quantile(.02, dim=1)
  hi = flat.quantile(.98, dim=1)
  a = (high - low) / (hi - lo).clamp(min=1e-6)
  return a, low - a * lo


def _scale_layer(conv, a, b):
  """Makes a conv layer output a·out + b (per output channel)."""
  import torch  # pylint: disable=g-import-not-at-top
  if isinstance(conv, torch.nn.ConvTranspose2d):
    conv.weight.mul_(a[None, :, None, None])
  else:
    conv.weight.mul_(a[:, None, None, None])
  conv.bias.copy_(conv.bias * a + b)


def random_model(architecture, seed, image, num_filters=NUM_FILTERS,
                 num_latents=NUM_LATENTS, log_scales=(.3, 1.7)):
  """A CompressAI model of `architecture` with random, calibrated weights on
  `image` (uint8 HxWx3), in eval mode with its CDF tables built. The latent
  channels' scales are log-uniform over 10^log_scales (but the first two,
  0.03 and 0.3)."""
  torch, _ = import_compressai()
  generator = torch.Generator().manual_seed(seed)
  net = model_class(architecture)(num_filters, num_latents).eval()
  x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.
  with torch.no_grad():
    for module in net.modules():
      if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        _randomize_conv(torch, module, generator)
      elif type(module).__name__ == "GDN":
        _randomize_gdn(torch, module, generator)
    _randomize_bottleneck(torch, net.entropy_bottleneck, generator)
    bottleneck = net.entropy_bottleneck
    # The latent channels' scales: two small ones (σ at or near the bound
    # of 0.11: the first table entries), the others log-uniform from 2 to
    # 50 (enough bits that the coders' few bytes of flush weigh little).
    low, high = log_scales
    scales = 10 ** (low + (high - low) * torch.rand(num_latents,
                                                     generator=generator))
    scales[:2] = torch.tensor([.03, .3])
    y = net.g_a(x)
    if architecture == "bmshj2018-factorized":
      # y within its density: the 2nd-98th percentiles of y on the 5th-95th
      # percentiles of the density (the quantiles' tails are at 1e-9).
      low, high = _quantile(torch, bottleneck, .05), _quantile(
          torch, bottleneck, .95)
      _scale_layer(net.g_a[6], *_fit(y, low, high))
    else:
      _scale_layer(net.g_a[6], *_fit(y, -2 * scales, 2 * scales))
      y = net.g_a(x)
      z = net.h_a(y if architecture == "mbt2018-mean" else torch.abs(y))
      low, high = _quantile(torch, bottleneck, .05), _quantile(
          torch, bottleneck, .95)
      _scale_layer(net.h_a[4], *_fit(z, low, high))
      z_hat, _ = bottleneck(net.h_a(
          y if architecture == "mbt2018-mean" else torch.abs(y)))
      last = net.h_s[4]
      params = net.h_s[:4](z_hat)
      out = torch.nn.functional.conv2d(params, last.weight, None, padding=1)
      # σ about 1.5 times each channel's scale (±20 % per standard
      # deviation of h_s' output); μ within ±scale/2.
      spread = out.transpose(0, 1).reshape(out.shape[1], -1).std(dim=1)
      a = torch.ones(out.shape[1])
      b = torch.zeros(out.shape[1])
      a[:num_latents] = .3 * scales / spread[:num_latents].clamp(min=1e-6)
      b[:num_latents] = 1.5 * scales
      if architecture == "mbt2018-mean":
        a[num_latents:] = .5 * scales / spread[num_latents:].clamp(min=1e-6)
      last.bias.zero_()
      _scale_layer(last, a, b)
    # x̂ in about [0, 1].
    x_hat = net(x)["x_hat"]
    _scale_layer(net.g_s[6], *_fit(x_hat, torch.full((3,), .1),
                                   torch.full((3,), .9)))
  net.update(force=True)
  return net


def margins(architecture, net, x):
  """(rounding margin, scale margin, least likelihood): how far every latent
  is from a rounding boundary (in quantization steps), every σ above the
  bound from a table scale (relative), and the least likelihood of any
  latent (above CompressAI's bound of 1e-9, which TFC's models do not
  have)."""
  import torch  # pylint: disable=g-import-not-at-top
  with torch.no_grad():
    y = net.g_a(x)
    medians = net.entropy_bottleneck.quantiles[:, 0, 1]
    if architecture == "bmshj2018-factorized":
      offsets = [y - medians[None, :, None, None]]
      sigmas = None
    else:
      z = net.h_a(y if architecture == "mbt2018-mean" else torch.abs(y))
      z_hat, _ = net.entropy_bottleneck(z)
      params = net.h_s(z_hat)
      if architecture == "mbt2018-mean":
        sigmas, means = params.chunk(2, 1)
        offsets = [y - means, z - medians[None, :, None, None]]
      else:
        sigmas = params
        offsets = [y, z - medians[None, :, None, None]]
    # round() changes where v - floor(v) = 1/2.
    rounding = min(float((v - torch.floor(v) - .5).abs().min())
                   for v in offsets)
    scale = float("inf")
    if sigmas is not None:
      table = net.gaussian_conditional.scale_table
      s = sigmas.reshape(-1)
      s = s[s > .11 * (1 - SCALE_MARGIN)]
      if s.numel():
        scale = float((torch.log(s[:, None] / table[None, :]).abs()).min())
    least = min(float(v.min()) for v in net(x)["likelihoods"].values())
  return rounding, scale, least


def outputs(architecture, net, image):
  """CompressAI's outputs on `image` (see the module doc), as arrays."""
  import torch  # pylint: disable=g-import-not-at-top
  x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.
  result = {}
  with torch.no_grad():
    forward = net(x)
    x_hat = forward["x_hat"]
    likelihoods = forward["likelihoods"]
    y = net.g_a(x)
    if architecture == "bmshj2018-factorized":
      y_hat, _ = net.entropy_bottleneck(y)
    else:
      z = net.h_a(y if architecture == "mbt2018-mean" else torch.abs(y))
      z_hat, _ = net.entropy_bottleneck(z)
      params = net.h_s(z_hat)
      means = None
      if architecture == "mbt2018-mean":
        scales, means = params.chunk(2, 1)
      else:
        scales = params
      y_hat, _ = net.gaussian_conditional(y, scales, means=means)
      result["z_hat"] = z_hat.numpy()
      result["indexes"] = net.gaussian_conditional.build_indexes(
          scales).numpy().astype(np.int8)
    result["y_hat"] = y_hat.numpy()
    for name, value in likelihoods.items():
      result[f"likelihoods_{name}"] = value.numpy()
      result[f"bits_{name}"] = np.float64(
          -np.log2(value.numpy().astype(np.float64)).sum())
    x_hat = x_hat.numpy()
    result["x_hat_top_left"] = x_hat[0, :, :CORNER, :CORNER]
    result["x_hat_bottom_right"] = x_hat[0, :, -CORNER:, -CORNER:]
    result["x_hat_sums"] = x_hat[0].astype(np.float64).sum(axis=(1, 2))
    compressed = net.compress(x)
    names = ("y", "z")
    for name, strings in zip(names, compressed["strings"]):
      result[f"bytes_{name}"] = np.int64(sum(len(s) for s in strings))
    decoded = net.decompress(compressed["strings"], compressed["shape"])
    # CompressAI's own round trip (its decoder clips x̂ to [0, 1]).
    result["decoded_max_error"] = np.float64(
        (decoded["x_hat"] - torch.from_numpy(x_hat).clamp(0, 1)).abs().max())
  return result


def state_arrays(net):
  """The state dict as numpy arrays, less the Gaussian conditional's CDF
  table (the import ignores it)."""
  return {key: value.detach().cpu().numpy()
          for key, value in net.state_dict().items()
          if key != "gaussian_conditional._quantized_cdf"}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--output", default=os.path.join(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests",
      "data", "compressai"))
  args = parser.parse_args(argv)
  torch, compressai = import_compressai()
  from PIL import Image  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(1)
  os.makedirs(args.output, exist_ok=True)
  image = make_image()
  Image.fromarray(image).save(os.path.join(args.output, "input.png"))
  from compressai.models.base import get_scale_table  # pylint: disable=g-import-not-at-top
  summary = dict(
      compressai=compressai.__version__, torch=torch.__version__,
      num_filters=NUM_FILTERS, num_latents=NUM_LATENTS,
      image=list(IMAGE_SHAPE), scale_table=[
          float(v) for v in get_scale_table().numpy()],
      architectures={})
  x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.
  for architecture in ARCHITECTURES:
    for seed in range(1, 100):
      net = random_model(architecture, seed, image)
      rounding, scale, least = margins(architecture, net, x)
      if (rounding >= ROUNDING_MARGIN and scale >= SCALE_MARGIN and
          least >= LEAST_LIKELIHOOD):
        break
      print(f"{architecture} seed {seed}: margins {rounding:.2g} "
            f"{scale:.2g} {least:.2g}, drawing again", file=sys.stderr)
    else:
      raise RuntimeError(f"no seed of {architecture} has the margins")
    np.savez_compressed(os.path.join(args.output, f"{architecture}.npz"),
                        **state_arrays(net))
    result = outputs(architecture, net, image)
    np.savez_compressed(
        os.path.join(args.output, f"{architecture}-outputs.npz"), **result)
    summary["architectures"][architecture] = dict(
        seed=seed, rounding_margin=rounding, scale_margin=scale,
        least_likelihood=least,
        **{k: float(v) for k, v in result.items() if np.ndim(v) == 0})
    print(architecture, json.dumps(summary["architectures"][architecture]))
  with open(os.path.join(args.output, "fixtures.json"), "w") as f:
    json.dump(summary, f, indent=1)
    f.write("\n")


if __name__ == "__main__":
  main()
