"""Speed of lee2019's wavefront coding, recorded in results/bench/.

    python bench/bench_lee2019.py [--quality 3] [--images 4] [--model_path M]

Measures on this machine, for Kodak images, with the model of the paper's size
(q1-5: N=128, M=192, f 640 wide; an untrained model unless --model_path
gives an exported one — speed hardly depends on training):
  * compress and decompress seconds per image with the exported model loaded
    (`LoadedModel`, the CLI's path), mean over --images after a warm-up;
  * the same for the per-position reference path (`compress_reference`,
    `decompress_reference`: the same coding order, one position and one
    per-window f per step) on one image, and the ratio; every path is traced
    and run once before it is timed, then timed as the best of 2 (reference)
    or 3 (wavefront) runs;
  * the stages of that image: those both paths run alike (g_a and h_a, ẑ
    coding and h_s, g_s) and the coding of ŷ by each path (c′'s part of f and
    the sequential loop), the ratio of the latter, and the bound that the
    shared stages put on the whole ratio (the ratio if the wavefront coded ŷ
    in no time);
  * the parts of one wavefront decode's coding of ŷ: h_s and f's c′ part,
    gathering the windows, f on the windows, range decoding, the whole loop
    (also per step);
  * the number of sequential steps (W + 2H − 2 against W·H).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position
from tensorflow_compression.python.ops import gen_ops  # pylint: disable=g-import-not-at-top,wrong-import-position

from bench_codec import peak_gflops, time_codec, write_report  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfc_repro import cli, data, gaussian_coder, latent_coders, lee2019, results, savedmodel  # pylint: disable=g-import-not-at-top,wrong-import-position


def seconds(function, repeats=3):
  """Best wall time of `function()` over `repeats` runs after a warm-up."""
  function()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    function()
    best = min(best, time.perf_counter() - start)
  return best


def decode_parts(model, string, side_string, y_shape, z_shape):
  """Seconds of the parts of one wavefront decode, each run on its own."""
  # pylint: disable=protected-access
  coder = model.context_coder
  latents = latent_coders.Latents(
      strings={coder.name: string, "z": side_string},
      shapes={"y": y_shape, "z": z_shape})
  z_hat = model.coders["z"].decompress(latents)
  contexts, _ = model._contexts(z_hat, y_shape, False)
  y_hat = coder.decompress(latents, contexts)
  positions, starts = lee2019.wavefront_schedule(y_shape[0], y_shape[1])
  y_padded = tf.pad(tf.cast(y_hat, tf.float64), [*lee2019._PADDING, (0, 0)])
  taps = tf.constant(lee2019._VISIBLE_TAPS)
  steps = int(tf.size(starts)) - 1

  @tf.function
  def gather_only():
    total = tf.constant(0., tf.float64)
    for step in tf.range(steps):
      at = positions[starts[step]:starts[step + 1]]
      total += tf.reduce_sum(tf.gather_nd(y_padded, at[:, None] + taps[None]))
    return total

  windows = [tf.gather_nd(y_padded, positions[starts[s]:starts[s + 1], None] +
                          taps[None]) for s in range(steps)]
  context_rows = [tf.gather_nd(contexts["context_part"],
                               positions[starts[s]:starts[s + 1]])
                  for s in range(steps)]

  @tf.function
  def f_only():
    return [model.context_model.from_taps(w, c, contexts["weights"])
            for w, c in zip(windows, context_rows)]

  cells = [gaussian_coder.cells(*params) for params in f_only()]

  @tf.function
  def range_decode_only():
    handle = gen_ops.create_range_decoder(string, coder.tables.cdf)
    for cell, _ in cells:
      handle, _ = gen_ops.entropy_decode_index(handle, cell, tf.shape(cell),
                                               tf.int32)
    return gen_ops.entropy_decode_finalize(handle)

  parts = {
      "h_s_and_context_part": seconds(
          tf.function(lambda: model._contexts(z_hat, y_shape, False))),
      "gather_windows": seconds(gather_only),
      "f_on_windows": seconds(f_only),
      "range_decoding": seconds(range_decode_only),
      "whole_context_loop": seconds(tf.function(
          lambda: coder.decompress(latents, contexts))),
      "wavefront_steps": steps,
  }
  parts["per_step_milliseconds"] = {
      name: 1000 * parts[name] / steps for name in (
          "gather_windows", "f_on_windows", "range_decoding",
          "whole_context_loop")}
  return parts


def coding_stages(model, image, outputs):
  """Seconds of the stages of one compress and one decompress of `image`:
  those both paths run alike, and the coding of ŷ₁ by each path (c′'s part
  of f, or the padded c′, and the sequential loop)."""
  # pylint: disable=protected-access
  count = len(model.latent_names)
  string, side_string = outputs[0], outputs[count - 1]
  y_shape, z_shape = outputs[count + 1], outputs[count + 2]
  y_hat, z, _ = tf.function(lambda: model._analyse(image))()  # tiles: a graph
  coder, side_coder = model.context_coder, model.coders["z"]
  latents = latent_coders.Latents(
      strings={coder.name: string, "z": side_string},
      shapes={"y": y_shape, "z": z_shape})
  z_hat = side_coder.quantize(z)
  y_hat_1 = y_hat[..., :model.num_context_latents]

  def code_y(reference, decode):
    contexts, _ = model._contexts(z_hat, y_shape, reference)
    if decode:
      return coder.decompress(latents, contexts)
    return coder.compress(latent_coders.Latents(), y_hat_1, contexts)

  stages = {}
  for path, reference in (("wavefront", False), ("per_position", True)):
    for side, decode in (("compress", False), ("decompress", True)):
      stages[f"{path}_{side}_y"] = seconds(
          tf.function(lambda r=reference, d=decode: code_y(r, d)),
          repeats=2 if reference else 3)
  y_float = tf.cast(y_hat, tf.float32)[None]
  shared = {
      "g_a_and_h_a": seconds(tf.function(lambda: model._analyse(image))),
      "z_compress_and_h_s": seconds(tf.function(lambda: (
          side_coder.compress(latent_coders.Latents(), z),
          model.side_info(z_hat, y_shape)))),
      "z_decompress_and_h_s": seconds(tf.function(lambda: model.side_info(
          side_coder.decompress(latents), y_shape))),
      "g_s": seconds(tf.function(lambda: model.synthesis_transform(
          y_float))),
  }
  stages.update(shared)
  stages["shared_compress"] = (shared["g_a_and_h_a"] +
                               shared["z_compress_and_h_s"])
  stages["shared_decompress"] = (shared["z_decompress_and_h_s"] +
                                 shared["g_s"])
  return stages


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quality", type=int, default=3)
  parser.add_argument("--model_path", default=None,
                      help="An exported lee2019 model (default: untrained).")
  parser.add_argument("--images", type=int, default=4,
                      help="Kodak images to time the wavefront path on.")
  parser.add_argument("--output", default=os.path.join(
      ROOT, "results", "bench", "lee2019.json"))
  args = parser.parse_args()

  images = [data.read_image(p) for p in data.kodak_paths()[:args.images]]
  peak = peak_gflops()
  train_args = cli.build_parser(lee2019.SYSTEM).parse_args(
      ["train", "--profile", "paper", "--quality", str(args.quality)])
  cli.resolve_train_args(lee2019.SYSTEM, train_args)
  tf.keras.utils.set_random_seed(1)
  model = lee2019.build_model(train_args)
  model.prepare_for_compression()
  path = args.model_path
  if path is None:
    path = os.path.join(tempfile.mkdtemp(), "lee2019")
    savedmodel.export(model, path, {"note": "untrained, for speed only"})
  loaded = savedmodel.LoadedModel(path)
  encode, decode = time_codec(loaded, images)
  print(f"wavefront (exported): compress {statistics.mean(encode):.3f} s, "
        f"decompress {statistics.mean(decode):.3f} s", flush=True)

  # The in-process model, both paths, on the first image.
  image = images[0]
  outputs = model.compress(image)[:-1]  # without the latent digest
  count = len(model.latent_names)
  wavefront_encode = seconds(lambda: model.compress(image), repeats=3)
  wavefront_decode = seconds(lambda: model.decompress(*outputs), repeats=3)
  reference = model.compress_reference(image)
  reference_encode = seconds(lambda: model.compress_reference(image),
                             repeats=2)
  decoded = model.decompress_reference(*outputs)[0]
  reference_decode = seconds(lambda: model.decompress_reference(*outputs),
                             repeats=2)
  same = all(a.numpy() == b.numpy() for a, b in zip(outputs[:count],
                                                    reference[:count]))
  same = same and bool(tf.reduce_all(decoded == model.decompress(*outputs)[0]))
  print(f"reference: compress {reference_encode:.2f} s, decompress "
        f"{reference_decode:.2f} s, same file and image: {same}", flush=True)
  parts = decode_parts(model, outputs[0], outputs[count - 1],
                       outputs[count + 1], outputs[count + 2])
  stages = coding_stages(model, image, outputs)
  print(json.dumps(stages, indent=2), flush=True)
  height, width = (int(v) for v in outputs[count + 1])
  report = {
      "system": "lee2019",
      "machine": results.machine_info(),
      "peak_gflops": peak,
      "model": path if args.model_path else "untrained, paper size",
      "config": model.config,
      "kodak_images": len(images),
      "image_shape": list(image.shape),
      "latent_shape": [height, width],
      "sequential_steps": {"wavefront": width + 2 * height - 2,
                           "per_position": width * height},
      "exported": {
          "compress_seconds_mean": statistics.mean(encode),
          "decompress_seconds_mean": statistics.mean(decode),
          "compress_seconds_all": encode,
          "decompress_seconds_all": decode,
      },
      "in_process_first_image": {
          "wavefront_compress_seconds": wavefront_encode,
          "wavefront_decompress_seconds": wavefront_decode,
          "reference_compress_seconds": reference_encode,
          "reference_decompress_seconds": reference_decode,
          "compress_speedup": reference_encode / wavefront_encode,
          "decompress_speedup": reference_decode / wavefront_decode,
          "reference_decodes_the_same_file": same,
      },
      "stages_first_image_seconds": stages,
      "speedups_first_image": {
          # The coding of ŷ₁ alone: what the wavefront changes.
          "compress_y": (stages["per_position_compress_y"] /
                         stages["wavefront_compress_y"]),
          "decompress_y": (stages["per_position_decompress_y"] /
                           stages["wavefront_decompress_y"]),
          # Whole compress / decompress, as measured above.
          "compress": reference_encode / wavefront_encode,
          "decompress": reference_decode / wavefront_decode,
          # The whole ratio if the wavefront coded ŷ₁ in no time: the
          # reference's time over the stages both paths share (Amdahl).
          "compress_bound": reference_encode / stages["shared_compress"],
          "decompress_bound": (reference_decode /
                               stages["shared_decompress"]),
      },
      "decode_parts_seconds": parts,
  }
  write_report(report, args.output)
  print(json.dumps({k: report[k] for k in (
      "exported", "in_process_first_image", "speedups_first_image",
      "decode_parts_seconds")},
                   indent=2))
  print(f"wrote {args.output}")


if __name__ == "__main__":
  main()
