"""Training: resume after an interruption, NaN guard, tf.distribute."""

import json
import math
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tfc_repro import bls2017, savedmodel, training
from conftest import RawWeights, run_cli, train_args


class _Interrupt(Exception):
  pass


class _InterruptAfterEpoch(tf.keras.callbacks.Callback):

  def __init__(self, epoch):
    super().__init__()
    self.epoch = epoch

  def on_epoch_end(self, epoch, logs=None):
    if epoch == self.epoch:
      raise _Interrupt()


class _RecordEpochs(tf.keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.epochs = []

  def on_epoch_begin(self, epoch, logs=None):
    self.epochs.append(epoch)


class _RecordLearningRates(tf.keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.rates = {}

  def on_train_batch_end(self, batch, logs=None):
    # The rate the step just taken used (Keras updates it as it applies
    # the gradients), keyed by that step's index.
    optimizer = self.model.optimizer
    step = int(optimizer.iterations.numpy()) - 1
    self.rates[step] = float(optimizer.learning_rate.numpy())


def test_a_resumed_run_continues_where_it_stopped_on_the_same_schedule(
    train_image, tmp_path):
  """A run interrupted after its first epoch resumes from its backup: it
  trains only the epochs left and exactly the steps asked (28, not a
  multiple of the epoch's 10), warm-up and cosine decay go on from the step
  it starts at, and the moving average of the weights (--weight_averaging)
  goes on from the average it had (kept in the checkpoint) rather than
  from its first weights; the model ends with that average."""
  def argv(name):
    return ["--model_path", str(tmp_path / name), "train", "--train_glob",
            train_image, "--num_filters", "4", "--patchsize", "32",
            "--batchsize", "2", "--steps", "28", "--steps_per_epoch", "10",
            "--seed", "0", "--lr_schedule", "cosine", "--warmup_steps", "3",
            "--clip_norm", "1", "--weight_averaging", "0.5"]
  whole = _RecordLearningRates()
  training.build_and_fit(bls2017.SYSTEM,
                         train_args(bls2017.SYSTEM, argv("whole")),
                         extra_callbacks=[whole])
  def trainable(m):
    return m.trainable_variables
  first, second = RawWeights(trainable), RawWeights(trainable)
  with pytest.raises(_Interrupt):
    training.build_and_fit(
        bls2017.SYSTEM, train_args(bls2017.SYSTEM, argv("cut")),
        extra_callbacks=[first.callback, _InterruptAfterEpoch(0)])
  assert os.path.isdir(str(tmp_path / "cut.train" / "backup"))
  # A resumed run must keep the model and the recipe it was started with.
  for changed, message in (("--lambda", "lmbda 0.01, not 0.02"),
                           ("--weight_averaging", "weight_averaging 0.5, "
                                                  "not 0.02")):
    other = argv("cut")
    other += [changed, "0.02"]
    with pytest.raises(ValueError, match=message) as error:
      training.build_and_fit(bls2017.SYSTEM,
                             train_args(bls2017.SYSTEM, other))
    assert "\n" not in str(error.value)
  resumed, epochs = _RecordLearningRates(), _RecordEpochs()
  model, info = training.build_and_fit(
      bls2017.SYSTEM, train_args(bls2017.SYSTEM, argv("cut")),
      extra_callbacks=[resumed, epochs, second.callback])
  assert epochs.epochs == [1, 2]  # epoch 0 was not trained again
  assert info["steps"] == 28 and info["weight_averaging"] == 0.5
  assert min(second.values) == 10  # resumed at step 10
  expected = second.moving_average(0.5, start=first.moving_average(
      0.5, until=10))
  for variable, average in zip(model.trainable_variables, expected):
    np.testing.assert_allclose(variable.numpy(), average, rtol=1e-5,
                               atol=1e-6)
  assert any(not np.allclose(a, w)
             for a, w in zip(expected, second.values[28]))
  assert sorted(resumed.rates) == list(range(10, 28))
  for step, rate in resumed.rates.items():
    assert math.isclose(rate, whole.rates[step], rel_tol=1e-6)
  assert sorted(whole.rates) == list(range(28))
  assert whole.rates[0] < whole.rates[1]   # the warm-up
  assert whole.rates[3] > whole.rates[27]  # the decay


def test_weight_averaging_is_what_validation_sees_and_the_model_keeps(
    train_dir, tmp_path):
  """Validation sees the averaged weights, the training steps go on from
  the raw ones, and the model keeps the averaged weights of its best
  validation (here the first: the weights are spoilt before the second
  epoch)."""
  seen, after_validation = [], []

  class Validated(tf.keras.callbacks.Callback):

    def on_test_begin(self, logs=None):
      seen.append([v.numpy() for v in self.model.trainable_variables])

    def on_epoch_begin(self, epoch, logs=None):
      after_validation.append(
          [v.numpy() for v in self.model.trainable_variables])
      if epoch == 1:  # the synthesis's output bias (3 channels) shifted
        for v in self.model.trainable_variables:
          if "bias" in v.name and v.shape == (3,):
            v.assign(v + 100.)

  raw = RawWeights(lambda m: m.trainable_variables)
  args = train_args(bls2017.SYSTEM, [
      "--model_path", str(tmp_path / "m"), "train", "--train_glob",
      train_dir, "--validation_glob", os.path.join(train_dir, "img0.png"),
      "--num_filters", "4", "--patchsize", "32", "--batchsize", "2",
      "--steps", "4", "--steps_per_epoch", "2", "--seed", "0", "--lr",
      "0.01", "--weight_averaging", "0.5"])
  model, info = training.build_and_fit(
      bls2017.SYSTEM, args, extra_callbacks=[raw.callback, Validated()])
  averages = {step: raw.moving_average(0.5, until=step) for step in (2, 4)}
  assert len(seen) == 2
  for validated, step in zip(seen, (2, 4)):
    for value, average in zip(validated, averages[step]):
      np.testing.assert_allclose(value, average, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(v, w) for v, w in zip(validated,
                                                     raw.values[step]))
  # The second epoch started from the raw weights of step 2.
  for value, raw_value in zip(after_validation[1], raw.values[2]):
    np.testing.assert_array_equal(value, raw_value)
  assert info["weights_from_step"] == 2
  for variable, average in zip(model.trainable_variables, averages[2]):
    np.testing.assert_allclose(variable.numpy(), average, rtol=1e-5,
                               atol=1e-6)


def test_crop_size_schedule_trains_on_the_final_crops_from_its_step(
    train_image, tmp_path):
  """--final_patchsize: the training data are pairs (crops, larger crops
  with as many pixels per step) and the model trains on the first of each
  pair before the schedule's step, on the second from it."""
  args = train_args(bls2017.SYSTEM, [
      "--model_path", str(tmp_path / "m"), "train", "--train_glob",
      train_image, "--num_filters", "4", "--patchsize", "32",
      "--batchsize", "4", "--steps", "4", "--steps_per_epoch", "4",
      "--seed", "0", "--final_patchsize", "64", "--final_patchsize_from",
      "0.5"])
  crops, final = next(iter(training.datasets(args)[0]))
  assert crops.shape == (4, 32, 32, 3) and final.shape == (1, 64, 64, 3)
  model, info = training.build_and_fit(bls2017.SYSTEM, args)
  assert info["final_patchsize"] == 64 and info["final_batchsize"] == 1
  assert info["final_patchsize_from_step"] == 2 and info["steps"] == 4
  # Which of the pair a step trains on: black crops or white final crops
  # (a model reconstructs them with very different errors).
  black = tf.zeros((4, 32, 32, 3), tf.uint8)
  white = tf.fill((1, 64, 64, 3), tf.constant(255, tf.uint8))
  terms = tf.function(lambda: model._training_terms((black, white)))
  for step, image in ((0, black), (1, black), (2, white), (3, white)):
    model.optimizer.iterations.assign(step)
    expected = float(model(image, training=True)["mse"])
    assert float(terms()["mse"]) == pytest.approx(expected, rel=0.2)
  assert float(model(white, training=True)["mse"]) > 2 * float(
      model(black, training=True)["mse"])
  with pytest.raises(ValueError, match="multiple of its square"):
    train_args(bls2017.SYSTEM, ["train", "--patchsize", "32", "--batchsize",
                                "4", "--final_patchsize", "48"])
  with pytest.raises(ValueError, match="between 0 and 1"):
    train_args(bls2017.SYSTEM, ["train", "--patchsize", "32", "--batchsize",
                                "4", "--final_patchsize", "64",
                                "--final_patchsize_from", "1"])


def test_nan_guard_stops_with_a_clear_error():
  model = bls2017.BLS2017Model(num_filters=4)
  model.compile(optimizer=tf.keras.optimizers.Adam())
  guard = training.NanGuard()
  guard.set_model(model)
  guard.on_train_batch_end(0, {"loss": 1.0})
  with pytest.raises(training.TrainingError, match="loss became nan"):
    guard.on_train_batch_end(1, {"loss": math.nan})


def test_learning_rate_schedule():
  schedule = training.learning_rate(1e-3, 100, (0.5, 0.9))
  assert math.isclose(float(schedule(10)), 1e-3, rel_tol=1e-6)
  assert math.isclose(float(schedule(60)), 1e-4, rel_tol=1e-6)
  assert math.isclose(float(schedule(95)), 1e-5, rel_tol=1e-5)
  assert training.learning_rate(1e-4, 100, ()) == 1e-4


def test_warmup_and_cosine_schedule_values():
  schedule = training.learning_rate(1e-3, 1000, (), factor=0.01,
                                    warmup_steps=100, schedule="cosine")
  value = lambda step: float(schedule(step))
  assert math.isclose(value(0), 1e-5, rel_tol=1e-5)      # 1/100 of lr
  assert math.isclose(value(49), 5e-4, rel_tol=1e-5)
  assert math.isclose(value(100), 1e-3, rel_tol=1e-5)    # the peak
  assert math.isclose(value(550), 1e-3 * (0.01 + 0.99 * 0.5), rel_tol=1e-4)
  assert math.isclose(value(1000), 1e-5, rel_tol=1e-4)   # factor·lr
  assert math.isclose(value(5000), 1e-5, rel_tol=1e-4)   # and stays there
  assert all(value(k) >= value(k + 50) for k in range(100, 1000, 50))
  # A warm-up before the papers' step decay.
  # At most a tenth of the steps warm up.
  short = training.learning_rate(1e-3, 50, (), warmup_steps=100)
  assert math.isclose(float(short(4)), 1e-3, rel_tol=1e-5)
  assert math.isclose(float(short(2)), 6e-4, rel_tol=1e-5)  # 3/5 of lr
  step = training.learning_rate(1e-3, 1000, (0.5,), warmup_steps=10)
  assert math.isclose(float(step(4)), 5e-4, rel_tol=1e-5)
  assert math.isclose(float(step(400)), 1e-3, rel_tol=1e-5)
  assert math.isclose(float(step(600)), 1e-4, rel_tol=1e-5)
  with pytest.raises(ValueError, match="schedule"):
    training.learning_rate(1e-3, 10, (), schedule="linear")


def test_quick_profiles_train_with_the_cpu_recipe():
  from tfc_repro import cli, systems
  for name in systems.NAMES:
    args = train_args(systems.system(name), ["--model_path", "unused",
                                             "train"])
    for key, value in cli.CPU_RECIPE.items():
      assert getattr(args, key) == value, (name, key)
  # A flag still wins.
  assert train_args(bls2017.SYSTEM, ["train", "--quantization", "noise"]
                    ).quantization == "noise"


def test_paper_recipe_is_the_default_and_the_recipe_flags_are_checked():
  args = train_args(bls2017.SYSTEM, ["train", "--profile", "paper"])
  assert (args.lr_schedule, args.warmup_steps, args.clip_norm) == (
      "step", 0, 0.)
  assert training.optimizer(args).global_clipnorm is None
  args = train_args(bls2017.SYSTEM, ["train", "--clip_norm", "1",
                                     "--lr_schedule", "cosine",
                                     "--warmup_steps", "20"])
  assert training.optimizer(args).global_clipnorm == 1.
  assert "warm-up over 20 steps, cosine decay" in training.describe_schedule(
      args.lr, args.steps, args.lr_decay_steps, args.lr_decay_factor,
      args.warmup_steps, args.lr_schedule, args.clip_norm)
  with pytest.raises(ValueError, match="--warmup_steps"):
    train_args(bls2017.SYSTEM, ["train", "--warmup_steps", "-1"])


def test_learning_rate_decay_factor_defaults_to_a_tenth_and_is_checked():
  assert train_args(bls2017.SYSTEM, ["train", "--profile", "paper"]
                    ).lr_decay_factor == 0.1
  assert train_args(bls2017.SYSTEM, ["train"]).lr_decay_factor == 0.01
  assert train_args(bls2017.SYSTEM, ["train", "--lr_decay_factor", "0.5"]
                    ).lr_decay_factor == 0.5
  with pytest.raises(ValueError, match="--lr_decay_factor"):
    train_args(bls2017.SYSTEM, ["train", "--lr_decay_factor", "0"])


def test_decay_steps_are_refused_where_the_schedule_is_a_cosine():
  with pytest.raises(ValueError, match="--lr_decay_steps applies to "
                     "--lr_schedule step; this run's schedule is cosine"):
    train_args(bls2017.SYSTEM, ["train", "--lr_decay_steps", "0.5"])
  args = train_args(bls2017.SYSTEM, ["train", "--lr_decay_steps", "0.5",
                                     "--lr_schedule", "step"])
  assert args.lr_decay_steps == (0.5,)


@pytest.mark.parametrize("flag", ["--lambda", "--lr"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_lambda_and_learning_rate_must_be_positive_and_finite(flag, value):
  with pytest.raises(ValueError, match="must be positive and finite"):
    train_args(bls2017.SYSTEM, ["train", flag, value])


@pytest.mark.parametrize("system", ["bls2017", "hcae"])
@pytest.mark.parametrize("argv, message", [
    (["--num_filters", "0"], "--num_filters must be positive"),
    (["--seed", "-1"], "--seed must be between 0 and 2"),
    (["--seed", str(2**32)], "--seed must be between 0 and 2"),
])
def test_sizes_and_seeds_out_of_range_are_refused_before_training(
    system, argv, message):
  from tfc_repro import systems  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=message):
    train_args(systems.system(system), ["train", *argv])


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(train_image, tmp_path):
  """Two replicas train (through a crop-size schedule's switch, each
  replica taking one of the two final crops) and export; a final batch
  that the replicas cannot split is refused."""
  path = str(tmp_path / "mirrored")
  argv = ["tfc_repro.bls2017", "--model_path", path, "train", "--train_glob",
          train_image, "--num_filters", "8", "--patchsize", "32",
          "--batchsize", "8", "--steps", "4", "--steps_per_epoch", "2",
          "--strategy", "mirrored", "--logical_cpus", "2",
          "--final_patchsize", "64", "--final_patchsize_from", "0.5"]
  result = run_cli(*argv)
  assert result.returncode == 0, result.stderr
  model = savedmodel.LoadedModel(path)
  assert model.metadata["replicas"] == 2
  assert model.metadata["steps"] == 4
  assert model.metadata["final_batchsize"] == 2
  assert json.dumps(model.metadata)  # metadata is plain JSON
  argv[argv.index("--batchsize") + 1] = "4"
  uneven = train_args(bls2017.SYSTEM, argv[1:])
  training.check_final_batch(uneven, 1)
  with pytest.raises(ValueError, match=r"the final crops' batch \(1: "
                     r".*must be a multiple of the 2 replicas"):
    training.check_final_batch(uneven, 2)


class _Killed(BaseException):
  """Stands for a kill: not an Exception, nothing catches it."""


def test_killed_export_keeps_the_old_model_and_the_run_resumes(
    train_image, tmp_path, monkeypatch):
  path = str(tmp_path / "m")
  argv = ["--model_path", path, "train", "--train_glob", train_image,
          "--num_filters", "4", "--patchsize", "32", "--batchsize", "2",
          "--steps", "4", "--steps_per_epoch", "2", "--seed", "0"]
  training.train(bls2017.SYSTEM, train_args(bls2017.SYSTEM, argv))
  old_id = savedmodel.LoadedModel(path).metadata["model_id"]
  assert not os.path.exists(str(tmp_path / "m.train" / "backup"))

  # A longer run of the same model, killed while its export writes.
  argv[argv.index("--steps") + 1] = "6"
  save = tf.saved_model.save

  def killed_save(module, export_dir, *args, **kwargs):
    save(module, export_dir, *args, **kwargs)
    os.remove(os.path.join(export_dir, "saved_model.pb"))  # half-written
    raise _Killed()

  monkeypatch.setattr(tf.saved_model, "save", killed_save)
  with pytest.raises(_Killed):
    training.train(bls2017.SYSTEM, train_args(bls2017.SYSTEM, argv))
  monkeypatch.setattr(tf.saved_model, "save", save)
  # The previous model is intact, and nothing half-written is left beside.
  assert savedmodel.LoadedModel(path).metadata["model_id"] == old_id
  assert sorted(os.listdir(tmp_path)) == ["m", "m.train"]
  assert os.path.isdir(str(tmp_path / "m.train" / "backup"))

  # Killed between the two renames: the old model is put back on loading.
  os.rename(path, path + ".old-123")
  assert savedmodel.LoadedModel(path).metadata["model_id"] == old_id

  # Re-running resumes after the last step (no epoch is trained again) and
  # exports.
  recorder = _RecordEpochs()
  metadata = training.train(bls2017.SYSTEM, train_args(bls2017.SYSTEM, argv),
                            extra_callbacks=[recorder])
  assert recorder.epochs == [] and metadata["steps"] == 6
  assert savedmodel.LoadedModel(path).metadata["model_id"] != old_id
  assert not os.path.exists(str(tmp_path / "m.train" / "backup"))


def test_schedule_is_described_as_it_runs():
  assert training.describe_schedule(2e-3, 3500, (0.8,)) == (
      "Adam 0.002, ×0.1 from step 2800")
  assert training.describe_schedule(1e-4, 800, ()) == "Adam 0.0001 (constant)"
  # The profile's decay applies to a --lr given alone.
  args = train_args(bls2017.SYSTEM, ["train", "--lr", "1e-4", "--steps",
                                     "800"])
  assert args.lr_decay_steps == (0.8,)
  assert isinstance(training.learning_rate(args.lr, args.steps,
                                           args.lr_decay_steps),
                    tf.keras.optimizers.schedules.PiecewiseConstantDecay)


class _SpikeInLastEpoch(tf.keras.callbacks.Callback):
  """Ruins the weights during the last epoch (as a late loss spike would)."""

  def __init__(self, last_epoch):
    super().__init__()
    self.last_epoch = last_epoch

  def on_epoch_begin(self, epoch, logs=None):
    if epoch == self.last_epoch:
      for variable in self.model.synthesis_transform.trainable_variables:
        variable.assign(variable * 2.)


def test_a_late_spike_keeps_the_best_weights(train_dir, tmp_path, capsys):
  argv = ["--model_path", str(tmp_path / "m"), "train", "--train_glob",
          train_dir, "--num_filters", "4", "--patchsize", "32",
          "--batchsize", "2", "--steps", "6", "--steps_per_epoch", "3",
          "--seed", "0"]
  args = train_args(bls2017.SYSTEM, argv)
  model, info = training.build_and_fit(bls2017.SYSTEM, args,
                                       extra_callbacks=[_SpikeInLastEpoch(1)])
  assert info["steps"] == 6 and info["weights_from_step"] == 3
  assert not info["best_validation_loss"] >= info["last_validation_loss"]
  assert "keeps the weights of step 3" in capsys.readouterr().err
  _, validation, _ = training.datasets(args)
  loss = model.evaluate(validation, return_dict=True, verbose=0)["loss"]
  assert loss == pytest.approx(info["best_validation_loss"], rel=1e-5)



def test_the_same_seed_trains_the_same_model(train_image, tmp_path):
  """Two runs of one command (random crops, noise, initial weights, all
  seeded) end with the same weights, bit for bit; another seed does not."""
  weights = []
  for run, seed in (("a", "3"), ("b", "3"), ("c", "4")):
    args = train_args(bls2017.SYSTEM, [
        "--model_path", str(tmp_path / run), "train", "--train_glob",
        train_image, "--num_filters", "8", "--patchsize", "32", "--batchsize",
        "4", "--steps", "6", "--steps_per_epoch", "3", "--seed", seed])
    model, _ = training.build_and_fit(bls2017.SYSTEM, args)
    weights.append([w.numpy() for w in model.weights])
  for a, b in zip(weights[0], weights[1]):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, c) for a, c in zip(weights[0], weights[2]))


def _training_terms(model, x, seed):
  tf.random.set_seed(seed)
  return model(x, training=True)


@pytest.mark.parametrize("quantization", ["noise", "ste"])
def test_ste_feeds_the_synthesis_rounded_latents_and_the_rate_noise(
    quantization):
  from tfc_repro import model as model_lib
  args = train_args(bls2017.SYSTEM, ["train", "--num_filters", "4",
                                     "--quantization", quantization])
  model, _ = training.compiled_model(bls2017.SYSTEM, args)
  assert model.training_quantization == quantization
  x = tf.random.stateless_uniform((1, 32, 32, 3), (1, 2), 0., 255.)
  first, second = (_training_terms(model, x, seed) for seed in (1, 2))
  # The rate sees the noise either way.
  assert float(first["bpp"]) != float(second["bpp"])
  same_synthesis = np.array_equal(first["x_hat"].numpy(),
                                  second["x_hat"].numpy())
  assert same_synthesis == (quantization == "ste")
  if quantization == "ste":
    y = model.analysis_transform(x)
    np.testing.assert_allclose(
        first["x_hat"].numpy(),
        model.synthesis_transform(tf.round(y)).numpy(), rtol=1e-5, atol=1e-3)
  # The distortion's gradient reaches the analysis through the rounding.
  with tf.GradientTape() as tape:
    mse = model(x, training=True)["mse"]
  gradients = tape.gradient(mse, model.analysis_transform.trainable_variables)
  assert all(g is not None for g in gradients)
  assert max(float(tf.reduce_max(tf.abs(g))) for g in gradients) > 0.
  with pytest.raises(ValueError, match="quantization"):
    model_lib.set_training_quantization(model, "round")


def test_validation_glob_holds_images_out_and_progress_logs_cpu_time(
    train_dir, train_image, tmp_path):
  import csv
  import glob
  held_out = sorted(glob.glob(os.path.join(train_dir, "*.png")))[:2]
  args = train_args(bls2017.SYSTEM, [
      "--model_path", str(tmp_path / "m"), "train", "--train_glob", train_dir,
      "--validation_glob", held_out[0], "--num_filters", "4", "--patchsize",
      "32", "--batchsize", "2", "--steps", "4", "--steps_per_epoch", "2"])
  train_ds, validation_ds, description = training.datasets(args)
  assert "5 training images, 1 held out" in description
  one = train_args(bls2017.SYSTEM, [
      "train", "--train_glob", train_image, "--patchsize", "32"])
  assert "(1 training image, 0 held out" in training.datasets(one)[2]
  model, info = training.build_and_fit(bls2017.SYSTEM, args)
  assert info["train_cpu_seconds"] > 0
  with open(tmp_path / "m.train" / "progress.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert [int(r["step"]) for r in rows] == [2, 4]
  assert 0 < float(rows[0]["cpu_seconds"]) < float(rows[1]["cpu_seconds"])
  assert "val_loss" in rows[0]


def test_init_from_copies_every_weight_and_refuses_another_architecture(
    tiny_bls2017, train_image, tmp_path):
  def argv(name, *extra):
    return ["--model_path", str(tmp_path / name), "train", "--train_glob",
            train_image, "--patchsize", "32", "--batchsize", "2",
            "--steps", "2", "--steps_per_epoch", "2", *extra]
  # The parent: a model trained 40 steps at λ = 0.01 (N = 16), exported.
  shutil.copytree(tiny_bls2017[1], str(tmp_path / "parent"))
  expected = [value for _, value in savedmodel.read_training_weights(
      str(tmp_path / "parent"))]
  # A child at another λ starts from every weight of the parent.
  child_args = train_args(bls2017.SYSTEM, argv(
      "child", "--num_filters", "16", "--lambda", "0.005", "--init_from",
      str(tmp_path / "parent")))
  model, record = training.compiled_model(bls2017.SYSTEM, child_args)
  assert len(model.weights) == len(expected)
  for weight, value in zip(model.weights, expected):
    np.testing.assert_array_equal(weight.numpy(), value)
  # With weight averaging, the average starts from the parent's weights.
  averaging, _ = training.compiled_model(bls2017.SYSTEM, train_args(
      bls2017.SYSTEM, argv("averaged", "--num_filters", "16", "--init_from",
                           str(tmp_path / "parent"), "--weight_averaging",
                           "0.9")))
  for weight in averaging.trainable_variables:
    weight.assign(tf.zeros_like(weight))
  averaging.optimizer.put_averages(averaging.trainable_variables)
  for weight, value in zip(averaging.weights, expected):
    if weight.trainable:
      np.testing.assert_array_equal(weight.numpy(), value)
  assert record["steps"] == 40 and record["lmbda"] == 0.01
  # Trained further and exported, the child names its parent.
  child, child_info = training.build_and_fit(bls2017.SYSTEM, child_args)
  assert child_info["init_from"]["steps"] == 40
  assert child_info["steps"] == 2  # the step count restarts
  # Another architecture is refused in one line naming the weight.
  other, _ = training.compiled_model(bls2017.SYSTEM, train_args(
      bls2017.SYSTEM, argv("other", "--num_filters", "8")))
  with pytest.raises(savedmodel.ModelError,
                     match=r"another architecture: its weight \d+ is \S+ "
                           r"\(16,\), this model's is \S+ \(8,\)"):
    training.init_from(other, str(tmp_path / "parent"), "bls2017")
  from tfc_repro import bmshj2018
  foreign = bmshj2018.SYSTEM.build_model(train_args(bmshj2018.SYSTEM, [
      "--model_path", str(tmp_path / "f"), "train", "--num_filters", "4",
      "--num_latents", "4"]))
  with pytest.raises(savedmodel.ModelError,
                     match="holds a bls2017 model, which a bmshj2018 model "
                           "cannot start from"):
    training.init_from(foreign, str(tmp_path / "parent"), "bmshj2018")
  os.remove(tmp_path / "parent" / savedmodel.TRAINING_WEIGHTS)
  with pytest.raises(savedmodel.ModelError, match="no training weights"):
    training.init_from(other, str(tmp_path / "parent"), "bls2017")


def test_init_from_a_foreign_model_fails_in_one_line(tmp_path):
  result = run_cli("tfc_repro.bls2017", "--model_path", str(tmp_path / "m"),
                   "train", "--init_from", str(tmp_path / "missing"),
                   "--steps", "1")
  assert result.returncode == 1
  assert result.stderr.strip().startswith("error: no model at")
  assert len(result.stderr.strip().splitlines()) == 1


def test_a_folder_without_a_models_record_is_refused_in_one_line(tmp_path):
  model, _ = training.compiled_model(bls2017.SYSTEM, train_args(
      bls2017.SYSTEM, ["train", "--num_filters", "4"]))
  (tmp_path / "empty").mkdir()
  variables = tmp_path / "damaged" / "variables"
  variables.mkdir(parents=True)
  (variables / "variables.index").write_bytes(b"\x00" * 64)
  checkpoint = tmp_path / "foreign" / "variables" / "variables"
  tf.train.Checkpoint(v=tf.Variable(1.)).write(str(checkpoint))
  tf.train.Checkpoint(metadata=tf.Variable('{"system": "x"}')).write(
      str(tmp_path / "other" / "variables" / "variables"))
  for folder in ("damaged", "foreign", "other"):
    (tmp_path / folder / "saved_model.pb").write_bytes(b"")
  for folder, message in (("empty", "no saved_model.pb"),
                          ("damaged", "cannot read the record"),
                          ("foreign", "cannot read the record")):
    with pytest.raises(savedmodel.ModelError, match=message) as error:
      training.init_from(model, str(tmp_path / folder), "bls2017")
    assert "\n" not in str(error.value)
  # A record that is not a tfc-repro model's.
  with pytest.raises(savedmodel.ModelError, match="not a tfc-repro model"):
    training.init_from(model, str(tmp_path / "other"), "bls2017")


@pytest.mark.parametrize("name", ["bls2017", "bmshj2018", "lee2019", "hcae",
                                  "regularized"])
def test_paper_profiles_keep_the_papers_recipe(name):
  """--profile paper: no warm-up, no clipping, the papers' step schedule and
  quantization, whatever the quick profile's recipe."""
  from tfc_repro import systems
  system = systems.system(name)
  args = train_args(system, ["--model_path", "unused", "train", "--profile",
                             "paper"])
  assert (args.lr_schedule, args.warmup_steps, args.clip_norm) == (
      "step", 0, 0.)
  assert args.quantization is None  # the model's own: the paper's
  optimizer = training.optimizer(args)
  assert optimizer.global_clipnorm is None
  schedule = optimizer._learning_rate  # pylint: disable=protected-access
  assert isinstance(schedule, (
      float, tf.keras.optimizers.schedules.PiecewiseConstantDecay)) or (
          isinstance(schedule, tf.Variable))
  assert not isinstance(schedule, (training.WarmupSchedule,
                                   training.CosineSchedule))


def test_a_model_path_holding_other_files_is_refused_and_left_alone(
    run_main, train_image, tmp_path):
  folder = tmp_path / "photos"
  (folder / "sub").mkdir(parents=True)
  (folder / "notes.txt").write_text("precious")
  (folder / "sub" / "a.txt").write_text("kept")
  result = run_main(bls2017.SYSTEM, "--model_path", str(folder), "train",
                    "--train_glob", train_image, "--num_filters", "4",
                    "--patchsize", "32", "--batchsize", "2", "--steps", "2")
  assert result.returncode == 1
  assert result.stderr.count("\n") == 1 and "'notes.txt'" in result.stderr
  assert (folder / "notes.txt").read_text() == "precious"
  assert (folder / "sub" / "a.txt").read_text() == "kept"
  assert not os.path.exists(str(folder) + ".train")
  with open(tmp_path / "notes", "w") as f:
    f.write("a file")
  with pytest.raises(savedmodel.ModelError, match="is a file"):
    savedmodel.check_replaceable(str(tmp_path / "notes"))
  # Folders named like an export's leftovers but holding a user's files
  # are not an export's: recovering beside them leaves them alone.
  for name in ("m.old-2019", "m.tmp-abcdefgh"):
    (tmp_path / name).mkdir()
    (tmp_path / name / "notes.txt").write_text("kept")
  savedmodel.recover(str(tmp_path / "m"))
  assert not os.path.exists(tmp_path / "m")
  for name in ("m.old-2019", "m.tmp-abcdefgh"):
    assert (tmp_path / name / "notes.txt").read_text() == "kept"


def test_a_checkpoint_without_its_record_or_progress_log_is_refused(
    tmp_path):
  """A checkpoint whose run.json is missing or unreadable, or whose progress
  log does not read, is not resumed with whatever settings are given (nor
  with a traceback): one line naming the file and the way out. A new run
  starts its own progress log."""
  model = bls2017.SYSTEM.build_model(train_args(
      bls2017.SYSTEM, ["train", "--num_filters", "4"]))
  args = train_args(bls2017.SYSTEM, ["train", "--num_filters", "4"])
  train_path = str(tmp_path / "m.train")
  progress = os.path.join(train_path, "progress.csv")
  os.makedirs(train_path)
  with open(progress, "w") as f:
    f.write("step,cpu_seconds,wall_seconds\n10,1.5,2\n")
  training.check_resumed_run(train_path, model, args)  # a new run
  assert not os.path.exists(progress)
  os.makedirs(os.path.join(train_path, "backup"))
  training.check_resumed_run(train_path, model, args)  # resumable
  with open(os.path.join(train_path, "run.json"), "w") as f:
    f.write("{not json")
  with pytest.raises(ValueError, match=r"run.json, does not read .*remove "
                     r".*backup to train afresh") as error:
    training.check_resumed_run(train_path, model, args)
  assert "\n" not in str(error.value)
  os.remove(os.path.join(train_path, "run.json"))
  with pytest.raises(ValueError, match=r"run.json, is missing"):
    training.check_resumed_run(train_path, model, args)
  with open(progress, "w") as f:
    f.write("garbage,,\n\x00zz\n")
  with pytest.raises(training.TrainingError,
                     match="is not a progress log") as error:
    training.ProgressLog(progress)
  assert "\n" not in str(error.value)


def test_a_resume_checkpoint_that_does_not_read_is_refused_in_one_line(
    tmp_path):
  backup = tmp_path / "m.train" / "backup"
  checkpoint = tf.train.Checkpoint(v=tf.Variable(np.arange(1000.)))
  checkpoint.write(str(backup / "chief" / "ckpt-20"))
  with open(backup / "chief" / "checkpoint", "w") as f:
    f.write('model_checkpoint_path: "ckpt-20"\n')
  training.check_backup(str(backup))  # reads whole
  data_file, = [p for p in (backup / "chief").iterdir()
                if ".data-" in p.name]
  data_file.write_bytes(b"\x00" * 100)
  with pytest.raises(ValueError, match=r"ckpt-20 does not read .*remove "
                     r".*backup to train afresh") as error:
    training.check_backup(str(backup))
  assert "\n" not in str(error.value)


@pytest.mark.parametrize("system, argv, multiple", [
    ("bls2017", ["--num_filters", "4"], 16),
    ("bmshj2018", ["--num_filters", "4", "--num_latents", "4"], 16),
    ("hcae", ["--num_filters", "4", "--levels", "3"], 8),
])
def test_crops_the_model_cannot_reconstruct_are_refused_in_one_line(
    system, argv, multiple):
  from tfc_repro import systems  # pylint: disable=g-import-not-at-top
  system = systems.system(system)
  args = train_args(system, ["train", *argv, "--patchsize", str(multiple)])
  model = system.build_model(args)
  assert model.training_crop_multiple() == multiple
  training.check_crop_sides(model, args)
  args.patchsize = multiple + 2
  with pytest.raises(ValueError, match=rf"--patchsize must be a multiple of "
                     rf"{multiple} .*got {multiple + 2}") as error:
    training.check_crop_sides(model, args)
  assert "\n" not in str(error.value)
  args.patchsize, args.final_patchsize = multiple, 3 * multiple // 2
  with pytest.raises(ValueError, match="--final_patchsize must be"):
    training.check_crop_sides(model, args)


def test_an_image_whose_data_does_not_decode_is_named(train_dir, tmp_path,
                                                       run_main):
  """A PNG cut short reads its header (the check before training) but fails
  TensorFlow's decoder in the first step: the error names the file."""
  folder = tmp_path / "images"
  folder.mkdir()
  for name in ("img0.png", "img1.png", "img2.png"):
    shutil.copy(os.path.join(train_dir, name), folder / name)
  cut = (folder / "img1.png").read_bytes()
  (folder / "img1.png").write_bytes(cut[:len(cut) // 2])
  result = run_main(bls2017.SYSTEM, "--model_path", str(tmp_path / "m"),
                    "train", "--train_glob", str(folder), "--num_filters",
                    "4", "--patchsize", "32", "--batchsize", "2", "--steps",
                    "2", "--cache_gib", "0")
  assert result.returncode == 1
  error, = [line for line in result.stderr.splitlines()
            if line.startswith("error: ")]
  assert error == (f"error: cannot decode {folder / 'img1.png'}: Invalid PNG "
                   f"data, size {len(cut) // 2}")


def test_a_finished_run_is_not_trained_again_nor_replaced_by_another_model(
    train_image, tmp_path, run_main):
  path = str(tmp_path / "m")
  argv = ["--model_path", path, "train", "--train_glob", train_image,
          "--num_filters", "4", "--patchsize", "32", "--batchsize", "2",
          "--steps", "2", "--steps_per_epoch", "2", "--seed", "0"]
  assert run_main(bls2017.SYSTEM, *argv).returncode == 0
  stamp = os.stat(os.path.join(path, "saved_model.pb")).st_mtime_ns
  # The same command again: nothing to train.
  again = run_main(bls2017.SYSTEM, *argv)
  assert again.returncode == 0, again.stderr
  assert "already holds this model, trained for 2 steps" in again.stdout
  assert "training 2 steps" not in again.stdout
  # Another model (λ, size) would replace it: refused in one line. (The
  # last of a flag given twice is the one argparse keeps.)
  for flag, value, message in (("--lambda", "0.02", "lmbda 0.01, not 0.02"),
                               ("--num_filters", "8", "num_filters 4, not 8")):
    result = run_main(bls2017.SYSTEM, *argv, flag, value)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr
  assert os.stat(os.path.join(path, "saved_model.pb")).st_mtime_ns == stamp
