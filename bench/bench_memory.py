"""Peak resident memory of compress and decompress per megapixel.

For each system, an untrained model of the paper's size (the --profile
paper widths: memory does not depend on training) is exported once as
tfc-repro exports it (transforms in tiles of 1024 pixels, tiling.py) and,
for the comparison in the same run, once with tiles larger than any image
(the whole image transformed at once); then for each image size a fresh
process loads a model, codes a small image (traces and warms up), notes its
resident memory, and compresses one synthetic photo-like image of that size
(writing the file), and another fresh process decompresses that file.
Reported: the peak resident memory of the whole process (VmHWM, reset
before the step: `peak_mb`, the figure a machine must have), the part above
the warmed-up process, and that part per pixel.

    python bench/bench_memory.py --systems bls2017 --sizes 6000x6000 \
        --untiled_sizes 2000x3000
"""

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tfc_repro import argutil  # pylint: disable=wrong-import-position
from tfc_repro import results  # pylint: disable=wrong-import-position


def _image(height, width, seed=0):
  """A smooth random image with noise, made in strips (little memory)."""
  import numpy as np
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, size=(height // 64 + 2, width // 64 + 2, 3))
  cols = np.linspace(0, coarse.shape[1] - 1.001, width)
  c0 = cols.astype(int)
  fc = (cols - c0)[None, :, None]
  out = np.empty((height, width, 3), np.uint8)
  for start in range(0, height, 512):
    rows = np.linspace(0, coarse.shape[0] - 1.001, height)[start:start + 512]
    r0 = rows.astype(int)
    fr = (rows - r0)[:, None, None]
    strip = ((1 - fr) * (1 - fc) * coarse[r0][:, c0] +
             fr * (1 - fc) * coarse[r0 + 1][:, c0] +
             (1 - fr) * fc * coarse[r0][:, c0 + 1] +
             fr * fc * coarse[r0 + 1][:, c0 + 1])
    strip += rng.normal(0, 4, size=strip.shape)
    out[start:start + 512] = np.clip(np.round(strip), 0, 255)
  return out


def _rss_mb():
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmRSS:"):
        return int(line.split()[1]) / 1024
  return 0.


def _child(model_path, height, width, direction, bitstream_path):
  """Runs in a fresh process: prints one JSON line."""
  from tfc_repro import container, savedmodel
  # Its own size limit would refuse the sizes measured (hcae's is 2^21).
  codec = savedmodel.LoadedModel(model_path,
                                 max_pixels=savedmodel.DEFAULT_MAX_PIXELS)
  small = _image(64, 96, seed=1)
  codec.decompress(codec.compress(small))
  if direction == "compress":
    image = _image(height, width)
  else:
    bitstream = container.read(bitstream_path, codec.max_pixels)
  # The peak so far (ru_maxrss) includes the image's making (and for
  # decompress its compressing); the measured step needs its own peak.
  with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak resident set (VmHWM)
  base = _rss_mb()
  start = time.perf_counter()
  if direction == "compress":
    bitstream = codec.compress(image)
  else:
    codec.decompress(bitstream)
  seconds = time.perf_counter() - start
  if direction == "compress":
    container.write(bitstream_path, bitstream)
  with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) / 1024 for line in f
                if line.startswith("VmHWM:"))
  print(json.dumps(dict(peak_mb=peak, base_mb=base, seconds=seconds,
                        model_tiled=codec.tiled,
                        maxrss_mb=resource.getrusage(
                            resource.RUSAGE_SELF).ru_maxrss / 1024)))


def export_model(name, path, tiled=True):
  import tensorflow as tf
  from tfc_repro import cli, savedmodel, systems
  system = systems.system(name)
  args = cli.build_parser(system).parse_args(
      ["--model_path", path, "train", "--profile", "paper"])
  cli.resolve_train_args(system, args)
  tf.keras.utils.set_random_seed(1)
  model = system.build_model(args)
  model.prepare_for_compression()
  if not tiled:
    model.tile = 1 << 30
  savedmodel.export(model, path, {"steps": 0})


def _write(report, path):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    json.dump(report, f, indent=1)


def _measure(path, height, width, direction, bitstream):
  run = subprocess.run(
      [sys.executable, __file__, "--child", path, str(height), str(width),
       direction, bitstream], capture_output=True, text=True)
  if run.returncode != 0:
    return dict(error=(run.stderr.strip().splitlines() or
                       [f"exit {run.returncode}"])[-1][:300])
  entry = json.loads(run.stdout.strip().splitlines()[-1])
  entry["extra_mb"] = entry["peak_mb"] - entry["base_mb"]
  entry["extra_bytes_per_pixel"] = (entry["extra_mb"] * 2**20 /
                                    (height * width))
  entry["megapixels"] = height * width / 1e6
  return entry


def main():
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0],
      formatter_class=argutil.DefaultsHelpFormatter)
  parser.add_argument("--systems", default="bls2017,bmshj2018")
  parser.add_argument("--sizes", default="2000x3000,6000x6000,8000x8000")
  parser.add_argument("--untiled_sizes", default="2000x3000",
                      help="Sizes also coded with the whole image at once.")
  parser.add_argument("--output", default="results/bench/memory.json")
  parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    path, height, width, direction, bitstream = args.child
    _child(path, int(height), int(width), direction, bitstream)
    return
  report = dict(
      what="peak resident memory of one compress / decompress of a "
           "synthetic image: peak_mb of the whole process (model loaded, "
           "image and file included), extra_mb above the loaded and "
           "warmed-up process; tiled as exported, and untiled for "
           "comparison",
      command=shlex.join(["python", "bench/bench_memory.py"] + sys.argv[1:]),
      models="untrained, --profile paper sizes", machine=results.machine_info(),
      results=[])
  with tempfile.TemporaryDirectory() as tmp:
    for name in args.systems.split(","):
      for tiled, sizes in ((True, args.sizes), (False, args.untiled_sizes)):
        if not sizes:
          continue
        path = os.path.join(tmp, name + ("" if tiled else "-untiled"))
        subprocess.run([sys.executable, "-c",
                        "import sys; sys.path.insert(0, sys.argv[1]); "
                        "import bench_memory; bench_memory.export_model("
                        "sys.argv[2], sys.argv[3], sys.argv[4] == 'True')",
                        os.path.dirname(os.path.abspath(__file__)), name,
                        path, str(tiled)], check=True)
        for size in sizes.split(","):
          height, width = (int(v) for v in size.split("x"))
          for direction in ("compress", "decompress"):
            entry = _measure(path, height, width, direction,
                             os.path.join(tmp, "file.tfci"))
            # A model that transforms whole images (hcae) is untiled even
            # as exported.
            model_tiled = entry.pop("model_tiled", True)
            entry.update(system=name, tiled=tiled and model_tiled,
                         height=height, width=width, direction=direction)
            print(json.dumps(entry), flush=True)
            report["results"].append(entry)
            _write(report, args.output)  # after each entry: long runs


if __name__ == "__main__":
  main()
