"""The shared training loop: data, strategy, schedule, callbacks, resume, export.

`train(system, args)` builds the paper's model inside a `tf.distribute`
strategy, fits it with Keras (progress bar, TensorBoard logs, validation on
held-out images, a NaN guard, and `BackupAndRestore` so that a killed run
continues from its last completed epoch when started again with the same
`--train_path`), then exports the SavedModel to `--model_path`.
"""

import math
import os
import shutil
import sys
import time

import tensorflow as tf

from tfc_repro import argutil
from tfc_repro import data
from tfc_repro import model as model_lib
from tfc_repro import progress as progress_lib
from tfc_repro import savedmodel
from tfc_repro import zoo


class TrainingError(RuntimeError):
  """Training cannot go on (e.g. the loss became NaN)."""


class NanGuard(tf.keras.callbacks.Callback):
  """Stops with a clear error as soon as the loss is not finite."""

  def on_train_batch_end(self, batch, logs=None):
    loss = float((logs or {}).get("loss", 0.0))
    if not math.isfinite(loss):
      step = int(self.model.optimizer.iterations.numpy())
      raise TrainingError(
          f"the loss became {loss} at step {step}; try a lower --lr (the last "
          "completed epoch is kept in --train_path)")


class BestWeights(tf.keras.callbacks.Callback):
  """Keeps the weights of the epoch with the lowest validation loss and, at
  the end of training, puts them back when a later epoch was worse (a late
  loss spike), saying so on stderr. `step` is then the step those weights
  are from (the run's last step otherwise). Best weights of a previous,
  interrupted process are not known: a resumed run compares its own
  epochs. With `averages` (a `WeightAverages`), the weights kept are the
  averaged weights that were validated."""

  def __init__(self, monitor="val_loss", averages=None):
    super().__init__()
    self.monitor = monitor
    self.averages = averages
    self.best = math.inf
    self.best_step = None
    self.best_weights = None
    self.last_step = None
    self.last = None
    self.restored = False

  def on_epoch_end(self, epoch, logs=None):
    value = (logs or {}).get(self.monitor)
    if value is None:
      return
    value = float(value)
    if not math.isfinite(value):
      value = math.inf
    self.last_step = int(self.model.optimizer.iterations.numpy())
    self.last = value
    if value < self.best:
      self.best, self.best_step = value, self.last_step
      self.best_weights = (self.averages.validated_weights if self.averages
                           else self.model.get_weights())

  def on_train_end(self, logs=None):
    if self.best_weights is None or self.best_step == self.last_step:
      return
    self.model.set_weights(self.best_weights)
    self.restored = True
    print(f"warning: the {self.monitor} of the last step ({self.last:.4g} at "
          f"step {self.last_step}) is above the best ({self.best:.4g} at step "
          f"{self.best_step}): the model keeps the weights of step "
          f"{self.best_step}", file=sys.stderr, flush=True)

  @property
  def step(self):
    return self.best_step if self.restored else self.last_step


class Adam(tf.keras.optimizers.Adam):
  """Keras's Adam, except that with weight averaging (`use_ema`) the
  averages enter the model only when `put_averages` says: Keras would put
  them in at the end of `fit` itself, handing the first optimizer the
  variables of every stage, and the engine does it for each stage with its
  own optimizer (`WeightAverages`)."""

  def finalize_variable_values(self, var_list):
    del var_list  # See the class docstring.

  def put_averages(self, var_list):
    """Sets the variables to their moving averages."""
    super().finalize_variable_values(var_list)


class WeightAverages(tf.keras.callbacks.Callback):
  """Validates and ends training with the moving averages of the weights
  that each stage's optimizer keeps (`Adam(use_ema=True)`): the training
  steps go on from the raw weights; validation sees the averages; at the
  end of training the model keeps the averages. `validated_weights` are
  the model's weights (averages in) at the last validation."""

  def __init__(self, stages):
    super().__init__()
    self.stages = stages
    self.raw = None
    self.validated_weights = None

  def _variables(self):
    return [v for stage in self.stages for v in stage.variables(self.model)]

  def put_averages(self):
    for stage in self.stages:
      self.model.stage_optimizer(stage).put_averages(
          stage.variables(self.model))

  def on_test_begin(self, logs=None):
    self.raw = [v.numpy() for v in self._variables()]
    self.put_averages()

  def on_test_end(self, logs=None):
    self.validated_weights = self.model.get_weights()
    for variable, value in zip(self._variables(), self.raw):
      variable.assign(value)
    self.raw = None

  def on_train_end(self, logs=None):
    self.put_averages()


class ProgressLog(tf.keras.callbacks.Callback):
  """Appends one CSV row per epoch to `path`: the step, the process's CPU
  seconds (all threads; summed over resumed runs) and wall seconds since
  the run started, and the epoch's training and validation terms. A resumed
  run continues the file (its CPU clock from the last row's)."""

  def __init__(self, path):
    super().__init__()
    self.path = path
    self.cpu_before = 0.
    self.wall_before = 0.
    self.fields = None
    if os.path.exists(path):
      import csv  # pylint: disable=g-import-not-at-top
      try:
        with open(path, newline="") as f:
          rows = list(csv.DictReader(f))
        if rows:
          self.cpu_before = float(rows[-1]["cpu_seconds"])
          self.wall_before = float(rows[-1]["wall_seconds"])
          self.fields = list(rows[0])
      except (KeyError, TypeError, ValueError, csv.Error) as e:
        raise TrainingError(
            f"{path} is not a progress log that this run can continue "
            f"({type(e).__name__}: {e}): put the file back, or remove it "
            "(the run's CPU time then counts from now)") from None

  def on_train_begin(self, logs=None):
    self.cpu_start = time.process_time()
    self.wall_start = time.time()

  def on_epoch_end(self, epoch, logs=None):
    import csv  # pylint: disable=g-import-not-at-top
    row = dict(
        step=int(self.model.optimizer.iterations.numpy()),
        cpu_seconds=round(self.cpu_seconds, 2),
        wall_seconds=round(self.wall_before + time.time() - self.wall_start,
                           2))
    row.update({k: f"{float(v):.6g}" for k, v in sorted((logs or {}).items())})
    if self.fields is None:
      self.fields = list(row)
    with open(self.path, "a", newline="") as f:
      writer = csv.DictWriter(f, self.fields, extrasaction="ignore")
      if f.tell() == 0:
        writer.writeheader()
      writer.writerow(row)

  @property
  def cpu_seconds(self):
    return self.cpu_before + time.process_time() - self.cpu_start


class StopAtStep(tf.keras.callbacks.Callback):
  """Ends training after exactly `steps` optimizer steps (Keras epochs are
  whole, so the last epoch may be cut short)."""

  def __init__(self, steps):
    super().__init__()
    self.steps = steps

  def on_train_batch_end(self, batch, logs=None):
    if int(self.model.optimizer.iterations.numpy()) >= self.steps:
      self.model.stop_training = True


# The file in TRAIN_PATH where RateShareMonitor keeps its warnings.
RATE_SHARE_WARNINGS = "rate_share_warnings.txt"


class RateShareMonitor(tf.keras.callbacks.Callback):
  """Warns (once per latent, on stderr) when a latent carries less than
  `min_share` of the rate at the end of an epoch after the first fifth of
  the steps: a collapsed level of a hierarchy codes nothing and is wasted.
  The rates are the validation's when there is a validation (quantized
  latents, as in files: a level can carry bits under the training noise yet
  round to its prior mean everywhere), else the training's. `warnings`
  lists what was reported; with a `path`, also in that file (one per line),
  which a resumed run reads back: its warnings are the whole run's."""

  def __init__(self, latent_names, min_share, steps, path=None):
    super().__init__()
    self.latent_names = latent_names
    self.min_share = min_share
    self.steps = steps
    self.path = path
    self.warnings = []
    if path and os.path.isfile(path):
      # One per latent (the workers of a multi-worker run share the file).
      with open(path, encoding="utf-8") as f:
        for line in f:
          name = line.split(":", 1)[0]
          if line.strip() and not self._warned(name):
            self.warnings.append(line.rstrip("\n"))

  def _warned(self, name):
    return any(w.startswith(f"{name}:") for w in self.warnings)

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    step = int(self.model.optimizer.iterations.numpy())
    prefix = "val_" if "val_bpp" in logs else ""
    total = float(logs.get(prefix + "bpp", 0.))
    if step < self.steps / 5 or total <= 0.:
      return
    for name in self.latent_names:
      share = float(logs.get(f"{prefix}bpp_{name}", total)) / total
      if share < self.min_share and not self._warned(name):
        message = (f"{name}: {100 * share:.2f} % of the rate at step {step} "
                   f"(under {100 * self.min_share:g} %): the level may have "
                   "collapsed")
        self.warnings.append(message)
        print(f"warning: latent {message}", file=sys.stderr)
        if self.path:
          with open(self.path, "a", encoding="utf-8") as f:
            f.write(message + "\n")


def make_strategy(name, logical_cpus=0):
  """`default`, `mirrored` (all local GPUs, or the logical CPUs) or
  `multiworker` (the cluster described by TF_CONFIG)."""
  if logical_cpus:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    devices = None
    if not tf.config.list_physical_devices("GPU"):
      devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)
  if name == "multiworker":
    configure_multiworker()
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise ValueError(f"unknown strategy {name!r}")


# The heartbeat timeout of TensorFlow's coordination service in a
# multi-worker run (TensorFlow's default is 10 s). TensorFlow 2.14 gives a
# worker no way to leave the service: once a worker's process has ended,
# the service (on the chief) reports it failed when its heartbeats have
# stopped for this long, and a worker that outlives the chief reports the
# service gone at its next heartbeat (every half timeout). The workers of a
# finished run leave one after the other well within it
# (`finish_workers`). A worker that dies in training is still noticed at
# once by the collectives (connection errors); a hung one after this long.
HEARTBEAT_TIMEOUT_SECONDS = 60


def configure_multiworker(heartbeat_seconds=HEARTBEAT_TIMEOUT_SECONDS):
  """Configures TensorFlow's coordination service for the cluster of
  TF_CONFIG as `MultiWorkerMirroredStrategy` does itself (a service on the
  chief, or worker 0, joined by every chief and worker task), with
  `heartbeat_seconds` as its heartbeat timeout. Called before the strategy
  is made, which then keeps this configuration."""
  from tensorflow.python.distribute import multi_worker_util  # pylint: disable=g-import-not-at-top
  from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top
  from tensorflow.tsl.protobuf import coordination_config_pb2  # pylint: disable=g-import-not-at-top
  resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
  cluster = resolver.cluster_spec()
  if (not cluster.as_dict() or resolver.task_type not in ("chief", "worker")
      or context.context().coordination_service is not None):
    return
  jobs = [coordination_config_pb2.CoordinatedJob(
      name=job, num_tasks=cluster.num_tasks(job))
          for job in ("chief", "worker") if job in cluster.jobs]
  context.context().configure_coordination_service(
      service_type="standalone",
      service_leader=multi_worker_util.coordination_leader(cluster),
      heartbeat_timeout_in_ms=int(heartbeat_seconds * 1000),
      coordinated_jobs=jobs)


LR_SCHEDULES = ("step", "cosine")


def warmup_length(warmup_steps, steps):
  """The warm-up a run of `steps` takes: at most a tenth of it (a short run
  is not all warm-up)."""
  return min(warmup_steps, steps // 10)


class WarmupSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
  """A linear warm-up from lr/warmup_steps to lr over the first
  `warmup_steps` steps, then `after` (a schedule of the step count from the
  start of training, or a constant)."""

  def __init__(self, lr, warmup_steps, after):
    super().__init__()
    self.lr = lr
    self.warmup_steps = warmup_steps
    self.after = after

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    after = self.after(step) if callable(self.after) else tf.constant(
        self.after, tf.float32)
    warm = self.lr * (step + 1.) / float(self.warmup_steps)
    return tf.where(step < self.warmup_steps, warm, after)

  def get_config(self):
    return dict(lr=self.lr, warmup_steps=self.warmup_steps,
                after=self.after if not callable(self.after) else
                tf.keras.optimizers.schedules.serialize(self.after))


class CosineSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
  """lr·(f + (1 − f)·½(1 + cos πt)), t going from 0 at `start` to 1 at
  `steps` (and staying there): a cosine decay to the fraction f of lr."""

  def __init__(self, lr, steps, final_fraction, start=0):
    super().__init__()
    self.lr = lr
    self.steps = steps
    self.final_fraction = final_fraction
    self.start = start

  def __call__(self, step):
    t = (tf.cast(step, tf.float32) - self.start) / float(
        max(self.steps - self.start, 1))
    t = tf.clip_by_value(t, 0., 1.)
    f = self.final_fraction
    return self.lr * (f + (1. - f) * .5 * (1. + tf.cos(math.pi * t)))

  def get_config(self):
    return dict(lr=self.lr, steps=self.steps,
                final_fraction=self.final_fraction, start=self.start)


def learning_rate(lr, steps, decay_fractions, factor=0.1, warmup_steps=0,
                  schedule="step"):
  """The learning rate of step k as a Keras schedule (or a constant):

  * "step": constant `lr`, multiplied by `factor` at each fraction of
    `steps` in `decay_fractions` (e.g. (0.7, 0.9)): the papers' recipes;
  * "cosine": a cosine decay from `lr` after the warm-up to `factor`·lr at
    the last step (`decay_fractions` unused);

  either after a linear warm-up over the first `warmup_steps` steps (at most
  a tenth of `steps`: a short run is not all warm-up).
  """
  warmup_steps = warmup_length(warmup_steps, steps)
  if schedule not in LR_SCHEDULES:
    raise ValueError(f"schedule must be one of {LR_SCHEDULES}, "
                     f"got {schedule!r}")
  if schedule == "cosine":
    after = CosineSchedule(lr, steps, factor, start=warmup_steps)
  elif decay_fractions:
    boundaries = [int(f * steps) for f in decay_fractions]
    values = [lr * factor ** i for i in range(len(boundaries) + 1)]
    after = tf.keras.optimizers.schedules.PiecewiseConstantDecay(boundaries,
                                                                 values)
  else:
    after = lr
  return WarmupSchedule(lr, warmup_steps, after) if warmup_steps else after


def describe_schedule(lr, steps, decay_fractions, factor=0.1, warmup_steps=0,
                      schedule="step", clip_norm=0.):
  """The learning-rate schedule in words, e.g. 'Adam 0.002, ×0.1 from step
  2800'."""
  text = f"Adam {lr:g}"
  warmup_steps = warmup_length(warmup_steps, steps)
  if warmup_steps:
    text += f", linear warm-up over {warmup_steps} steps"
  if schedule == "cosine":
    text += f", cosine decay to ×{factor:g} at step {steps}"
  else:
    for fraction in decay_fractions or ():
      text += f", ×{factor:g} from step {int(fraction * steps)}"
    if not decay_fractions:
      text += " (constant)" if not warmup_steps else ", then constant"
  if clip_norm:
    text += f", gradients clipped to global norm {clip_norm:g}"
  return text


def optimizer(args, lr=None):
  """Adam with the schedule and gradient clipping `args` say (`lr`
  replaces --lr, e.g. for a further stage's own rate)."""
  lr = args.lr if lr is None else lr
  momentum = getattr(args, "weight_averaging", 0.) or 0.
  return Adam(
      learning_rate=learning_rate(
          lr, args.steps, args.lr_decay_steps, args.lr_decay_factor,
          warmup_steps=getattr(args, "warmup_steps", 0) or 0,
          schedule=getattr(args, "lr_schedule", "step") or "step"),
      global_clipnorm=getattr(args, "clip_norm", 0.) or None,
      use_ema=bool(momentum), ema_momentum=momentum or 0.99)


def final_crops(args):
  """(side, batch) of the final crops of a crop-size schedule, or None."""
  if not getattr(args, "final_patchsize", 0):
    return None
  return args.final_patchsize, (args.batchsize * args.patchsize**2
                                // args.final_patchsize**2)


def check_final_batch(args, replicas):
  """Refuses a crop-size schedule whose final batch the replicas cannot
  split evenly (a replica without a crop would fail at the switch)."""
  final = final_crops(args)
  if final and final[1] % replicas:
    raise ValueError(
        f"the final crops' batch ({final[1]}: --batchsize × --patchsize² / "
        f"--final_patchsize²) must be a multiple of the {replicas} replicas "
        "training it")


def check_crop_sides(model, args):
  """Refuses in one line crops (--patchsize, --final_patchsize) whose side
  `model` cannot train on: a side that is not a multiple of its down-
  sampling gives a reconstruction of another size than the crop."""
  multiple = model.training_crop_multiple()
  for flag in ("patchsize", "final_patchsize"):
    side = getattr(args, flag, 0) or 0
    if side % multiple:
      raise ValueError(
          f"--{flag} must be a multiple of {multiple} for this "
          f"{model.system} model (its transforms down-sample by "
          f"{multiple}), got {side}")


def image_paths(args):
  """(training images, validation images, description of their source) of
  --train_glob and --validation_glob (default: the embedded photos)."""
  if args.train_glob:
    paths = data.list_images(args.train_glob)
    source = f"glob:{args.train_glob}"
  else:
    paths = data.default_photo_paths()
    source = "default: scikit-image photos " + ", ".join(
        os.path.basename(p) for p in paths)
  validation_glob = getattr(args, "validation_glob", None)
  if validation_glob:
    # Named held-out images: left out of training wherever they are.
    validation_paths = data.list_images(validation_glob)
    held_out = {os.path.realpath(p) for p in validation_paths}
    train_paths = [p for p in paths if os.path.realpath(p) not in held_out]
    if not train_paths:
      raise data.DataError("every training image is in --validation_glob")
    source += f", validation:{validation_glob}"
  else:
    train_paths, validation_paths = data.split_paths(paths)
  return train_paths, validation_paths, source


def datasets(args):
  """(training dataset, validation dataset, description of the data). With
  a crop-size schedule, the training dataset gives pairs (crops, final
  crops), drawn independently, and the model trains on one of each pair."""
  final = final_crops(args)
  if args.tfds:
    train = data.tfds_dataset(args.tfds, "train", args.patchsize,
                              args.batchsize, training=True, seed=args.seed,
                              final=final)
    validation = data.tfds_dataset(args.tfds, "validation", args.patchsize,
                                   args.batchsize, training=False).take(
                                       args.validation_batches)
    return train, validation, f"tfds:{args.tfds}"
  train_paths, validation_paths, source = image_paths(args)
  data.check_training_images(train_paths + validation_paths)
  cache_bytes = (getattr(args, "cache_gib", 0.) or 0.) * 2**30
  decoded = data.decoded_bytes(train_paths, cache_bytes) if cache_bytes else 0
  cache = bool(cache_bytes) and decoded <= cache_bytes
  images = f"{len(train_paths)} training image" + (
      "s" if len(train_paths) != 1 else "")
  if cache:
    print(f"decoding the {images} once into memory "
          f"({decoded / 2**20:.0f} MiB)", flush=True)
  train = data.file_dataset(train_paths, args.patchsize, args.batchsize,
                            training=True, seed=args.seed, cache=cache,
                            final=final)
  validation = None
  if validation_paths:
    validation = data.file_dataset(validation_paths, args.patchsize,
                                   args.batchsize, training=False)
  description = (f"{source} ({images}, {len(validation_paths)} held out "
                 "for validation)")
  return train, validation, description


def compiled_model(system, args):
  """(`system`'s model, compiled with one Adam optimizer per stage and the
  learning-rate schedule `args` say, what `init_from` returned of the
  parent or None). Call within the strategy's scope."""
  model = system.build_model(args)
  if getattr(args, "quantization", None):
    model_lib.set_training_quantization(model, args.quantization)
  parent = None
  if getattr(args, "init_from", None):
    # Before the optimizers: weight averages start from the parent's
    # weights. Before fit: a resumed run then restores its own later weights.
    parent = init_from(model, args.init_from, system.name)
  if final_crops(args):
    model.final_crops_from_step = int(args.final_patchsize_from * args.steps)
  stages = model.stages()
  model.compile(optimizer=optimizer(args))
  if len(stages) > 1:
    # One optimizer per further stage, tracked by the model so that
    # checkpoints (and resuming) keep every optimizer's state.
    model.stage_optimizers = {
        stage.name: optimizer(args, stage.learning_rate or args.lr)
        for stage in stages[1:]}
  # The optimizers' slots now rather than in the first training step: a
  # tf.function whose first call creates variables is traced twice, and a
  # model's training step takes seconds to a minute to trace.
  for stage in stages:
    model.stage_optimizer(stage).build(stage.variables(model))
  return model, parent


# What a run must keep when it resumes from its checkpoint: the model's
# configuration (architecture, λ) and the flags that change what the
# checkpoint holds or what the model trains on. (--steps may change: a
# finished run can be trained further.)
RUN_KEYS = ("quantization", "weight_averaging", "patchsize", "batchsize",
            "final_patchsize")


def first_difference(ours, theirs):
  """The first key (in sorted order) whose value differs between two
  records of settings (a key missing on one side counts as None), or None
  when they agree."""
  return next((key for key in sorted(set(ours) | set(theirs))
               if ours.get(key) != theirs.get(key)), None)


class AlreadyTrained(Exception):
  """The model a run would export is already at --model_path: the same
  configuration trained the same way (`check_finished_run`)."""

  def __init__(self, message, metadata):
    super().__init__(message)
    self.metadata = metadata


# Besides the model's configuration and RUN_KEYS, what makes two runs the
# same run (the metadata's record of each).
SAME_RUN_KEYS = ("steps", "lr", "lr_decay_steps", "lr_decay_factor",
                 "warmup_steps", "lr_schedule", "clip_norm", "seed",
                 "train_data", "init_from")


def check_finished_run(model_path, train_path, model, args, parent,
                       data_description):
  """Compares the run about to start with the model a finished run
  exported to `model_path` (nothing to compare while a checkpoint of an
  unfinished run is there to resume, `check_resumed_run`): refuses in one
  line a model of another configuration (architecture, λ, the RUN_KEYS),
  which training would replace; raises `AlreadyTrained` when it is this
  very run's (re-running a finished command trains nothing); otherwise
  (e.g. more --steps, another --seed) says on stderr that the run trains
  afresh and replaces it."""
  import json  # pylint: disable=g-import-not-at-top
  if (os.path.isdir(os.path.join(train_path, "backup"))
      or not os.path.isfile(os.path.join(model_path, "saved_model.pb"))):
    return
  try:
    recorded = savedmodel.read_metadata(model_path)
  except savedmodel.ModelError:
    return  # no record to compare with: not a run of this tool
  ours = dict(model.config, quantization=model.training_quantization,
              **{key: getattr(args, key, None) for key in RUN_KEYS
                 if key != "quantization"})
  ours = json.loads(json.dumps(ours))  # as read back
  theirs = dict(recorded.get("config") or {},
                **{key: recorded.get(key) for key in RUN_KEYS})
  key = first_difference(ours, theirs)
  if key:
    raise ValueError(
        f"{model_path} holds a model trained with {key} "
        f"{theirs.get(key)!r}, not {ours.get(key)!r}: give another "
        "--model_path, or remove it to train it again")
  run = json.loads(json.dumps(dict(
      steps=args.steps, lr=args.lr, lr_decay_steps=list(args.lr_decay_steps),
      lr_decay_factor=args.lr_decay_factor, warmup_steps=args.warmup_steps,
      lr_schedule=args.lr_schedule, clip_norm=args.clip_norm, seed=args.seed,
      train_data=data_description, init_from=parent)))
  for key in SAME_RUN_KEYS:
    if run[key] != recorded.get(key):
      print(f"note: {model_path} holds a model of this configuration "
            f"trained with {key} {recorded.get(key)!r}; this run ({key} "
            f"{run[key]!r}) trains afresh and replaces it", file=sys.stderr,
            flush=True)
      return
  raise AlreadyTrained(
      f"{model_path} already holds this model, trained for "
      f"{recorded.get('steps')} steps: nothing to train (remove it, or give "
      "another --model_path, to train it again)", recorded)


def check_backup(backup):
  """Refuses in one line a resume checkpoint in the folder `backup` (as
  `BackupAndRestore` writes it: one folder per worker) that does not read
  whole, before Keras restores it (with a traceback)."""
  for worker in sorted(os.listdir(backup)):
    folder = os.path.join(backup, worker)
    checkpoint = (tf.train.latest_checkpoint(folder)
                  if os.path.isdir(folder) else None)
    if checkpoint is None:
      continue
    try:
      reader = tf.train.load_checkpoint(checkpoint)
      for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)
    except Exception as e:  # pylint: disable=broad-except
      raise ValueError(
          f"the resume checkpoint {checkpoint} does not read "
          f"({argutil.first_line(e)}): remove {backup} to train afresh"
      ) from None


def check_resumed_run(train_path, model, args):
  """Writes the run's configuration to TRAIN_PATH/run.json, or, when a
  checkpoint of an earlier run is there to resume, refuses in one line a
  run whose configuration differs from the one it recorded."""
  import json  # pylint: disable=g-import-not-at-top
  run = dict(config=model.config,
             **{key: getattr(args, key, None) for key in RUN_KEYS})
  run = json.loads(json.dumps(run))  # as read back
  path = os.path.join(train_path, "run.json")
  if os.path.isdir(os.path.join(train_path, "backup")):
    # A checkpoint to resume: only with the settings it was made with.
    try:
      with open(path) as f:
        recorded = json.load(f)
      if not isinstance(recorded, dict):
        raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
      reason = ("is missing" if isinstance(e, FileNotFoundError)
                else f"does not read ({argutil.first_line(e)})")
      raise ValueError(
          f"{train_path} holds a checkpoint to resume, but the record of its "
          f"settings, {path}, {reason}: put it back, or remove "
          f"{os.path.join(train_path, 'backup')} to train afresh") from None
    check_backup(os.path.join(train_path, "backup"))
    ours = dict(run.pop("config"), **run)
    theirs = dict(recorded.pop("config", {}), **recorded)
    key = first_difference(ours, theirs)
    if key:
      raise ValueError(
          f"{train_path} holds a run with {key} {theirs.get(key)!r}, not "
          f"{ours.get(key)!r}: resume it with the same settings, or train "
          "elsewhere (--train_path, or remove it)")
    return
  os.makedirs(train_path, exist_ok=True)
  with open(path, "w") as f:
    json.dump(run, f, indent=1, sort_keys=True)
  # A new run: an earlier run's warnings and progress log are not its own.
  for name in (RATE_SHARE_WARNINGS, progress_lib.PROGRESS_LOG):
    if os.path.exists(os.path.join(train_path, name)):
      os.remove(os.path.join(train_path, name))


def build_and_fit(system, args, extra_callbacks=()):
  """Builds `system`'s model and trains it as `args` say.

  Returns the trained model and a dict describing the training.
  """
  if args.seed is not None:
    # The same command then trains the same model on the same machine: seeded
    # random ops, and kernels and tf.data functions run deterministically
    # (random crops in order). Measured cost on a 2-core CPU: none beyond
    # noise (results/bench/determinism.json).
    tf.keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
  strategy = make_strategy(args.strategy, args.logical_cpus)
  train_ds, validation_ds, data_description = datasets(args)
  final = final_crops(args)
  check_final_batch(args, strategy.num_replicas_in_sync)
  with strategy.scope():
    model, parent = compiled_model(system, args)
  check_crop_sides(model, args)
  train_path = args.train_path or args.model_path + ".train"
  check_finished_run(args.model_path, train_path, model, args, parent,
                     data_description)
  steps_per_epoch = min(args.steps_per_epoch, args.steps)
  epochs = math.ceil(args.steps / steps_per_epoch)
  print(f"training {args.steps} steps of batch {args.batchsize} "
        f"({args.patchsize}² crops, {data_description}), learning rate "
        + describe_schedule(args.lr, args.steps, args.lr_decay_steps,
                            args.lr_decay_factor, args.warmup_steps,
                            args.lr_schedule, args.clip_norm)
        + (f"; from step {model.final_crops_from_step}, crops of "
           f"{final[0]}² (batch {final[1]})" if final else "")
        + (f"; validating and exporting the weights' moving average "
           f"(momentum {args.weight_averaging:g})"
           if getattr(args, "weight_averaging", 0.) else ""), flush=True)
  check_resumed_run(train_path, model, args)
  averages = (WeightAverages(model.stages())
              if getattr(args, "weight_averaging", 0.) else None)
  best = BestWeights(monitor="val_" + model.selection_term, averages=averages)
  progress = ProgressLog(os.path.join(train_path, progress_lib.PROGRESS_LOG))
  callbacks = [
      progress,
      NanGuard(),
      StopAtStep(args.steps),
      # Before `best`: its end of training then has the last averages to
      # compare with.
      *([averages] if averages else []),
      best,
      # Kept after fit (deleted once the model is exported): a run killed
      # during export resumes from its last step instead of step 0.
      tf.keras.callbacks.BackupAndRestore(os.path.join(train_path, "backup"),
                                          delete_checkpoint=False),
      # The curves only: writing the training step's graph costs seconds
      # (a minute for the largest models) and is not what anyone reads.
      tf.keras.callbacks.TensorBoard(os.path.join(train_path, "logs"),
                                     update_freq="epoch", write_graph=False),
      *extra_callbacks,
  ]
  monitor = None
  if getattr(model, "min_rate_share", None) and len(model.latent_names) > 1:
    monitor = RateShareMonitor(
        model.latent_names, model.min_rate_share, args.steps,
        os.path.join(train_path, RATE_SHARE_WARNINGS))
    callbacks.append(monitor)
  start = time.time()
  try:
    history = model.fit(
        train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
        validation_data=validation_ds, callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2)
  except tf.errors.InvalidArgumentError:
    if not args.tfds:
      # TensorFlow's decoders do not name the file they fail on (its
      # header read, its data did not): the first one that fails.
      train_paths, validation_paths, _ = image_paths(args)
      data.check_decodable(train_paths + validation_paths)
    raise
  info = dict(
      lmbda=model.user_lambda, loss_lambda=model.loss_lambda, metric=model.metric,
      steps=int(model.optimizer.iterations.numpy()),
      train_data=data_description, profile=args.profile,
      patchsize=args.patchsize, batchsize=args.batchsize, lr=args.lr,
      lr_decay_steps=list(args.lr_decay_steps),
      lr_decay_factor=args.lr_decay_factor, warmup_steps=args.warmup_steps,
      lr_schedule=args.lr_schedule, clip_norm=args.clip_norm,
      weight_averaging=getattr(args, "weight_averaging", 0.),
      final_patchsize=getattr(args, "final_patchsize", 0),
      quantization=model.training_quantization, seed=args.seed,
      strategy=args.strategy, replicas=strategy.num_replicas_in_sync,
      train_seconds_this_run=round(time.time() - start, 1),
      train_cpu_seconds=round(progress.cpu_seconds, 1))
  if final:
    info.update(final_batchsize=final[1],
                final_patchsize_from_step=model.final_crops_from_step)
  if monitor is not None:
    info["rate_share_warnings"] = monitor.warnings
  if parent is not None:
    info["init_from"] = parent
  # The exported weights: those of the best validation loss (see BestWeights).
  info["weights_from_step"] = best.step if best.step is not None else info[
      "steps"]
  if best.restored:
    info["best_validation_loss"] = best.best
    info["last_validation_loss"] = best.last
  # The last epoch's terms (training and validation), e.g. R, D and, for a
  # regularized model, Ĥ(X|X̂) in bits per pixel.
  info["final_terms"] = {name: float(values[-1])
                         for name, values in history.history.items()
                         if values}
  return model, info


def export(model, info, model_path, strategy=None, reconstruct=False):
  """Builds the range coding tables and writes the SavedModel (chief only),
  with the transforms frozen to plain convolutions (`savedmodel.export`) and
  the training weights beside it (for `--init_from`)."""
  weights = savedmodel.training_weights(model)
  model.prepare_for_compression()
  if strategy is None or _is_chief(strategy):
    return savedmodel.export(model, model_path, info,
                             reconstruct=reconstruct, weights=weights)
  return info


def assign_weights(model, stored, source, flag="--init_from"):
  """Sets `model`'s weights to `stored` ([(name, value)] in the model's
  order, as `savedmodel.training_weights` lists them). Refuses another
  architecture in one line naming the first weight that differs."""
  own = model.weights
  for i in range(max(len(stored), len(own))):
    theirs = (stored[i][0], tuple(stored[i][1].shape)) if i < len(
        stored) else ("nothing", ())
    ours = (own[i].name, tuple(own[i].shape)) if i < len(own) else (
        "nothing", ())
    if theirs != ours:
      raise savedmodel.ModelError(
          f"{flag} {source} is another architecture: its weight "
          f"{i} is {theirs[0]} {theirs[1]}, this model's is {ours[0]} "
          f"{ours[1]}")
  for weight, (_, value) in zip(own, stored):
    weight.assign(value)


def init_from(model, parent_path, system_name):
  """Sets `model`'s weights to those of the trained model at `parent_path`
  (same system and architecture, any λ; a shipped model's name such as
  cpu:bls2017-4 too), or those of the part of `model` that a model of the
  parent's system initialises (`part_for`: a regularized model's backbone);
  returns what the metadata records of the parent.
  Refuses another architecture in one line naming the first weight that
  differs."""
  if zoo.is_zoo_name(parent_path):
    # The shipped weights and record, without building the model. Checked
    # below: the model says which systems' models can start it.
    name = zoo.entry_name(parent_path, system_name, only_system=False)
    record, weights = zoo.shipped_weights(name)
    parent = dict(record["training"], system=record["system"],
                  model_id=record.get("model_id"))
    source = zoo.PREFIX + name
  else:
    parent = savedmodel.read_metadata(parent_path)
    weights = None  # read once the system is known to fit
    source = os.path.abspath(parent_path)
  part = model.part_for(parent.get("system"))
  if part is None:
    raise savedmodel.ModelError(
        f"--init_from {parent_path} holds a {parent.get('system')} model, "
        f"which a {system_name} model cannot start from")
  if weights is None:
    weights = savedmodel.read_training_weights(parent_path)
  assign_weights(part, weights, parent_path)
  return dict(path=source, steps=parent.get("steps"),
              lmbda=parent.get("lmbda"), model_id=parent.get("model_id"))


def train(system, args, extra_callbacks=()):
  """Trains `system`'s model as `args` say (with Keras callbacks
  `extra_callbacks` besides the engine's) and exports it; returns metadata.

  The resume checkpoint (`--train_path`/backup) is deleted only once the
  model is exported: a run killed at any moment resumes when re-run. In a
  multi-worker run the chief exports and deletes the checkpoint, and the
  workers end together (`finish_workers`)."""
  # Before training: the export would refuse it only after.
  savedmodel.check_replaceable(args.model_path)
  model, info = build_and_fit(system, args, extra_callbacks)
  strategy = model.distribute_strategy
  metadata = export(model, info, args.model_path, strategy,
                    reconstruct=getattr(args, "export_reconstruct", False))
  if _is_chief(strategy):
    # The workers of a multi-worker run share the chief's checkpoint: only
    # the chief deletes it, once its model is exported.
    train_path = args.train_path or args.model_path + ".train"
    shutil.rmtree(os.path.join(train_path, "backup"), ignore_errors=True)
  finish_workers(strategy)
  return metadata


# How long a worker of a multi-worker run waits at its end for the others
# (the other workers wait for the chief's export).
FINISH_TIMEOUT_SECONDS = 3600


def finish_workers(strategy):
  """Ends a multi-worker run (nothing for other strategies): returns once
  every worker has called it, on the chief once the other workers' processes
  have also ended.

  Every worker has trained the same steps in lockstep and the chief has
  exported; the workers wait here for the chief (a barrier of TensorFlow's
  coordination service), then exit at once, while the chief, which holds
  the service, waits for their processes to end (their servers to close,
  at most half the heartbeat timeout) before it exits: no worker outlives
  the service, and the service outlives no worker by more than its
  heartbeat timeout, so neither reports the other failed
  (`HEARTBEAT_TIMEOUT_SECONDS`).
  """
  if not _is_multiworker(strategy):
    return
  from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top
  context.context().wait_at_barrier("tfc_repro/finished",
                                    int(FINISH_TIMEOUT_SECONDS * 1000))
  if _is_chief(strategy):
    resolver = strategy.cluster_resolver
    own = (resolver.task_type, resolver.task_id)
    addresses = [address
                 for job, tasks in resolver.cluster_spec().as_dict().items()
                 if job in ("chief", "worker")
                 for task, address in (tasks.items() if isinstance(tasks, dict)
                                       else enumerate(tasks))
                 if (job, task) != own]
    _wait_until_closed(addresses, HEARTBEAT_TIMEOUT_SECONDS / 2)


def _wait_until_closed(addresses, seconds):
  """Waits until no server listens at any of `addresses` ("host:port"), at
  most `seconds`."""
  import socket  # pylint: disable=g-import-not-at-top
  deadline = time.monotonic() + seconds
  waiting = list(addresses)
  while waiting and time.monotonic() < deadline:
    still = []
    for address in waiting:
      host, port = address.rsplit(":", 1)
      try:
        with socket.create_connection((host.strip("[]"), int(port)),
                                      timeout=1):
          still.append(address)
      except OSError:
        pass  # closed: its process has ended
    waiting = still
    if waiting:
      time.sleep(0.1)


def _is_multiworker(strategy):
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None:
    return False
  cluster = resolver.cluster_spec().as_dict()
  return sum(len(tasks) for job, tasks in cluster.items()
             if job in ("chief", "worker")) > 1


def _is_chief(strategy):
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  return resolver.task_type in ("chief", None) or (
      resolver.task_type == "worker" and resolver.task_id == 0 and
      "chief" not in resolver.cluster_spec().as_dict())
