"""Speed and size benchmark of one system, recorded in results/bench/.

    python bench/bench_codec.py --system bls2017 [--model_path DIR]

Measures, on this machine:
  * compress and decompress seconds per Kodak image with the model loaded
    (mean over the images after a warm-up), and the transforms' floating
    point floor: convolution FLOPs / the machine's peak;
  * the command line end to end (process start to file written) for one
    Kodak image, median of several runs;
  * training seconds per step at batch 8 / 256x256 and the achieved GFLOP/s;
  * the machine's peak: the best of a large float32 matrix multiply and a
    large convolution, measured in the same run;
  * SavedModel size against the bytes of the weights it holds.

Without --model_path an untrained model of the paper's size is exported to a
temporary directory: speed does not depend on training. Exported models code
with frozen plain convolutions (`transforms.freeze_transform`: the kernels
evaluated once from their RDFT parameters at export, instead of on every
call), so the coding times are those of the frozen model; the training step
is timed on a fresh model with the RDFT `SignalConv2D` layers, as training
runs.
"""

import argparse
import importlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow_compression as tfc  # pylint: disable=g-import-not-at-top,wrong-import-position

from tfc_repro import cli, data, results, savedmodel, transforms  # pylint: disable=g-import-not-at-top,wrong-import-position


def peak_gflops(repeats=5):
  """Best GFLOP/s of a large matmul and a large convolution (float32)."""
  a = tf.random.normal((2048, 2048))
  matmul = tf.function(lambda a: tf.matmul(a, a))
  x = tf.random.normal((1, 128, 192, 192))
  k = tf.random.normal((5, 5, 192, 192))
  conv = tf.function(lambda x: tf.nn.conv2d(x, k, 1, "SAME"))
  best = 0.0
  for function, arg, flops in ((matmul, a, 2 * 2048 ** 3),
                               (conv, x, 2 * 128 * 192 * 25 * 192 * 192)):
    function(arg).numpy()
    for _ in range(repeats):
      start = time.perf_counter()
      function(arg).numpy()
      best = max(best, flops / (time.perf_counter() - start) / 1e9)
  return best


def conv_flops(stack, input_shape):
  """FLOPs (2 per multiply-add) of the convolutions and GDNs of a stack
  (of `SignalConv2D` layers, or their frozen copies)."""
  flops = 0
  x = tf.zeros(input_shape)
  for layer in stack.layers:
    y = layer(x)
    if isinstance(layer, (tfc.SignalConv2D, transforms.FrozenSignalConv2D)):
      kh, kw = layer.kernel_support
      c_in, c_out = x.shape[-1], y.shape[-1]
      # Multiply-adds happen at the high-resolution side of the layer.
      positions = max(x.shape[1] * x.shape[2], y.shape[1] * y.shape[2])
      stride = (layer.strides_down[0] if layer.corr else layer.strides_up[0])
      flops += 2 * kh * kw * c_in * c_out * positions // stride ** 2
      if isinstance(layer.activation, tfc.GDN):
        flops += 2 * c_out * c_out * y.shape[1] * y.shape[2]
    x = y
  return flops


def time_codec(loaded, images):
  """Seconds of compress and decompress per image, after a warm-up."""
  loaded.decompress(loaded.compress(images[0]))
  encode, decode = [], []
  for image in images:
    start = time.perf_counter()
    bitstream = loaded.compress(image)
    encode.append(time.perf_counter() - start)
    start = time.perf_counter()
    decoded = loaded.decompress(bitstream)
    decode.append(time.perf_counter() - start)
    assert decoded.shape == image.shape
  return encode, decode


def time_train_step(model, steps):
  """Mean seconds per training step at batch 8 / 256x256 (after 2 warm-up
  steps)."""
  model.compile(optimizer=tf.keras.optimizers.Adam(1e-4))
  batch = tf.random.uniform((8, 256, 256, 3), 0, 255)
  dataset = tf.data.Dataset.from_tensors(batch).repeat()
  model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
  start = time.perf_counter()
  model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
  return (time.perf_counter() - start) / steps


def write_report(report, output):
  """Adds how and when it was measured to `report` and writes it as JSON."""
  report.update(
      command=shlex.join(["python", os.path.relpath(sys.argv[0], ROOT)]
                         + sys.argv[1:]),
      load_average_after=os.getloadavg(),
      measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
  os.makedirs(os.path.dirname(output), exist_ok=True)
  with open(output, "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--system", default="bls2017")
  parser.add_argument("--model_path", default=None)
  parser.add_argument("--images", type=int, default=24,
                      help="Kodak images to time compress/decompress on.")
  parser.add_argument("--cli_runs", type=int, default=3)
  parser.add_argument("--train_steps", type=int, default=10)
  parser.add_argument("--output", default=None,
                      help="JSON file (default results/bench/SYSTEM.json).")
  parser.add_argument("model_flags", nargs="*",
                      help="Extra train flags for the untrained model, "
                           "e.g. -- --num_filters 192.")
  args = parser.parse_args()
  module = importlib.import_module(f"tfc_repro.{args.system}")
  system = module.SYSTEM

  train_args = cli.build_parser(system).parse_args(
      ["--model_path", "unused", "train", "--profile", "paper",
       "--batchsize", "8", "--patchsize", "256", *args.model_flags])
  cli.resolve_train_args(system, train_args)
  model = system.build_model(train_args)
  work = tempfile.mkdtemp()
  model_path = args.model_path
  if model_path is None:
    model.prepare_for_compression()
    model_path = os.path.join(work, "model")
    savedmodel.export(model, model_path, {"note": "untrained, for speed only"})
  loaded = savedmodel.LoadedModel(model_path)

  peak = peak_gflops()
  paths = data.kodak_paths()[:args.images]
  images = [data.read_image(p) for p in paths]
  encode, decode = time_codec(loaded, images)

  shape = (1,) + images[0].shape
  latent_shape = (1, shape[1] // 16, shape[2] // 16,
                  model.analysis_transform(tf.zeros(shape)).shape[-1])
  analysis_flops = conv_flops(model.analysis_transform, shape)
  synthesis_flops = conv_flops(model.synthesis_transform, latent_shape)

  # Command line, process start to file written.
  env = dict(os.environ, PYTHONPATH=ROOT)
  output_file = os.path.join(work, "out.tfci")
  cli_times = []
  for _ in range(args.cli_runs):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", f"tfc_repro.{args.system}",
                    "--model_path", model_path, "compress", paths[0],
                    output_file], check=True, env=env, capture_output=True)
    cli_times.append(time.perf_counter() - start)

  # Training step at batch 8 / 256x256, on a fresh model: the exported one
  # has frozen transforms, which do not train.
  step_seconds = time_train_step(system.build_model(train_args),
                                 args.train_steps)
  # Forward + backward ~ 3x the forward FLOPs of the transforms.
  train_flops = 3 * 8 * (conv_flops(model.analysis_transform, (1, 256, 256, 3))
                         + conv_flops(model.synthesis_transform,
                                      (1, 16, 16, latent_shape[-1])))

  weight_bytes = sum(int(tf.size(v)) * v.dtype.size
                     for v in loaded._module.weights)  # pylint: disable=protected-access
  saved_bytes = sum(os.path.getsize(os.path.join(d, f))
                    for d, _, files in os.walk(model_path) for f in files)

  report = {
      "system": args.system,
      "model": loaded.metadata.get("config"),
      "model_path": args.model_path or "untrained model of the paper's size",
      "machine": results.machine_info(),
      "peak_gflops": peak,
      "kodak_images": len(images),
      "compress_seconds_mean": statistics.mean(encode),
      "decompress_seconds_mean": statistics.mean(decode),
      "analysis_gflop": analysis_flops / 1e9,
      "synthesis_gflop": synthesis_flops / 1e9,
      "compress_floor_seconds": analysis_flops / (peak * 1e9),
      "decompress_floor_seconds": synthesis_flops / (peak * 1e9),
      "cli_compress_seconds_median": statistics.median(cli_times),
      "cli_compress_seconds_all": cli_times,
      "train_step_seconds_batch8_256": step_seconds,
      "train_achieved_gflops": train_flops / step_seconds / 1e9,
      "savedmodel_bytes": saved_bytes,
      "weight_bytes": weight_bytes,
      "savedmodel_over_weights": saved_bytes / weight_bytes,
  }
  output = args.output or os.path.join(ROOT, "results", "bench",
                                       f"{args.system}.json")
  write_report(report, output)
  for key, value in report.items():
    if isinstance(value, float):
      print(f"{key:34s} {value:.4g}")
  print(f"wrote {output}")


if __name__ == "__main__":
  main()
