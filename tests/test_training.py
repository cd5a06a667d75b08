"""Training: resume after an interruption, NaN guard, tf.distribute."""

import json
import math
import os

import pytest
import tensorflow as tf

from tfc_repro import bls2017, savedmodel, training
from conftest import run_cli, train_args


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


def test_interrupted_run_resumes_where_it_stopped(train_dir, tmp_path):
  argv = ["--model_path", str(tmp_path / "m"), "train", "--train_glob",
          train_dir, "--num_filters", "8", "--patchsize", "32",
          "--batchsize", "2", "--steps", "15", "--steps_per_epoch", "5",
          "--seed", "0"]
  with pytest.raises(_Interrupt):
    training.build_and_fit(bls2017.SYSTEM, train_args(bls2017.SYSTEM, argv),
                           extra_callbacks=[_InterruptAfterEpoch(1)])
  assert os.path.isdir(str(tmp_path / "m.train" / "backup"))
  recorder = _RecordEpochs()
  model, info = training.build_and_fit(
      bls2017.SYSTEM, train_args(bls2017.SYSTEM, argv),
      extra_callbacks=[recorder])
  assert recorder.epochs == [2]  # epochs 0 and 1 were not trained again
  assert info["steps"] == 15


def test_trains_exactly_the_steps_asked(train_dir, tmp_path):
  args = train_args(bls2017.SYSTEM, [
      "--model_path", str(tmp_path / "m"), "train", "--train_glob", train_dir,
      "--num_filters", "4", "--patchsize", "32", "--batchsize", "2",
      "--steps", "7", "--steps_per_epoch", "3"])
  _, info = training.build_and_fit(bls2017.SYSTEM, args)
  assert info["steps"] == 7


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


def test_learning_rate_decay_factor_defaults_to_a_tenth_and_is_checked():
  assert train_args(bls2017.SYSTEM, ["train"]).lr_decay_factor == 0.1
  assert train_args(bls2017.SYSTEM, ["train", "--lr_decay_factor", "0.5"]
                    ).lr_decay_factor == 0.5
  with pytest.raises(ValueError, match="--lr_decay_factor"):
    train_args(bls2017.SYSTEM, ["train", "--lr_decay_factor", "0"])


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(train_dir, tmp_path):
  path = str(tmp_path / "mirrored")
  result = run_cli(
      "tfc_repro.bls2017", "--model_path", path, "train", "--train_glob",
      train_dir, "--num_filters", "8", "--patchsize", "32", "--batchsize",
      "4", "--steps", "4", "--steps_per_epoch", "2", "--strategy",
      "mirrored", "--logical_cpus", "2")
  assert result.returncode == 0, result.stderr
  model = savedmodel.LoadedModel(path)
  assert model.metadata["replicas"] == 2
  assert model.metadata["steps"] == 4
  assert json.dumps(model.metadata)  # metadata is plain JSON
