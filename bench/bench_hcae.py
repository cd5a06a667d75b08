"""Speed of the hcae hierarchical VAE (6 levels), recorded in results/bench/.

    TFC_REPRO_DATA=../shared/data python bench/bench_hcae.py [--runs 5]

(from the repository root) writes results/bench/hcae.json. `--quick` is a
smoke test of the script: a tiny model (F=16), 1 run, written to --output
(default /tmp/hcae_bench_quick.json, so that it never replaces the real
measurement).

Measures, on this machine and in one run, for the model of the paper's size
(F=192, latent channels 4, 8, 16, 32, 64, 128, meanscale prior; untrained,
seed 1: speed does not depend on training) on one Kodak image (kodim01 by
default, 512x768):
  * the SavedModel users run: export time (`savedmodel.export`, which freezes
    the SignalConv2D layers into plain convolutions), load time
    (`savedmodel.LoadedModel(path)`), the size of saved_model.pb and of the
    whole directory, and the first compress and decompress after loading
    (they instantiate and optimize the functions' graphs);
  * compress and decompress seconds of the loaded model: warm-up, then best
    of --runs (`bench_codec.time_codec` on the image repeated);
  * the transforms' floating-point floor: the convolution and GDN FLOPs that
    each direction must run (`bench_codec.conv_flops`, layer by layer)
    divided by the machine's peak (`bench_codec.peak_gflops`, measured in the
    same run), and time / floor (goal <= 1.5). Compress runs the bottom-up
    pass E_1..E_L and the top-down pass on the quantized latents: D_L..D_2,
    every level's prior, posterior (BU and TD) nets and the update nets of
    levels L-1..2; not the update of level 1 nor D_1, whose outputs compress
    does not use (TensorFlow prunes stateless ops whose outputs are unused).
    Decompress runs D_L..D_2, every level's prior and update nets (not the
    posterior nets) and D_1;
  * per-level times with the in-memory frozen model (the same functions the
    SavedModel holds): tf.functions that run compress's or decompress's pass
    only until level k's latent is coded (the same model code, stopped there)
    are timed for k = L..1 (best of --runs after tracing); a level's time is
    the difference between consecutive stops. Each level's entropy coding
    alone (range coding its latent with the model's indexes and means) is
    timed too, and each stage's FLOP floor given beside it.

Run it with `nice` on an otherwise idle machine; it uses every core
TensorFlow sees. Export and load of an hcae SavedModel take tens of seconds
when protobuf runs in pure Python.
"""

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from bench_codec import conv_flops, peak_gflops, time_codec, write_report  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfc_repro import data, hcae, latent_coders, results, savedmodel  # pylint: disable=g-import-not-at-top,wrong-import-position

PAPER = dict(num_filters=192, latent_channels=(4, 8, 16, 32, 64, 128),
             prior="meanscale")
QUICK_FILTERS = 16
GOAL_OVER_FLOOR = 1.5


class _NoRetracingWarning(logging.Filter):
  """Drops TensorFlow's "triggered tf.function retracing" warnings: the
  per-level functions are made on purpose one per stop, from the same Python
  code, and each is traced once."""

  def filter(self, record):
    return "triggered tf.function retracing" not in record.getMessage()


def best_seconds(function, runs):
  """(best, all) wall seconds of `function()` over `runs` runs, after one
  untimed call (which traces it)."""
  function()
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    function()
    times.append(time.perf_counter() - start)
  return min(times), times


# -- FLOPs ----------------------------------------------------------------------


def layer_flops(layer, shape):
  """FLOPs of one (frozen) SignalConv2D layer on an input of `shape`."""
  return conv_flops(types.SimpleNamespace(layers=[layer]), shape)


def resized(shape, stride, down, channels):
  """Output shape of a layer with `stride` on the analysis (down) or
  synthesis (up) side."""
  _, height, width, _ = shape
  if down:
    return (1, height // stride, width // stride, channels)
  return (1, height * stride, width * stride, channels)


def block_flops(block, shape):
  """FLOPs of a `transforms.ResidualBlock` (conv_1, conv_2, shortcut) on an
  input of `shape`, and its output shape."""
  hidden = resized(shape, block.stride, block.down, block.filters)
  flops = layer_flops(block.conv_1, shape) + layer_flops(block.conv_2, hidden)
  if block.shortcut is not None:
    flops += layer_flops(block.shortcut, shape)
  return flops, resized(shape, block.stride, block.down, block.output_filters)


def transform_flops(model, padded_shape):
  """{part: FLOPs} of every net of the model for one image of
  `padded_shape` (1, H, W, 3), H and W multiples of the stride. Parts:
  E1..EL, D2..DL, D1, and prior_k, posterior_k (BU and TD), update_k for
  k = 1..L-1."""
  flops = {}
  shape = padded_shape
  for k, block in enumerate(model.bottom_up, 1):
    flops[f"E{k}"], shape = block_flops(block, shape)
  for k in range(model.levels - 1, 0, -1):
    flops[f"D{k + 1}"], t_shape = block_flops(model.top_down[k - 1], shape)
    latent = model.latent_blocks[k - 1]
    channels = latent.latent_channels
    flops[f"prior_{k}"] = layer_flops(latent.prior_net, t_shape)
    # b_k has the shape of t_k (F channels at level k).
    flops[f"posterior_{k}"] = (layer_flops(latent.posterior_bottom_up, t_shape)
                               + layer_flops(latent.posterior_top_down,
                                             t_shape))
    flops[f"update_{k}"] = layer_flops(latent.update,
                                       t_shape[:3] + (2 * channels,))
    shape = t_shape
  flops["D1"] = layer_flops(model.to_image, shape)
  return flops


def stage_flops(model, flops):
  """FLOPs of the stages that the per-level times measure (see
  `level_times`), for compress and decompress: {stage: FLOPs}, in order."""
  levels = model.levels
  encode = {"bottom_up": sum(flops[f"E{k}"] for k in range(1, levels + 1)),
            f"z{levels}": 0}
  decode = {f"z{levels}": 0}
  for k in range(levels - 1, 0, -1):
    above = flops[f"update_{k + 1}"] if k + 1 < levels else 0
    common = above + flops[f"D{k + 1}"] + flops[f"prior_{k}"]
    encode[f"z{k}"] = common + flops[f"posterior_{k}"]
    decode[f"z{k}"] = common
  encode["rest"] = 0  # update_1 and D1: pruned (outputs unused).
  decode["image"] = flops["update_1"] + flops["D1"]
  return encode, decode


# -- Per-level times ----------------------------------------------------------------


class _Reached(Exception):
  """Raised while tracing, to stop a pass once a level's latent is coded."""

  def __init__(self, outputs):
    super().__init__()
    self.outputs = outputs


def encode_until(model, stop):
  """tf.function: compress's pass (hcae `encode` with the coders'
  `compress`) until level `stop`'s latent is coded; `stop=None` runs the
  bottom-up pass only. Returns the strings coded so far and the quantized
  latent of level `stop`."""

  @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
  def run(image):
    x, _ = model.prepare_image(image)
    if stop is None:
      features, mean_top = model.bottom_up_pass(x)
      return (*features, mean_top)
    latents = latent_coders.Latents()
    compress = latents.coding("compress")

    def code(coder, *values, **params):
      quantized = compress(coder, *values, **params)
      if coder.name == f"z{stop}":
        raise _Reached((*latents.strings.values(), quantized))
      return quantized

    try:
      model.encode(x, code)
    except _Reached as reached:
      return reached.outputs
    raise AssertionError(f"level {stop} never reached")

  return run


def decode_until(model, stop):
  """tf.function: decompress's pass (hcae `decode` with the coders'
  `decompress`) until level `stop`'s latent is decoded; returns that
  latent."""

  @tf.function
  def run(strings, shapes):
    decompress = latent_coders.Latents(
        strings=dict(zip(model.latent_names, strings)),
        shapes=dict(zip(model.latent_names, shapes))).coding("decompress")

    def code(coder, *params, **options):
      z = decompress(coder, *params, **options)
      if coder.name == f"z{stop}":
        raise _Reached(z)
      return z

    try:
      model.decode(code)
    except _Reached as reached:
      return reached.outputs
    raise AssertionError(f"level {stop} never reached")

  return run


def coder_functions(coder, string, shape):
  """tf.functions of a level's coder alone: encode(values, conditions,
  params) codes a latent, decode(conditions, params) decodes `string` (of
  `shape`) with the recode check."""

  @tf.function
  def encode(values, conditions, params):
    return coder.compress(latent_coders.Latents(), values, *conditions,
                          **params)

  @tf.function
  def decode(conditions, params):
    latents = latent_coders.Latents(strings={coder.name: string},
                                    shapes={coder.name: shape})
    return coder.decompress(latents, *conditions, **params)

  return encode, decode


def entropy_coding_times(model, image, strings, shapes, runs):
  """{level: (encode, decode) best seconds} of each level's coder alone (its
  `compress`, and its `decompress` with the recode check), with the indexes
  and means the model derives for `image`."""
  x, _ = model.prepare_image(tf.constant(image))
  estimate = latent_coders.Latents().coding("estimate")
  inputs = {}

  def code(coder, values, *conditions, **params):
    inputs[coder.name] = (values, conditions, params)
    return estimate(coder, values, *conditions, **params)

  model.encode(x, code)
  times = {}
  for i, name in enumerate(model.latent_names):
    values, conditions, params = inputs[name]
    encode, decode = coder_functions(model.coders[name], strings[i],
                                     shapes[i])
    times[model.levels - i] = (
        best_seconds(lambda f=encode, v=values, c=conditions, p=params:
                     f(v, c, p), runs)[0],
        best_seconds(lambda f=decode, c=conditions, p=params: f(c, p),
                     runs)[0])
  return times


def level_times(model, image, runs, peak, flops):
  """Per-level stage times of compress and decompress (in-memory model)."""
  levels = model.levels
  x = tf.constant(image)
  outputs = model.compress(x)[:-1]  # without the latent digest
  strings, shapes = outputs[:levels], outputs[levels + 1:]
  full_encode = best_seconds(lambda: model.compress(x), runs)[0]
  full_decode = best_seconds(lambda: model.decompress(*outputs), runs)[0]

  encode_stops = [None] + list(range(levels, 0, -1))
  encode = {stop: best_seconds(lambda f=encode_until(model, stop): f(x),
                               runs)[0] for stop in encode_stops}
  decode = {stop: best_seconds(
      lambda f=decode_until(model, stop): f(strings, shapes), runs)[0]
            for stop in range(levels, 0, -1)}
  coding = entropy_coding_times(model, image, strings, shapes, runs)
  encode_flops, decode_flops = stage_flops(model, flops)
  level_shapes = dict(zip(range(levels, 0, -1),
                          (tuple(int(d) for d in s) for s in shapes)))
  channels = model.config["latent_channels"]

  def row(stage, seconds, stage_flops_, k=None, coding_seconds=None):
    entry = {"stage": stage, "seconds": seconds,
             "gflop": stage_flops_ / 1e9,
             "floor_seconds": stage_flops_ / (peak * 1e9)}
    if k is not None:
      entry.update(latent_shape=[*level_shapes[k], channels[k - 1]],
                   entropy_coding_seconds=coding_seconds)
    return entry

  compress_rows = [row("bottom_up", encode[None], encode_flops["bottom_up"])]
  previous = encode[None]
  for k in range(levels, 0, -1):
    compress_rows.append(row(f"z{k}", encode[k] - previous,
                             encode_flops[f"z{k}"], k, coding[k][0]))
    previous = encode[k]
  compress_rows.append(row("rest", full_encode - previous, 0))

  decompress_rows = []
  previous = 0.
  for k in range(levels, 0, -1):
    decompress_rows.append(row(f"z{k}", decode[k] - previous,
                               decode_flops[f"z{k}"], k, coding[k][1]))
    previous = decode[k]
  decompress_rows.append(row("image", full_decode - previous,
                             decode_flops["image"]))
  return {
      "in_memory_compress_seconds_best": full_encode,
      "in_memory_decompress_seconds_best": full_decode,
      "compress_until_seconds": {("bottom_up" if k is None else f"z{k}"): v
                                 for k, v in encode.items()},
      "decompress_until_seconds": {f"z{k}": v for k, v in decode.items()},
      "compress": compress_rows,
      "decompress": decompress_rows,
  }


LEVEL_NOTES = {
    "what": "Per-level times of the in-memory frozen model (the functions "
            "the SavedModel holds, without the file container). "
            "*_until_seconds[s] is the best time of the pass run until stage "
            "s is done (tf.functions of the same model code, stopped there); "
            "each row's seconds is the difference from the previous stop, so "
            "the rows add up to in_memory_(de)compress_seconds_best. "
            "Small levels can show a few ms of noise, even negative.",
    "compress_stages": "bottom_up: E1..EL. zL: range coding and quantizing "
                       "the top latent. zk (k<L): update_(k+1) (none above "
                       "the top), D_(k+1), prior_k, posterior_k (BU, TD), "
                       "range coding and quantizing z_k. rest: the full "
                       "compress minus the pass until z1 (outputs; update_1 "
                       "and D1 are not run).",
    "decompress_stages": "zL: range decoding the top latent (and the call's "
                         "fixed cost). zk (k<L): update_(k+1) (none above "
                         "the top), D_(k+1), prior_k, range decoding z_k. "
                         "image: update_1, D1, crop and rounding.",
    "entropy_coding_seconds": "That level's coder alone, best of the "
                              "runs, with the model's scale indexes and "
                              "means for the image: range coding its latent "
                              "(compress rows) or decoding it and checking "
                              "that it codes back to its string (decompress "
                              "rows): the part of the stage that is not "
                              "convolutions.",
    "floor_seconds": "The stage's convolution and GDN FLOPs / peak.",
}


# -- Main -----------------------------------------------------------------------------


def directory_bytes(path):
  return sum(os.path.getsize(os.path.join(d, f))
             for d, _, files in os.walk(path) for f in files)


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true",
                      help=f"Smoke test: F={QUICK_FILTERS}, 1 run.")
  parser.add_argument("--num_filters", type=int, default=None,
                      help="Override F (default 192, or "
                           f"{QUICK_FILTERS} with --quick).")
  parser.add_argument("--runs", type=int, default=None,
                      help="Timed runs after the warm-up; the best counts "
                           "(default 5, or 1 with --quick).")
  parser.add_argument("--image", type=int, default=0,
                      help="Index of the Kodak image (0: kodim01).")
  parser.add_argument("--output", default=None,
                      help="JSON file (default results/bench/hcae.json, or "
                           "/tmp/hcae_bench_quick.json with --quick).")
  args = parser.parse_args()
  tf.get_logger().addFilter(_NoRetracingWarning())
  num_filters = args.num_filters or (QUICK_FILTERS if args.quick else
                                     PAPER["num_filters"])
  runs = args.runs or (1 if args.quick else 5)
  output = args.output or (
      os.path.join(tempfile.gettempdir(), "hcae_bench_quick.json")
      if args.quick else os.path.join(ROOT, "results", "bench", "hcae.json"))

  path = data.kodak_paths()[args.image]
  image = data.read_image(path)
  peak = peak_gflops()
  print(f"peak {peak:.1f} GFLOP/s", flush=True)

  tf.keras.utils.set_random_seed(1)
  model = hcae.HierarchicalModel(**dict(PAPER, num_filters=num_filters))
  model.prepare_for_compression()
  work = tempfile.mkdtemp()
  model_path = os.path.join(work, "model")
  start = time.perf_counter()
  savedmodel.export(model, model_path, {"note": "untrained, for speed only"})
  export_seconds = time.perf_counter() - start
  start = time.perf_counter()
  loaded = savedmodel.LoadedModel(model_path)
  load_seconds = time.perf_counter() - start
  print(f"export {export_seconds:.1f} s, load {load_seconds:.1f} s",
        flush=True)

  # The first calls after loading instantiate and optimize the graphs.
  start = time.perf_counter()
  bitstream = loaded.compress(image)
  first_compress = time.perf_counter() - start
  start = time.perf_counter()
  loaded.decompress(bitstream)
  first_decompress = time.perf_counter() - start
  encode, decode = time_codec(loaded, [image] * runs)
  print(f"compress {min(encode):.3f} s, decompress {min(decode):.3f} s "
        f"(best of {runs})", flush=True)

  # export froze `model` in place: it now runs what the SavedModel runs.
  # Check that it also codes the same bits.
  strings = [s.numpy() for s in model.compress(tf.constant(image))
             [:model.levels]]
  assert strings == list(bitstream.strings), "in-memory model codes otherwise"
  padded = tuple(-(-d // model.stride) * model.stride for d in image.shape[:2])
  flops = transform_flops(model, (1, *padded, 3))
  levels = model.levels
  encode_parts, decode_parts = stage_flops(model, flops)
  compress_flops = sum(encode_parts.values())
  decompress_flops = sum(decode_parts.values())
  compress_floor = compress_flops / (peak * 1e9)
  decompress_floor = decompress_flops / (peak * 1e9)
  per_level = level_times(model, image, runs, peak, flops)
  for direction in ("compress", "decompress"):
    print(direction + ": " + ", ".join(
        f"{r['stage']} {r['seconds'] * 1e3:.1f} ms"
        for r in per_level[direction]), flush=True)

  weight_bytes = sum(int(tf.size(v)) * v.dtype.size
                     for v in loaded._module.weights)  # pylint: disable=protected-access
  report = {
      "system": "hcae",
      "quick": args.quick,
      "model": loaded.metadata["config"],
      "model_note": "untrained (seed 1), exported with savedmodel.export "
                    "(frozen transforms) and loaded with LoadedModel",
      "machine": results.machine_info(),
      "peak_gflops": peak,
      "image": os.path.basename(path),
      "image_shape": list(image.shape),
      "padded_shape": list(padded),
      "runs": runs,
      "savedmodel": {
          "export_seconds": export_seconds,
          "load_seconds": load_seconds,
          "saved_model_pb_bytes": os.path.getsize(
              os.path.join(model_path, "saved_model.pb")),
          "directory_bytes": directory_bytes(model_path),
          "weight_bytes": weight_bytes,
          "first_compress_seconds": first_compress,
          "first_decompress_seconds": first_decompress,
      },
      "compress_seconds_best": min(encode),
      "decompress_seconds_best": min(decode),
      "compress_seconds_mean": statistics.mean(encode),
      "decompress_seconds_mean": statistics.mean(decode),
      "compress_seconds_all": encode,
      "decompress_seconds_all": decode,
      "transform_gflop": {k: v / 1e9 for k, v in flops.items()},
      "compress_gflop": compress_flops / 1e9,
      "decompress_gflop": decompress_flops / 1e9,
      "compress_floor_seconds": compress_floor,
      "decompress_floor_seconds": decompress_floor,
      "compress_over_floor": min(encode) / compress_floor,
      "decompress_over_floor": min(decode) / decompress_floor,
      "goal_over_floor": GOAL_OVER_FLOOR,
      "levels": per_level,
      "notes": {
          "times": "compress/decompress_seconds_*: the loaded SavedModel "
                   "(LoadedModel.compress/decompress, as the CLI), after a "
                   "warm-up; *_over_floor uses the best of the runs.",
          "floor": "Convolution and GDN FLOPs (bench_codec.conv_flops, 2 "
                   "per multiply-add; activations and range coding not "
                   "counted) / peak_gflops. Compress: E1..E%d, D%d..D2, "
                   "prior, posterior and update nets (update of levels "
                   "%d..2 only). Decompress: D%d..D2, prior and update "
                   "nets, D1." % (levels, levels, levels - 1, levels),
          "savedmodel": "load_seconds: LoadedModel(path) right after "
                        "export, in the same process. first_*_seconds: the "
                        "first calls after loading (graph instantiation "
                        "and optimization included).",
          **{f"levels_{k}": v for k, v in LEVEL_NOTES.items()},
      },
  }
  write_report(report, output)
  print(json.dumps({k: report[k] for k in (
      "peak_gflops", "compress_seconds_best", "decompress_seconds_best",
      "compress_floor_seconds", "decompress_floor_seconds",
      "compress_over_floor", "decompress_over_floor", "savedmodel")},
                   indent=2))
  print(f"wrote {output}")


if __name__ == "__main__":
  main()
