"""Where a training step's time goes, against its floating-point floor.

    TFC_REPRO_DATA=DIR nice -n 10 python bench/bench_train.py [--cases A,B]
        [--steps 10] [--repeats 3] [--output results/bench/train.json]

(from the repository root) writes results/bench/train.json. `--tiny` shrinks
every model (8 filters, 64x64 crops) for a smoke test of the script; its JSON
says so and belongs in /tmp (`--output /tmp/train-smoke.json`).

For each case, the quick profile (`--profile quick`: 128x128 crops, batch 8,
the CPU recipe) of every registered system at the sizes the CPU reproduction
trains, built as `train` builds it (`cli.resolve_train_args`,
`training.compiled_model`), this measures in one run:

  * the FLOP floor of one training step: the floating-point operations of
    the traced Keras train step (forward, backward, optimizer update and
    metrics), counted from the graph with the FLOP statistics of TensorFlow's
    graph profiler (`tf.compat.v1.profiler`), divided by the machine's peak
    GFLOP/s (the best of a large matmul and a large convolution, measured at
    the start of the run, and again at its end for comparison). The count also enters the bodies
    of control flow (conditionals, loops, nested function calls), which the
    profiler itself skips. Operations the profiler has no FLOP statistics for
    (e.g. the FFTs of the RDFT kernel parameterization, Sqrt, Exp, Softplus,
    Tanh) are not counted: the JSON lists them per op type with the number of
    values they output, an estimate of what the floor misses;
  * seconds per step, after warm-up (median over --repeats rounds of --steps
    steps): the input pipeline alone (the training crops of
    $TFC_REPRO_DATA/train as training builds them, decoded images kept in
    memory, and decoding every file at every use (`--cache_gib 0`): its
    batches per second and CPU seconds per batch),
    the forward pass (training=True), forward and backward (GradientTape),
    the full Keras step (`model.fit` on one real batch repeated: optimizer(s)
    and metrics included), and the full step compiled with XLA
    (`jit_compile=True`; when XLA fails, the error's first line), and the
    seconds of each warm-up (tracing, graph optimization, XLA compilation,
    which can take minutes);
  * the step over its floor, and whether the input pipeline keeps up with
    the step (its batches per second against 1 / step; measured alone, it
    has every core to itself, which in training it shares with the step).

It also records TensorFlow's thread settings, whether oneDNN is on and the
CPU model. Run it with `nice` on an otherwise idle machine: it uses every
core TensorFlow sees, and its times mean little on a busy one.
"""

import argparse
import collections
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position
from tensorflow.python.framework import ops as tf_ops  # pylint: disable=g-import-not-at-top,wrong-import-position,g-direct-tensorflow-import

from bench_codec import peak_gflops, write_report  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfc_repro import cli, results, systems, training  # pylint: disable=g-import-not-at-top,wrong-import-position

# name: (system, train flags besides --profile quick and the data).
CASES = {
    "bls2017": ("bls2017", ["--lambda", "0.05"]),
    "bmshj2018-factorized": ("bmshj2018", [
        "--model", "factorized", "--num_filters", "64", "--num_latents", "96",
        "--lambda", "0.025"]),
    "bmshj2018-hyperprior": ("bmshj2018", [
        "--model", "hyperprior", "--num_filters", "64", "--num_latents", "96",
        "--lambda", "0.025"]),
    "bmshj2018-meanscale": ("bmshj2018", [
        "--model", "meanscale", "--num_filters", "64", "--num_latents", "96",
        "--lambda", "0.025"]),
    "lee2019": ("lee2019", ["--quality", "3"]),
    "hcae": ("hcae", ["--quality", "4"]),
    "regularized-bmshj2018-meanscale": ("regularized", [
        "--backbone", "bmshj2018-meanscale", "--num_filters", "64",
        "--num_latents", "96", "--lambda", "0.025"]),
}
# --tiny: 8 filters everywhere and 64x64 crops (hcae's six levels pad images
# to a multiple of 64).
TINY_FLAGS = {
    "bls2017": ["--num_filters", "8"],
    "bmshj2018": ["--num_filters", "8", "--num_latents", "8"],
    "lee2019": ["--num_filters", "8", "--num_latents", "8",
                "--context_filters", "8"],
    "hcae": ["--num_filters", "8"],
    "regularized": ["--num_filters", "8", "--num_latents", "8",
                    "--source_filters", "8,8"],
}
TINY_PATCHSIZE = 64

# Ops that move, reshape or index data, or do bookkeeping: no floating-point
# arithmetic, so not missing from the count.
NO_ARITHMETIC = {
    "Assert", "AssignVariableOp", "BroadcastArgs", "BroadcastGradientArgs",
    "BroadcastTo", "Cast", "Complex", "ConcatV2", "Conj", "Const",
    "EnsureShape", "ExpandDims", "Fill", "GatherV2", "Identity",
    "IdentityN", "Imag", "InvertPermutation", "MirrorPad", "NoOp",
    "OnesLike", "OptionalFromValue", "OptionalGetValue", "OptionalNone",
    "Pack", "Pad", "PadV2", "Placeholder", "RandomUniform", "Range", "Rank",
    "ReadVariableOp", "Real", "Reshape", "Reverse", "ReverseV2",
    "ScatterNd", "Select", "SelectV2", "Shape", "ShapeN", "Size", "Slice",
    "Snapshot", "Split", "SplitV", "Squeeze", "StatelessRandomUniformV2",
    "StopGradient", "StridedSlice", "StridedSliceGrad",
    "TensorScatterUpdate", "Tile", "Transpose", "Unpack", "VarHandleOp",
    "ZerosLike",
}
# Ops whose attributes name the functions they run.
FUNCTION_ATTRS = ("then_branch", "else_branch", "branches", "body", "cond",
                  "f")
ALTERNATIVES = ("then_branch", "else_branch", "branches")
FLOP_NOTE = (
    "FLOPs of the traced Keras train step (model.train_step: forward, "
    "backward, optimizer update(s), metrics) for one batch, counted per op "
    "with the FLOP statistics of TensorFlow's graph profiler "
    "(tf.compat.v1.profiler, which has them for Conv2D, "
    "Conv2DBackpropInput/Filter, MatMul/BatchMatMul, BiasAdd and common "
    "element-wise ops and reductions). Unlike the profiler, the count enters "
    "the bodies of conditionals (the larger branch), loops (one iteration) "
    "and nested function calls. GDN and IGDN are counted (their pooling over "
    "channels is a 1x1 Conv2D, their squares are counted) except their "
    "Sqrt. Ops without FLOP statistics are not counted: `uncounted` lists "
    "them per op type with the values they output (at least one FLOP each): "
    "e.g. RFFT2D/IRFFT2D of the RDFT kernel parameterization (on kernel-sized "
    "arrays, independent of the batch), Sqrt, Exp, Log1p, Softplus, Sigmoid, "
    "Tanh and their gradients, Round, Abs. `profiler_flops` is what the "
    "profiler itself counts on the same graph (top level only).")


def train_args(system, flags):
  """`train` arguments as the system's own command line resolves them."""
  args = cli.build_parser(system).parse_args(
      ["--model_path", "unused", "train", *flags])
  cli.resolve_train_args(system, args)
  return args


def seconds_per_step(step, steps, repeats, warmup=2):
  """(median seconds per call of `step()`, which returns a tensor or a nest
  of them; the seconds of every round of `steps` calls; the seconds of the
  `warmup` calls before them: tracing, graph optimization, compilation)."""
  start = time.perf_counter()
  for _ in range(warmup):
    tf.nest.map_structure(lambda t: t.numpy(), step())
  warmup_seconds = time.perf_counter() - start
  rounds = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      result = step()
    tf.nest.map_structure(lambda t: t.numpy(), result)
    rounds.append((time.perf_counter() - start) / steps)
  return statistics.median(rounds), rounds, warmup_seconds


# -- FLOPs -------------------------------------------------------------------


def _float_output_elements(op):
  """(values of floating-point or complex type op outputs, whether all of
  their shapes are known)."""
  elements, known = 0, True
  for output in op.outputs:
    if not (output.dtype.is_floating or output.dtype.is_complex):
      continue
    count = output.shape.num_elements()
    if count is None:
      known = False
    else:
      elements += count
  return elements, known


def _function_graphs(op, functions):
  """{attribute: [FuncGraph]} of the functions a control-flow or call op
  runs (empty for other ops; None for a function whose graph is not
  found)."""
  graphs = {}
  for attr in FUNCTION_ATTRS:
    try:
      value = op.get_attr(attr)
    except ValueError:
      continue
    names = [f.name for f in value] if isinstance(value, list) else [
        value.name]
    graphs[attr] = [getattr(functions.get(name), "graph", None)
                    for name in names]
  return graphs


def count_flops(graph, functions=None):
  """Counts the FLOPs of `graph` with the profiler's FLOP statistics,
  entering function bodies. Returns {"flops": {op type: FLOPs},
  "uncounted": {op type: [ops, output values]}, "unknown_shape": {op type:
  ops}, "loops": loops counted once, "not_entered": function bodies not
  found}."""
  functions = dict(functions or {})
  functions.update(getattr(graph, "_functions", {}))
  total = {"flops": collections.Counter(), "uncounted": {},
           "unknown_shape": collections.Counter(), "loops": 0,
           "not_entered": 0}

  def add(into, other):
    into["flops"].update(other["flops"])
    into["unknown_shape"].update(other["unknown_shape"])
    into["loops"] += other["loops"]
    into["not_entered"] += other["not_entered"]
    for op_type, (ops, values) in other["uncounted"].items():
      previous = into["uncounted"].get(op_type, [0, 0])
      into["uncounted"][op_type] = [previous[0] + ops, previous[1] + values]

  for op in graph.get_operations():
    bodies = _function_graphs(op, functions)
    if bodies:
      total["loops"] += "body" in bodies
      total["not_entered"] += sum(g is None for gs in bodies.values()
                                  for g in gs)
      bodies = {attr: [g for g in gs if g is not None]
                for attr, gs in bodies.items()}
      # Of alternative branches the largest; a loop's body and condition
      # once; a called function's body.
      branches = [count_flops(g, functions) for attr in ALTERNATIVES
                  for g in bodies.pop(attr, [])]
      if branches:
        add(total, max(branches, key=lambda c: sum(c["flops"].values())))
      for graphs in bodies.values():
        for g in graphs:
          add(total, count_flops(g, functions))
      continue
    try:
      stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
    except ValueError:  # registered, but a shape is not known
      total["unknown_shape"][op.type] += 1
      continue
    if stats.value is not None:
      total["flops"][op.type] += int(stats.value)
    elif op.type not in NO_ARITHMETIC:
      elements, known = _float_output_elements(op)
      if not known:
        total["unknown_shape"][op.type] += 1
      if elements:
        ops, values = total["uncounted"].get(op.type, [0, 0])
        total["uncounted"][op.type] = [ops + 1, values + elements]
  return total


def profiler_flops(graph):
  """FLOPs that tf.compat.v1.profiler counts on `graph` (top level only)."""
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options["output"] = "none"
  return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def flop_report(model, batch_spec):
  """FLOPs of the train step and of the forward pass alone."""
  step = tf.function(model.train_step).get_concrete_function(batch_spec)
  forward = tf.function(lambda x: model(x, training=True)["loss"])
  forward = forward.get_concrete_function(batch_spec)
  counted = count_flops(step.graph)
  uncounted = sorted(counted["uncounted"].items(), key=lambda kv: -kv[1][1])
  return {
      "train_step": sum(counted["flops"].values()),
      "forward": sum(count_flops(forward.graph)["flops"].values()),
      "profiler_flops": profiler_flops(step.graph),
      "train_step_by_op_type": dict(counted["flops"].most_common()),
      "uncounted": {op_type: {"ops": ops, "output_values": values}
                    for op_type, (ops, values) in uncounted},
      "uncounted_output_values": sum(v for _, (_, v) in uncounted),
      "ops_of_unknown_shape": dict(counted["unknown_shape"]),
      "loops_counted_once": counted["loops"],
      "function_bodies_not_entered": counted["not_entered"],
  }


# -- Times -------------------------------------------------------------------


def time_input_pipeline(dataset, steps, repeats):
  """Median and all rounds of the batches per second the training dataset
  delivers on its own, the median CPU seconds (all threads) it spends per
  batch, and its last batch."""
  iterator = iter(dataset)
  batches = max(steps, 10)
  for _ in range(batches):  # fills the prefetch buffer, tunes AUTOTUNE
    next(iterator)
  rates, cpu = [], []
  for _ in range(repeats):
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(batches):
      batch = next(iterator)
    batch.numpy()
    rates.append(batches / (time.perf_counter() - start))
    cpu.append((time.process_time() - cpu_start) / batches)
  return statistics.median(rates), rates, statistics.median(cpu), batch


def time_forward(model, batch, steps, repeats):
  """Seconds of the forward pass (training=True) alone."""
  forward = tf.function(lambda x: model(x, training=True)["loss"])
  return seconds_per_step(lambda: forward(batch), steps, repeats)


def time_forward_backward(model, batch, steps, repeats):
  """Seconds of the forward pass and the gradients of every stage's loss
  (the train step without the optimizer)."""
  stages = model.stages()
  variables = [v for stage in stages for v in stage.variables(model)]

  @tf.function
  def forward_backward(x):
    with tf.GradientTape() as tape:
      terms = model(x, training=True)
      loss = tf.add_n([terms[stage.loss] for stage in stages])
    return [g for g in tape.gradient(loss, variables) if g is not None]

  return seconds_per_step(lambda: forward_backward(batch), steps, repeats)


def time_keras_step(model, batch, steps, repeats):
  """Seconds per step of `model.fit` on one batch repeated (the optimizer(s)
  and the metrics included; no data loading), as `seconds_per_step`."""
  dataset = tf.data.Dataset.from_tensors(batch).repeat()
  start = time.perf_counter()
  model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
  warmup_seconds = time.perf_counter() - start
  rounds = []
  for _ in range(repeats):
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    rounds.append((time.perf_counter() - start) / steps)
  return statistics.median(rounds), rounds, warmup_seconds


def time_keras_step_xla(system, args, batch, steps, repeats):
  """`time_keras_step` of a fresh model compiled with XLA."""
  tf.keras.utils.set_random_seed(1)
  model, _ = training.compiled_model(system, args)
  model.compile(optimizer=model.optimizer, jit_compile=True)
  return time_keras_step(model, batch, steps, repeats)


def one_line(error):
  """The first informative line of an error message."""
  lines = [l.strip() for l in str(error).splitlines() if l.strip()]
  return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


# -- The machine ---------------------------------------------------------------


def cpu_model():
  """The CPU's model name and the vector extensions that set its peak."""
  name, flags = None, set()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name is None:
          name = value.strip()
        elif key.strip() == "flags" and not flags:
          flags = set(value.split())
  except OSError:
    pass
  wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
  return {"model_name": name,
          "vector_extensions": [f for f in wanted if f in flags]}


def tensorflow_settings():
  """TensorFlow's thread settings and whether its oneDNN ops are on."""
  try:
    from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top,g-direct-tensorflow-import
    onednn = bool(_pywrap_util_port.IsMklEnabled())
  except (ImportError, AttributeError):
    onednn = None
  return {
      "tensorflow": tf.__version__,
      "intra_op_parallelism_threads":
          tf.config.threading.get_intra_op_parallelism_threads(),
      "inter_op_parallelism_threads":
          tf.config.threading.get_inter_op_parallelism_threads(),
      "threads_note": "0 means TensorFlow's default: as many threads as "
                      "the cores the process may run on",
      "cores_available": len(os.sched_getaffinity(0)),
      "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
      "onednn_enabled": onednn,
  }


# -- One case ----------------------------------------------------------------


def measure_case(name, flags, steps, repeats, peak):
  """Every measurement of one case."""
  system_name, case_flags = CASES[name]
  system = systems.system(system_name)
  args = train_args(system, ["--profile", "quick", *case_flags, *flags])
  # As training reads it (decoded images kept in memory when they fit
  # --cache_gib), and decoding every file at every use (--cache_gib 0).
  rate, rates, cpu, batch = time_input_pipeline(
      training.datasets(args)[0], steps, repeats)  # uint8, as fit sees it
  uncached = train_args(system, ["--profile", "quick", *case_flags, *flags,
                                 "--cache_gib", "0"])
  uncached_rate, _, uncached_cpu, _ = time_input_pipeline(
      training.datasets(uncached)[0], steps, repeats)

  tf.keras.utils.set_random_seed(1)
  model, _ = training.compiled_model(system, args)
  flops = flop_report(model, tf.TensorSpec(batch.shape, batch.dtype))
  data_root = os.environ["TFC_REPRO_DATA"]
  row = {
      "case": name,
      "system": system_name,
      "flags": [f.replace(data_root, "$TFC_REPRO_DATA")
                for f in ["--profile", "quick", *case_flags, *flags]],
      "patchsize": args.patchsize,
      "batchsize": args.batchsize,
      "config": model.config,
      "trainable_variables": sum(int(tf.size(v))
                                 for v in model.trainable_variables),
      "flops": flops,
      "floor_seconds": flops["train_step"] / (peak * 1e9),
  }
  row["input_pipeline_batches_per_second"] = rate
  row["input_pipeline_batches_per_second_all"] = rates
  row["input_pipeline_cpu_seconds_per_batch"] = cpu
  row["input_pipeline_uncached_batches_per_second"] = uncached_rate
  row["input_pipeline_uncached_cpu_seconds_per_batch"] = uncached_cpu
  seconds, rounds, warmup = {}, {}, {}
  timings = (("forward", lambda: time_forward(model, batch, steps, repeats)),
             ("forward_backward", lambda: time_forward_backward(
                 model, batch, steps, repeats)),
             ("keras_step", lambda: time_keras_step(model, batch, steps,
                                                    repeats)),
             ("keras_step_xla", lambda: time_keras_step_xla(
                 system, args, batch, steps, repeats)))
  for key, timing in timings:
    try:
      seconds[key], rounds[key], warmup[key] = timing()
    except Exception as e:  # pylint: disable=broad-except
      if key != "keras_step_xla":
        raise
      row["xla_error"] = one_line(e)
  step = seconds["keras_step"]
  row.update(
      seconds_per_step=seconds,
      seconds_per_step_rounds=rounds,
      warmup_seconds=warmup,
      # Differences of medians: noisy, may come out negative.
      backward_seconds=seconds["forward_backward"] - seconds["forward"],
      optimizer_and_keras_seconds=step - seconds["forward_backward"],
      step_over_floor=step / row["floor_seconds"],
      achieved_gflops=flops["train_step"] / step / 1e9,
      input_keeps_up=rate >= 1. / step)
  if "keras_step_xla" in seconds:
    row["xla_step_over_floor"] = seconds["keras_step_xla"] / row[
        "floor_seconds"]
  return row


def summary_line(row):
  """One line of the summary table."""
  s = row["seconds_per_step"]
  xla = (f"{s['keras_step_xla']:8.3f}" if "keras_step_xla" in s else
         f"{'failed':>8s}")
  return (f"{row['case']:32s} {row['flops']['train_step'] / 1e9:8.2f} "
          f"{row['floor_seconds']:8.4f} "
          f"{row['input_pipeline_batches_per_second']:8.1f} "
          f"{s['forward']:8.3f} {s['forward_backward']:8.3f} "
          f"{s['keras_step']:8.3f} {xla} {row['step_over_floor']:9.1f} "
          f"{'yes' if row['input_keeps_up'] else 'no':>5s}")


SUMMARY_HEADER = (f"{'case':32s} {'GFLOP':>8s} {'floor s':>8s} "
                  f"{'input/s':>8s} {'fwd s':>8s} {'fwd+bwd':>8s} "
                  f"{'step s':>8s} {'xla s':>8s} {'step/floor':>9s} "
                  f"{'keeps':>5s}")


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--cases", default=",".join(CASES),
                      help="Comma-separated cases (default: all): "
                           + ", ".join(CASES))
  parser.add_argument("--steps", type=int, default=10,
                      help="Timed steps per round of each measurement.")
  parser.add_argument("--repeats", type=int, default=3,
                      help="Rounds per measurement (the median is kept).")
  parser.add_argument("--tiny", action="store_true",
                      help="Shrink every model (8 filters, 64x64 crops): a "
                           "smoke test of the script, not a measurement.")
  parser.add_argument("--output", default=os.path.join(
      ROOT, "results", "bench", "train.json"),
                      help="JSON file to write (default "
                           "results/bench/train.json).")
  flags = parser.parse_args()
  names = [n for n in flags.cases.split(",") if n]
  unknown = [n for n in names if n not in CASES]
  if unknown:
    parser.error(f"unknown case {unknown[0]!r} (one of {', '.join(CASES)})")
  if not os.environ.get("TFC_REPRO_DATA"):
    parser.error("set TFC_REPRO_DATA to the folder holding train/")
  data_root = os.environ["TFC_REPRO_DATA"] = os.path.normpath(
      os.environ["TFC_REPRO_DATA"])
  data_flags = [
      "--seed", "1", "--train_glob", os.path.join(data_root, "train"),
      "--validation_glob",
      os.path.join(data_root, "train", "wikipedia_photos", "00[1-8].png")]
  tf.get_logger().setLevel("ERROR")
  absl_logging.set_verbosity(absl_logging.ERROR)

  peak_repeats = 1 if flags.tiny else 5
  report = {
      "description": "Seconds per training step of each system's quick "
                     "profile, where they go (input pipeline, forward, "
                     "backward, optimizer, XLA), and the step's FLOP floor.",
      "smoke_test": flags.tiny,
      "finished": False,
      "machine": results.machine_info(),
      "cpu": cpu_model(),
      "tensorflow_settings": tensorflow_settings(),
      "peak_gflops": peak_gflops(peak_repeats),
      "peak_note": "the best of a 2048² float32 matmul and a 5x5 192→192 "
                   "convolution; floors use the peak measured at the start "
                   "(peak_gflops), peak_gflops_at_end is measured again "
                   "after the last case",
      "flop_counting": FLOP_NOTE,
      "timing": f"median over {flags.repeats} rounds of {flags.steps} steps "
                "after 2 warm-up steps, whose seconds (tracing, graph "
                "optimization, XLA compilation) are warmup_seconds; input "
                f"pipeline: rounds of {max(flags.steps, 10)} batches after "
                "as many warm-up batches. floor_seconds = train-step FLOPs "
                "/ peak; backward_seconds and optimizer_and_keras_seconds "
                "are differences of medians (noisy)",
      "cases": [],
  }
  if flags.tiny:
    report["smoke_test_note"] = ("--tiny: every model shrunk to 8 filters on "
                                 f"{TINY_PATCHSIZE}x{TINY_PATCHSIZE} crops; "
                                 "not a measurement")
  print(SUMMARY_HEADER, flush=True)
  for name in names:
    extra = list(data_flags)
    if flags.tiny:
      extra += TINY_FLAGS[CASES[name][0]] + ["--patchsize",
                                             str(TINY_PATCHSIZE)]
    report["cases"].append(measure_case(name, extra, flags.steps,
                                        flags.repeats, report["peak_gflops"]))
    print(summary_line(report["cases"][-1]), flush=True)
    write_report(report, flags.output)  # what is done so far
    tf.keras.backend.clear_session()
  report["peak_gflops_at_end"] = peak_gflops(peak_repeats)
  report["finished"] = True
  write_report(report, flags.output)
  print(f"wrote {flags.output}")


if __name__ == "__main__":
  main()
