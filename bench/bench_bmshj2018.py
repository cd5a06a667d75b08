"""Speed of the bmshj2018 scale hyperprior, recorded in results/bench/.

    python bench/bench_bmshj2018.py [--quality 3] [--images 8]

Measures, on this machine and in one run, for the hyperprior model of the
paper's size (N=128, M=192 at q1-5; an untrained model: speed does not depend
on training), once with TFC's `SignalConv2D` (rdft kernels, as the paper's
and TFC's models) and once with plain Keras `Conv2D`/`Conv2DTranspose` of the
same architecture (`transforms.py`, conv="keras"):
  * compress and decompress seconds per Kodak image with the exported model
    loaded (mean over --images images after a warm-up). The "signal" row is
    what users get: `savedmodel.export` freezes the `SignalConv2D` layers
    into plain convolutions holding the kernels evaluated once
    (`transforms.freeze_transform`), since recomputing every kernel from its
    RDFT parameters on each call made coding about twice as slow. The
    "signal_unfrozen" row times the same model exported with its
    `SignalConv2D` layers as they are (`export(..., freeze=False)`), for
    comparison (coding only);
  * the transforms' floating-point floor: the convolution and GDN FLOPs of
    g_a, h_a, h_s, g_s divided by the machine's peak (the best of a large
    matmul and a large convolution, measured in the same run). Compress runs
    g_a, h_a and h_s (the encoder derives σ̂ from ẑ); decompress h_s and g_s;
  * training seconds per step at batch 8 / 256x256 and the achieved GFLOP/s
    (training always runs the RDFT `SignalConv2D` layers).

Run it with `nice` on a shared machine; it uses every core TensorFlow sees.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from bench_codec import conv_flops, peak_gflops, time_codec, time_train_step, write_report  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfc_repro import bmshj2018, cli, data, results, savedmodel  # pylint: disable=g-import-not-at-top,wrong-import-position


def build(conv, flags):
  """The hyperprior model of the paper profile with `flags`, and its args."""
  args = cli.build_parser(bmshj2018.SYSTEM).parse_args(
      ["--model_path", "unused", "train", "--profile", "paper",
       "--model", "hyperprior", "--conv", conv, *flags])
  cli.resolve_train_args(bmshj2018.SYSTEM, args)
  return bmshj2018.build_model(args), args


def transform_flops(model, image_shape):
  """FLOPs of g_a, h_a, h_s and g_s for one image of `image_shape` (H, W, 3)
  padded to the model's stride."""
  stride = model.stride
  height = -(-image_shape[0] // stride) * stride
  width = -(-image_shape[1] // stride) * stride
  y = model.analysis_transform(tf.zeros((1, height, width, 3)))
  z = model.hyper_analysis_transform(y)
  return {
      "g_a": conv_flops(model.analysis_transform, (1, height, width, 3)),
      "h_a": conv_flops(model.hyper_analysis_transform, y.shape),
      "h_s": conv_flops(model.hyper_synthesis_transform, z.shape),
      "g_s": conv_flops(model.synthesis_transform, y.shape),
  }


def measure_codec(model, images, work, freeze=True):
  """Exports `model` (with frozen transforms unless `freeze` is False) and
  times compress/decompress per image (seconds)."""
  model.prepare_for_compression()
  path = os.path.join(work, model.config["conv"] + ("" if freeze else
                                                    "_unfrozen"))
  savedmodel.export(model, path, {"note": "untrained, for speed only"},
                    freeze=freeze)
  return time_codec(savedmodel.LoadedModel(path), images)


def codec_row(encode, decode, report):
  """Mean, per-image and floor-relative coding seconds."""
  return {
      "compress_seconds_mean": statistics.mean(encode),
      "decompress_seconds_mean": statistics.mean(decode),
      "compress_seconds_all": encode,
      "decompress_seconds_all": decode,
      "compress_over_floor": statistics.mean(encode) / report[
          "compress_floor_seconds"],
      "decompress_over_floor": statistics.mean(decode) / report[
          "decompress_floor_seconds"],
  }


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quality", type=int, default=3,
                      help="Quality level: picks N and M (128/192 for q1-5).")
  parser.add_argument("--num_filters", type=int, default=None,
                      help="Override N (e.g. small, to try the script).")
  parser.add_argument("--num_latents", type=int, default=None,
                      help="Override M.")
  parser.add_argument("--images", type=int, default=8,
                      help="Kodak images to time compress/decompress on.")
  parser.add_argument("--train_steps", type=int, default=4)
  parser.add_argument("--skip_unfrozen", action="store_true",
                      help="Do not time the unfrozen SignalConv2D export.")
  parser.add_argument("--output", default=os.path.join(
      ROOT, "results", "bench", "bmshj2018.json"))
  args = parser.parse_args()
  flags = ["--quality", str(args.quality)]
  for name in ("num_filters", "num_latents"):
    if getattr(args, name):
      flags += [f"--{name}", str(getattr(args, name))]

  paths = data.kodak_paths()[:args.images]
  images = [data.read_image(p) for p in paths]
  peak = peak_gflops()
  work = tempfile.mkdtemp()

  report = {
      "system": "bmshj2018",
      "machine": results.machine_info(),
      "peak_gflops": peak,
      "kodak_images": len(images),
      "image_shape": list(images[0].shape),
  }
  # FLOPs are counted on the SignalConv2D model (bench_codec.conv_flops);
  # the Keras model has the same layers and the same FLOPs.
  model, _ = build("signal", flags)
  flops = transform_flops(model, images[0].shape)
  train_flops = transform_flops(model, (256, 256, 3))
  compress_flops = flops["g_a"] + flops["h_a"] + flops["h_s"]
  decompress_flops = flops["h_s"] + flops["g_s"]
  # Forward + backward ~ 3x the forward FLOPs, for 8 crops.
  train_step_flops = 3 * 8 * sum(train_flops.values())
  report.update(
      transform_gflop_per_image={k: v / 1e9 for k, v in flops.items()},
      compress_floor_seconds=compress_flops / (peak * 1e9),
      decompress_floor_seconds=decompress_flops / (peak * 1e9),
      all_transforms_floor_seconds=sum(flops.values()) / (peak * 1e9),
      train_step_gflop=train_step_flops / 1e9)
  for conv in ("signal", "keras"):
    tf.keras.utils.set_random_seed(1)
    model, model_args = build(conv, flags)
    encode, decode = measure_codec(model, images, work)
    # A fresh model to train: the exported one carries coding tables and
    # frozen (untrainable) transforms.
    model, _ = build(conv, flags)
    step_seconds = time_train_step(model, args.train_steps)
    report[conv] = {
        "config": model.config,
        "exported_transforms": ("frozen plain convolutions" if conv ==
                                "signal" else "Keras Conv2D/Conv2DTranspose"),
        **codec_row(encode, decode, report),
        "train_step_seconds_batch8_256": step_seconds,
        "train_achieved_gflops": train_step_flops / step_seconds / 1e9,
        "num_filters": model_args.num_filters,
        "num_latents": model_args.num_latents,
    }
    print(f"{conv}: compress {statistics.mean(encode):.3f} s, decompress "
          f"{statistics.mean(decode):.3f} s, train step {step_seconds:.2f} s",
          flush=True)
  if not args.skip_unfrozen:
    tf.keras.utils.set_random_seed(1)
    model, _ = build("signal", flags)
    encode, decode = measure_codec(model, images, work, freeze=False)
    report["signal_unfrozen"] = {
        "config": model.config,
        "exported_transforms": "SignalConv2D (rdft kernels)",
        **codec_row(encode, decode, report),
    }
    report["signal_over_unfrozen"] = {
        key: report["signal"][key] / report["signal_unfrozen"][key]
        for key in ("compress_seconds_mean", "decompress_seconds_mean")}
    print(f"signal_unfrozen: compress {statistics.mean(encode):.3f} s, "
          f"decompress {statistics.mean(decode):.3f} s", flush=True)
  report["keras_over_signal"] = {
      key: report["keras"][key] / report["signal"][key]
      for key in ("compress_seconds_mean", "decompress_seconds_mean",
                  "train_step_seconds_batch8_256")}
  write_report(report, args.output)
  print(json.dumps({k: report[k] for k in (
      "peak_gflops", "compress_floor_seconds", "decompress_floor_seconds",
      "keras_over_signal", "signal_over_unfrozen") if k in report},
                   indent=2))
  print(f"wrote {args.output}")


if __name__ == "__main__":
  main()
