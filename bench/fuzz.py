"""Fuzzing of every system's decoder with damaged, crafted and foreign files.

For each system a small untrained model (the contract tests' sizes) is
exported, a file is written for a small image, and the decoder of the
exported model (`savedmodel.LoadedModel`, as `decompress` uses it) is given
cases of these kinds:

  mutation      random bytes changed, inserted or deleted; CRC left as is
  mutation+crc  the same, with the CRC recomputed
  header        one header field set to a crafted value (system, hashes,
                image and latent shapes, including shapes consistent with a
                larger image, counts, ranks, lengths, non-canonical and
                oversized varints), CRC valid
  truncated     an entropy-coded string cut short, CRC valid
  extended      bytes appended to a string, CRC valid
  payload       bytes changed inside a string, CRC valid
  foreign       empty, random bytes, a PNG, another system's file
  huge          "consistent huge": the image shape scaled up within the
                decoder's limit with the latent shapes the model derives from
                it (the largest such image or a random smaller one), strings
                kept (refused by the decode bound, before decoding) or each
                padded with random bytes to just past its latent's minimum
                for that image (`decode_bound`), which passes the bound and
                is decoded until the re-coding check, the latent digest or
                the decode time limit refuses it

Each case runs in a worker process watched by this one, with outcomes:
detected (a one-line `ContainerError`), crash (the worker died, or raised
anything else), hang (no answer within --timeout seconds), memory (resident
memory above the bound: the worker's size after loading plus --memory_mb)
and silent (an image came out). For the kinds that alter a header or cut or
extend a string, silent must be 0; a payload altered inside a string could
in principle decode to another image, and the count says how many the
range coder's check, the re-coding check and the latent digest catch.
Every case's time is reported with its decode seconds per input byte (the
slowest of each kind, and every huge case): what the decode bound still lets
a file ask for.

The worker decodes with --max_pixels (default 2^22): the limit it refuses
larger images with, and what bounds the memory a crafted header can ask for.

    python bench/fuzz.py                      # 10^4 cases per system
    python bench/fuzz.py --cases 20 --output /tmp/fuzz.json   # a sample
    python bench/fuzz.py --kinds huge --cases 8 \
        --output results/bench/fuzz-huge.json   # the decode bound alone
"""

import argparse
import json
import multiprocessing
import os
import random
import shlex
import struct
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

# pylint: disable=g-import-not-at-top
from tfc_repro import argutil
from tfc_repro import container
from tfc_repro import results

# A small model of each system (sizes of tests/test_contract.py).
SMALL_MODELS = {
    "bls2017": ["--num_filters", "8"],
    "bmshj2018": ["--num_filters", "8", "--num_latents", "12"],
    "lee2019": ["--num_filters", "8", "--num_latents", "8",
                "--context_filters", "16"],
    "hcae": ["--num_filters", "8", "--levels", "3"],
    "regularized": ["--num_filters", "8", "--num_latents", "12"],
}
KINDS = ("mutation", "mutation+crc", "header", "truncated", "extended",
         "payload", "foreign", "huge")
# Kinds whose silent decodes are failures (payload is reported apart).
MUST_DETECT = ("mutation", "mutation+crc", "header", "truncated", "extended",
               "foreign", "huge")
OUTCOMES = ("detected", "crash", "hang", "memory", "silent")
IMAGE_SHAPE = (40, 72)


def smooth_image(height, width, seed=0):
  import numpy as np
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, size=(height // 8 + 2, width // 8 + 2, 3))
  rows = np.linspace(0, coarse.shape[0] - 1.001, height).astype(int)
  cols = np.linspace(0, coarse.shape[1] - 1.001, width).astype(int)
  image = coarse[rows][:, cols] + rng.normal(0, 4, (height, width, 3))
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def export_small_model(name, path, seed=1234):
  """Exports an untrained small model of `name` to `path`."""
  import tensorflow as tf
  from tfc_repro import cli, savedmodel, systems
  system = systems.system(name)
  args = cli.build_parser(system).parse_args(
      ["--model_path", path, "train", *SMALL_MODELS[name]])
  cli.resolve_train_args(system, args)
  tf.keras.utils.set_random_seed(seed)
  model = system.build_model(args)
  model.prepare_for_compression()
  savedmodel.export(model, path, {"steps": 0})


# -- Cases --------------------------------------------------------------------


def _with_crc(body):
  return body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _mutate(data, rng):
  data = bytearray(data)
  for _ in range(rng.choice((1, 1, 1, 2, 4, 16))):
    op = rng.random()
    position = rng.randrange(len(data))
    if op < 0.6:
      data[position] ^= 1 << rng.randrange(8) if rng.random() < .5 else (
          rng.randrange(1, 256))
    elif op < 0.8:
      data.insert(position, rng.randrange(256))
    elif len(data) > 1:
      del data[position]
  return bytes(data)


def _crafted_value(rng):
  return rng.choice([0, 1, 2, 3, 7, 63, 64, 65, 255, 1000, 4096, 65535,
                     1 << 20, (1 << 31) - 1, rng.randrange(1 << 31)])


def _header_case(good, rng, stride_hint=16):
  """A file with one header field crafted (CRC valid), as bytes."""
  import copy
  b = copy.deepcopy(good)
  field = rng.choice(("system", "config_hash", "model_id", "digest",
                      "image_shape", "latent_shape", "consistent_resize",
                      "shape_count", "rank", "string_count", "raw_varint"))
  if field == "system":
    b.system = rng.choice(("", "bls2017", "bmshj2018", "lee2019", "hcae",
                           "regularized", "x" * 64, "TFCR"))
    if b.system == good.system:
      b.system += "x"
  elif field in ("config_hash", "model_id", "digest"):
    value = bytearray(getattr(b, field))
    value[rng.randrange(len(value))] ^= 1 << rng.randrange(8)
    setattr(b, field, bytes(value))
  elif field == "image_shape":
    shape = list(b.image_shape)
    shape[rng.randrange(2)] = _crafted_value(rng)
    b.image_shape = tuple(shape)
  elif field == "latent_shape" and b.latent_shapes:
    i = rng.randrange(len(b.latent_shapes))
    shape = list(b.latent_shapes[i])
    shape[rng.randrange(len(shape))] = _crafted_value(rng)
    b.latent_shapes[i] = tuple(shape)
  elif field == "consistent_resize":
    # A larger image with latent shapes scaled alike (what a model of this
    # stride would write): passes the shape checks, then must not decode.
    factor = rng.choice((2, 4, 16, 64))
    b.image_shape = tuple(d * factor for d in b.image_shape)
    b.latent_shapes = [tuple(d * factor for d in s) for s in b.latent_shapes]
  elif field == "shape_count":
    if b.latent_shapes and rng.random() < .5:
      b.latent_shapes.pop()
    else:
      b.latent_shapes.append((1, 1))
  elif field == "rank" and b.latent_shapes:
    i = rng.randrange(len(b.latent_shapes))
    b.latent_shapes[i] = tuple(b.latent_shapes[i]) + (1,) * rng.randrange(
        1, 4) if rng.random() < .5 else tuple(b.latent_shapes[i][:1])
  elif field == "string_count":
    if rng.random() < .5 and b.strings:
      b.strings.pop(rng.randrange(len(b.strings)))
    else:
      b.strings.insert(rng.randrange(len(b.strings) + 1), b"\0" * 8)
  else:  # a size field written as a non-canonical or oversized varint
    body = container.pack(b)[:-4]
    start = 5 + 1 + len(b.system) + 8 + 8 + container.DIGEST_BYTES
    # pylint: disable=protected-access
    value, rest = b.image_shape[0], body[start + len(container._varint(
        b.image_shape[0])):]
    crafted = rng.choice((container._varint(value)[:-1] + bytes(
        [container._varint(value)[-1] | 0x80, 0]), b"\xff" * 9 + b"\x01",
                          b"\x80\x80\x80\x80\x08"))
    return _with_crc(body[:start] + crafted + rest)
  try:
    return container.pack(b)
  except ValueError:  # a value the writer refuses: write it raw
    b.image_shape = (0, 0)
    return container.pack(b)


def _string_case(good, kind, rng):
  import copy
  b = copy.deepcopy(good)
  i = rng.randrange(len(b.strings))
  string = b.strings[i]
  if kind == "truncated":
    if not string:
      return None
    b.strings[i] = string[:rng.randrange(len(string))]
  elif kind == "extended":
    tail = rng.choice((b"\0", b"\xff", bytes(rng.randrange(256) for _ in
                                             range(rng.randrange(1, 64))),
                       string))
    b.strings[i] = string + tail
  else:  # payload
    if not string:
      return None
    value = bytearray(string)
    for _ in range(rng.choice((1, 1, 2, 8))):
      position = rng.randrange(len(value))
      value[position] ^= (1 << rng.randrange(8)) if rng.random() < .5 else (
          rng.randrange(1, 256))
    if bytes(value) == string:
      return None
    b.strings[i] = bytes(value)
  return container.pack(b)


def _huge_case(good, rng, geometry=None):
  """A "consistent huge" file: (bytes, details). The image scaled by an
  integer factor within `geometry["max_pixels"]` (the largest or a random
  one), the latent shapes the model derives for it, the strings kept or
  padded with random bytes to one byte past their latent's minimum.

  `geometry`: {"stride", "shape_strides", "max_pixels", "minimum_bytes":
  latent shapes -> bytes per latent} of the decoder's model; without it the
  latent shapes are scaled by the same factor and nothing is padded."""
  import copy
  from tfc_repro import savedmodel
  b = copy.deepcopy(good)
  height, width = good.image_shape
  max_pixels = (geometry or {}).get("max_pixels", 1 << 22)
  largest = max(2, int((max_pixels // (height * width)) ** .5))
  factor = largest if rng.random() < .5 else rng.randint(2, largest)
  b.image_shape = (height * factor, width * factor)
  padded = False
  if geometry:
    b.latent_shapes = [tuple(s) for s in savedmodel.expected_latent_shapes(
        b.image_shape, geometry["stride"], geometry["shape_strides"])]
    if rng.random() < .5:
      minimum = geometry["minimum_bytes"](b.latent_shapes)
      for i, string in enumerate(b.strings[:len(minimum)]):
        if len(string) <= minimum[i]:
          b.strings[i] = string + bytes(
              rng.randrange(256) for _ in range(minimum[i] + 1 - len(string)))
          padded = True
  else:
    b.latent_shapes = [tuple(d * factor for d in s) for s in b.latent_shapes]
  return container.pack(b), dict(
      factor=factor, image_shape=list(b.image_shape), padded=padded,
      pixels=b.image_shape[0] * b.image_shape[1],
      string_bytes=[len(s) for s in b.strings])


def _foreign_case(rng, others, png):
  choice = rng.randrange(4)
  if choice == 0:
    return b""
  if choice == 1:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
  if choice == 2:
    return png
  return rng.choice(others) if others else png


def make_cases(good_bytes, count, rng, others=(), png=b"", geometry=None,
               kinds=KINDS, details=None):
  """`count` (kind, data) pairs, `kinds` in turn; `geometry`: the decoder
  model's, for the huge cases (`_huge_case`). `details`, a list, receives
  each huge case's details (in order)."""
  good = container.unpack(good_bytes)
  cases = []
  while len(cases) < count:
    kind = kinds[len(cases) % len(kinds)]
    if kind == "huge":
      data, detail = _huge_case(good, rng, geometry)
      if details is not None:
        details.append(detail)
      cases.append((kind, data))
      continue
    if kind == "mutation":
      data = _mutate(good_bytes, rng)
      if data == good_bytes:
        continue
    elif kind == "mutation+crc":
      body = _mutate(good_bytes[:-4], rng)
      data = _with_crc(body)
      if data == good_bytes:
        continue
    elif kind == "header":
      data = _header_case(good, rng)
    elif kind == "foreign":
      data = _foreign_case(rng, others, png)
    else:
      data = _string_case(good, kind, rng)
    if data is None or data == good_bytes:
      continue
    cases.append((kind, data))
  return cases


# -- Worker -------------------------------------------------------------------


def _worker(model_path, max_pixels, connection):
  import numpy as np
  from tfc_repro import savedmodel
  codec = savedmodel.LoadedModel(model_path, max_pixels=max_pixels)
  connection.send(("ready", None))
  while True:
    data = connection.recv()
    if data is None:
      return
    try:
      bitstream = container.unpack(data)
      image = codec.decompress(bitstream)
    except (container.ContainerError, savedmodel.ModelError) as e:
      message = str(e)
      outcome = "detected" if "\n" not in message else "crash"
      connection.send((outcome, message.splitlines()[0][:200]))
      continue
    except Exception as e:  # pylint: disable=broad-except
      connection.send(("crash", f"{type(e).__name__}: {str(e)[:200]}"))
      continue
    connection.send(("silent", f"{np.asarray(image).shape}"))


def _rss_mb(pid):
  try:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return 0.


class Watched:
  """A worker process that decodes one case at a time, restarted after a
  crash, hang or memory excess."""

  def __init__(self, model_path, max_pixels, timeout, memory_mb):
    self.args = (model_path, max_pixels)
    self.timeout, self.memory_mb = timeout, memory_mb
    self.process = None
    self.peak_mb = 0.

  def _start(self):
    context = multiprocessing.get_context("spawn")
    self.connection, child = context.Pipe()
    self.process = context.Process(target=_worker,
                                   args=(*self.args, child), daemon=True)
    self.process.start()
    if not self.connection.poll(300):
      raise RuntimeError("the fuzz worker did not start")
    self.connection.recv()
    self.base_mb = _rss_mb(self.process.pid)

  def _kill(self):
    if self.process is not None:
      self.process.kill()
      self.process.join()
      self.process = None

  def run(self, data):
    """(outcome, detail, seconds, extra resident MB)."""
    if self.process is None or not self.process.is_alive():
      self._start()
    start = time.perf_counter()
    self.connection.send(data)
    extra = 0.
    while True:
      if self.connection.poll(0.02):
        try:
          outcome, detail = self.connection.recv()
        except EOFError:
          self._kill()
          return "crash", "worker died", time.perf_counter() - start, extra
        if "did not finish within" in detail:
          # The codec gave up a decode that TFC's range decoder does not
          # end; it still holds the worker's threads: start a fresh one.
          self._kill()
        return outcome, detail, time.perf_counter() - start, extra
      extra = max(extra, _rss_mb(self.process.pid) - self.base_mb)
      self.peak_mb = max(self.peak_mb, extra)
      if not self.process.is_alive():
        self._kill()
        return "crash", "worker died", time.perf_counter() - start, extra
      if extra > self.memory_mb:
        self._kill()
        return "memory", f"{extra:.0f} MB", time.perf_counter() - start, extra
      if time.perf_counter() - start > self.timeout:
        self._kill()
        return "hang", "", time.perf_counter() - start, extra

  def close(self):
    if self.process is not None and self.process.is_alive():
      self.connection.send(None)
      self.process.join(10)
    self._kill()


def fuzz_system(name, cases, seed, max_pixels, timeout, memory_mb, workdir,
                others=(), progress=True, kinds=KINDS):
  """Runs `cases` cases of `kinds` against an exported small model of
  `name`; returns {"counts": {kind: {outcome: n}}, "examples": {...},
  "timing": {kind: {...}}, "huge_cases": [...], ...}."""
  import io
  import numpy as np
  from PIL import Image
  from tfc_repro import savedmodel
  path = os.path.join(workdir, name)
  if not os.path.exists(os.path.join(path, "saved_model.pb")):
    export_small_model(name, path)
  image = smooth_image(*IMAGE_SHAPE, seed=seed)
  codec = savedmodel.LoadedModel(path)
  good_bytes = container.pack(codec.compress(image))
  assert np.array_equal(codec.decompress(container.unpack(good_bytes)),
                        codec.decompress(codec.compress(image)))
  png = io.BytesIO()
  Image.fromarray(image).save(png, format="PNG")
  rng = random.Random(f"{name}-{seed}")
  # A case counts as a hang only past the codec's own decode time limit for
  # the largest image it accepts (a file may declare one).
  timeout = max(timeout, savedmodel.decode_time_limit((max_pixels, 1)) + 10)
  watched = Watched(path, max_pixels, timeout, memory_mb)
  counts = {kind: dict.fromkeys(OUTCOMES, 0) for kind in kinds}
  examples, slowest = {}, 0.
  timing = {kind: dict(cases=0, seconds=0., slowest_seconds=0.,
                       slowest_seconds_per_byte=0.) for kind in kinds}
  geometry = dict(stride=codec.stride, shape_strides=codec.shape_strides,
                  max_pixels=max_pixels,
                  minimum_bytes=codec.bound.minimum_bytes)
  huge_details, huge_cases = [], []
  start = time.time()
  try:
    for i, (kind, data) in enumerate(make_cases(
        good_bytes, cases, rng, others, png.getvalue(), geometry, kinds,
        huge_details)):
      outcome, detail, seconds, _ = watched.run(data)
      counts[kind][outcome] += 1
      slowest = max(slowest, seconds)
      per_byte = seconds / max(len(data), 1)
      kind_timing = timing[kind]
      kind_timing["cases"] += 1
      kind_timing["seconds"] += seconds
      kind_timing["slowest_seconds"] = max(kind_timing["slowest_seconds"],
                                           seconds)
      kind_timing["slowest_seconds_per_byte"] = max(
          kind_timing["slowest_seconds_per_byte"], per_byte)
      if kind == "huge":
        huge_cases.append(dict(
            huge_details[len(huge_cases)], bytes=len(data), outcome=outcome,
            seconds=round(seconds, 6), seconds_per_byte=per_byte,
            detail=detail))
      key = f"{kind}/{outcome}"
      if outcome != "detected" and key not in examples:
        examples[key] = dict(detail=detail, bytes=len(data),
                             file_hex=data[:4096].hex())
      if progress and (i + 1) % 200 == 0:
        print(f"{name}: {i + 1}/{cases} cases, {time.time() - start:.0f} s",
              flush=True)
  finally:
    watched.close()
  for kind_timing in timing.values():
    kind_timing["mean_seconds"] = kind_timing.pop("seconds") / max(
        kind_timing["cases"], 1)
  bound = [dict(latent=latent.name, shape=latent.shape,
                channels=latent.channels,
                bits_per_symbol=latent.bits_per_symbol)
           for latent in codec.bound.latents]
  return dict(counts=counts, examples=examples, file_bytes=len(good_bytes),
              slowest_case_seconds=slowest, peak_extra_mb=watched.peak_mb,
              seconds=time.time() - start, timing=timing,
              huge_cases=huge_cases, decode_bound=bound)


def failures(report):
  """The outcomes that must be 0: {system: {kind/outcome: n}}."""
  bad = {}
  for name, result in report["systems"].items():
    for kind, outcomes in result["counts"].items():
      for outcome, n in outcomes.items():
        must = outcome in ("crash", "hang", "memory") or (
            outcome == "silent" and kind in MUST_DETECT)
        if must and n:
          bad.setdefault(name, {})[f"{kind}/{outcome}"] = n
  return bad


def main(argv=None):
  from tfc_repro import systems
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0],
      formatter_class=argutil.DefaultsHelpFormatter)
  parser.add_argument("--systems", default=",".join(systems.NAMES),
                      help="comma-separated systems")
  parser.add_argument("--cases", type=int, default=10000,
                      help="cases per system")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--max_pixels", type=int, default=1 << 22,
                      help="the decoder's image size limit")
  parser.add_argument("--timeout", type=float, default=60.,
                      help="seconds after which a case counts as a hang")
  parser.add_argument("--memory_mb", type=float, default=2048.,
                      help="resident memory above the loaded worker's that "
                           "counts as beyond the bound")
  parser.add_argument("--kinds", default=",".join(KINDS),
                      help="comma-separated kinds of case, taken in turn")
  parser.add_argument("--output", default="results/bench/fuzz.json")
  parser.add_argument("--workdir", default=None,
                      help="folder for the small models (default: temporary)")
  args = parser.parse_args(argv)
  names = [n for n in args.systems.split(",") if n]
  kinds = tuple(k for k in args.kinds.split(",") if k)
  unknown = set(kinds) - set(KINDS)
  if unknown or not kinds:
    parser.error(f"--kinds: unknown {sorted(unknown)} (kinds: {KINDS})")
  with tempfile.TemporaryDirectory() as tmp:
    workdir = args.workdir or tmp
    report = dict(
        what="decoder fuzzing: outcomes per kind of case (see bench/fuzz.py)",
        command=shlex.join(["python", "bench/fuzz.py"] + list(
            argv if argv is not None else sys.argv[1:])),
        cases_per_system=args.cases, kinds=list(kinds), seed=args.seed,
        max_pixels=args.max_pixels, timeout_seconds=args.timeout,
        memory_bound_mb=args.memory_mb, image_shape=list(IMAGE_SHAPE),
        models="untrained small models (tests/test_contract.py sizes)",
        machine=results.machine_info(), systems={})
    files = {}
    for name in names:
      path = os.path.join(workdir, name)
      if not os.path.exists(os.path.join(path, "saved_model.pb")):
        export_small_model(name, path)
      from tfc_repro import savedmodel
      files[name] = container.pack(savedmodel.LoadedModel(path).compress(
          smooth_image(*IMAGE_SHAPE, seed=args.seed)))
    for name in names:
      others = [data for other, data in files.items() if other != name]
      report["systems"][name] = result = fuzz_system(
          name, args.cases, args.seed, args.max_pixels, args.timeout,
          args.memory_mb, workdir, others, kinds=kinds)
      print(name, json.dumps(result["counts"]), flush=True)
      for kind, kind_timing in result["timing"].items():
        print(f"  {kind}: slowest {kind_timing['slowest_seconds']:.2f} s, "
              f"{kind_timing['slowest_seconds_per_byte']:.2e} s per byte",
              flush=True)
  report["failures"] = failures(report)
  if args.output:
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
      json.dump(report, f, indent=1)
  print("failures:", json.dumps(report["failures"]) or "none")
  return 1 if report["failures"] else 0


if __name__ == "__main__":
  sys.exit(main())
