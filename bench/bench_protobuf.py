"""What the protobuf implementation costs: export, load and first coding of
a model with the installed protobuf, against another protobuf version (by
default 3.20.3, pure Python) in the same run.

    python bench/bench_protobuf.py [--system hcae] [--peer 3.20.3]
        [--output results/bench/protobuf.json] [--note TEXT]

(from the repository root; it downloads the peer's wheel from PyPI once, into
a temporary folder). The pinned tensorflow-metadata 1.14.0 declares protobuf
< 4.21, for which pip installs protobuf 3.20.3: it has no compiled extension
for Python 3.11, so its pure-Python implementation would run, and TensorFlow
parses and writes graphs and SavedModels through it. scripts/env.sh installs
protobuf 4.25 (its compiled "upb" implementation) over that bound; this
benchmark measures what that buys. Each side runs in a process of its
own (the peer's wheel is put first on PYTHONPATH): it builds the system's
quick-profile model untrained (as `train` builds it), prepares it and
exports it (`savedmodel.export`: the traces of the coding functions and the
SavedModel's writing), loads it (`savedmodel.LoadedModel`, what every
`compress` and `decompress` command does first) and compresses and
decompresses a 256x256 image once (traces included). The JSON records the
seconds of each stage on each side and their ratio. Run it on an otherwise
idle machine: both sides share it.
"""

import argparse
import glob
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(system_name, workdir):
  """The timings of one side, as a dict (run in its own process)."""
  sys.path.insert(0, ROOT)
  from google.protobuf.internal import api_implementation
  import google.protobuf
  import numpy as np
  from tfc_repro import cli, savedmodel, systems
  system = systems.system(system_name)
  timings = {}
  start = time.perf_counter()
  args = cli.build_parser(system).parse_args(["train"])
  cli.resolve_train_args(system, args)
  model = system.build_model(args)
  model.prepare_for_compression()
  timings["build_and_prepare"] = time.perf_counter() - start
  path = os.path.join(workdir, "model")
  start = time.perf_counter()
  savedmodel.export(model, path, {"steps": 0})
  timings["export"] = time.perf_counter() - start
  start = time.perf_counter()
  loaded = savedmodel.LoadedModel(path)
  timings["load"] = time.perf_counter() - start
  image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), np.uint8)
  start = time.perf_counter()
  loaded.decompress(loaded.compress(image))
  timings["first_compress_and_decompress"] = time.perf_counter() - start
  return dict(protobuf=google.protobuf.__version__,
              implementation=api_implementation.Type(),
              saved_model_pb_bytes=os.path.getsize(
                  os.path.join(path, "saved_model.pb")),
              seconds={k: round(v, 2) for k, v in timings.items()})


def run_side(system_name, pythonpath):
  with tempfile.TemporaryDirectory() as workdir:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, ROOT) if p)
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", system_name,
         "--workdir", workdir], env=env, capture_output=True, text=True,
        check=False)
    if result.returncode != 0:
      raise RuntimeError(f"the side with PYTHONPATH={pythonpath!r} failed:\n"
                         + result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def peer_site(version, folder):
  """A folder holding protobuf `version`'s wheel for this Python, unpacked."""
  subprocess.run([sys.executable, "-m", "pip", "download", "--quiet",
                  "--no-deps", "--only-binary", ":all:", "-d", folder,
                  f"protobuf=={version}"], check=True)
  wheel, = glob.glob(os.path.join(folder, "protobuf-*.whl"))
  site = os.path.join(folder, "site")
  with zipfile.ZipFile(wheel) as archive:
    archive.extractall(site)
  return site


def main():
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument("--system", default="hcae",
                      help="The system whose quick-profile model is timed.")
  parser.add_argument("--peer", default="3.20.3",
                      help="The protobuf version compared with the installed "
                           "one.")
  parser.add_argument("--output", default="results/bench/protobuf.json")
  parser.add_argument("--note", default="",
                      help="What else ran on the machine, for the record.")
  parser.add_argument("--child", help=argparse.SUPPRESS)
  parser.add_argument("--workdir", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(child(args.child, args.workdir)))
    return
  with tempfile.TemporaryDirectory() as folder:
    site = peer_site(args.peer, folder)
    installed = run_side(args.system, None)
    peer = run_side(args.system, site)
  ratios = {stage: round(seconds / installed["seconds"][stage], 2)
            for stage, seconds in peer["seconds"].items()
            if installed["seconds"][stage] > 0}
  document = dict(
      command=shlex.join(["python", "bench/bench_protobuf.py",
                          *sys.argv[1:]]),
      system=args.system, model="quick profile, untrained",
      installed=installed, peer=peer,
      peer_over_installed=ratios, note=args.note,
      machine=dict(processor=platform.processor() or platform.machine(),
                   cpus=os.cpu_count(), python=platform.python_version()),
      date=time.strftime("%Y-%m-%d"))
  os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
  with open(args.output, "w", encoding="utf-8") as f:
    json.dump(document, f, indent=1)
    f.write("\n")
  for stage, ratio in ratios.items():
    print(f"{stage}: {installed['seconds'][stage]} s with protobuf "
          f"{installed['protobuf']} ({installed['implementation']}), "
          f"{peer['seconds'][stage]} s with {peer['protobuf']} "
          f"({peer['implementation']}): {ratio}x as long")
  print(f"wrote {args.output}")


if __name__ == "__main__":
  main()
