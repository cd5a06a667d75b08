"""Shared fixtures: tiny generated images and a tiny trained bls2017 model."""

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if os.environ.get("TFC_REPRO_DATA"):
  os.environ["TFC_REPRO_DATA"] = os.path.abspath(os.environ["TFC_REPRO_DATA"])


def smooth_image(height, width, seed=0):
  """A smooth random RGB uint8 image (compresses like a photo, not noise)."""
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, size=(height // 8 + 2, width // 8 + 2, 3))
  rows = np.linspace(0, coarse.shape[0] - 1.001, height)
  cols = np.linspace(0, coarse.shape[1] - 1.001, width)
  r0, c0 = rows.astype(int), cols.astype(int)
  fr, fc = (rows - r0)[:, None, None], (cols - c0)[None, :, None]
  image = ((1 - fr) * (1 - fc) * coarse[r0][:, c0] + fr * (1 - fc) * coarse[r0 + 1][:, c0]
           + (1 - fr) * fc * coarse[r0][:, c0 + 1] + fr * fc * coarse[r0 + 1][:, c0 + 1])
  image += rng.normal(0, 4, size=image.shape)
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def write_images(directory, count=6, size=(96, 128)):
  from tfc_repro import data
  os.makedirs(directory, exist_ok=True)
  paths = []
  for i in range(count):
    path = os.path.join(directory, f"img{i}.png")
    data.write_png(path, smooth_image(*size, seed=i))
    paths.append(path)
  return paths


def aged(path, seconds):
  """`path` (a link itself, not what it points to), its modification time
  set back by `seconds`: what a write killed that long ago left."""
  past = os.path.getmtime(path) - seconds
  os.utime(path, (past, past), follow_symlinks=False)
  return path


def run_cli(*args, cwd=None, timeout=600):
  """Runs `python -m tfc_repro...` and returns the CompletedProcess."""
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def run_main(capfd):
  """`run_main(system, *argv)` runs `python -m tfc_repro.<system> ARGV` in
  this process (its parser and `cli.main`, without a process start-up):
  the exit status and what it wrote to stdout and stderr (file descriptors
  1 and 2, TensorFlow's C++ messages included), as a CompletedProcess."""
  from tfc_repro import cli

  def run(system, *argv):
    capfd.readouterr()
    status = cli.main(system, cli.build_parser(system).parse_args(list(argv)))
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(argv, status, out, err)

  return run


@pytest.fixture
def load_once(monkeypatch):
  """Within the test, `savedmodel.LoadedModel(path)` loads a SavedModel once
  and returns that same object again while its saved_model.pb is unchanged
  (the commands of `run_main` each load their model: seconds for a large
  one). Returns the loading function; its `add(model)` makes a model loaded
  before the one loading gives for its path."""
  from tfc_repro import savedmodel
  load, loaded = savedmodel.LoadedModel, {}

  def key(path, max_pixels):
    stamp = os.stat(os.path.join(path, "saved_model.pb")).st_mtime_ns
    return os.path.realpath(path), max_pixels, stamp

  def load_once(path, max_pixels=None):
    try:
      found = key(path, max_pixels)
    except OSError:  # no model there: the real error
      return load(path, max_pixels)
    if found not in loaded:
      loaded[found] = load(path, max_pixels)
    return loaded[found]

  load_once.add = lambda model: loaded.setdefault(key(model.path, None),
                                                  model)
  monkeypatch.setattr(savedmodel, "LoadedModel", load_once)
  return load_once


def train_args(system, argv):
  from tfc_repro import cli
  args = cli.build_parser(system).parse_args(argv)
  cli.resolve_train_args(system, args)
  return args


@pytest.fixture(scope="session")
def train_dir(tmp_path_factory):
  return os.path.dirname(write_images(
      str(tmp_path_factory.mktemp("train")), count=6, size=(96, 128))[0])


@pytest.fixture(scope="session")
def train_image(train_dir):
  """One image of `train_dir`: a --train_glob that holds nothing out for
  validation (whose test step would be traced too)."""
  return os.path.join(train_dir, "img0.png")


@pytest.fixture(scope="session")
def tiny_bls2017(tmp_path_factory, train_dir):
  """A bls2017 model (N=16) trained for 40 steps and exported with
  `reconstruct` (train --export_reconstruct): (model, path)."""
  from tfc_repro import bls2017, training
  path = str(tmp_path_factory.mktemp("models") / "bls2017")
  args = train_args(bls2017.SYSTEM, [
      "--model_path", path, "train", "--train_glob", train_dir,
      "--num_filters", "16", "--patchsize", "64", "--batchsize", "4",
      "--steps", "40", "--steps_per_epoch", "20", "--seed", "1",
      "--export_reconstruct"])
  model, info = training.build_and_fit(bls2017.SYSTEM, args)
  training.export(model, info, path, reconstruct=args.export_reconstruct)
  return model, path


def _shared_setup_group(item):
  """The xdist group of a test that shares an expensive setup with others:
  the parameter of a module- or session-scoped parametrised fixture it uses
  (one group per parameter value, whichever module: the contract cases'
  fixed models are shared by the modules that use them), a module-scoped
  fixture that builds a model (one group per module and fixture), or a
  session fixture it shares with tests of other modules (one group per
  fixture); None if none."""
  fixture_defs = getattr(getattr(item, "_fixtureinfo", None),
                         "name2fixturedefs", {})
  callspec = getattr(item, "callspec", None)
  module_fixture = None
  for name in item.fixturenames:
    definitions = fixture_defs.get(name) or ()
    if not definitions or definitions[-1].scope not in ("module", "session"):
      continue
    if callspec is not None and name in callspec.params:
      return group_name(f"setup {callspec.params[name]!r}")
    if name in SHARED_SESSION_FIXTURES:
      return name
    if name in MODEL_MODULE_FIXTURES and module_fixture is None:
      module_fixture = f"{item.module.__name__}::{name}"
  return module_fixture


def group_name(text):
  """An xdist group name: xdist takes the text after the last "@" of a test
  id as its group only if no "]" follows it."""
  return text.replace("[", "(").replace("]", ")").replace("@", "_")


# Session fixtures that tests of several modules use: with --dist loadgroup
# (scripts/test.sh), their tests run on one worker, which builds it once.
SHARED_SESSION_FIXTURES = ("tiny_bls2017",)
# Module fixtures that build a model: their tests run on one worker.
MODEL_MODULE_FIXTURES = ("tiny_hyperprior", "other_bls2017", "base_model",
                         "hybrid_model")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
  del config
  for item in items:
    group = _shared_setup_group(item)
    if group is not None:
      item.add_marker(pytest.mark.xdist_group(group))


class RawWeights:
  """A callback (`.callback`) keeping the values of `variables(model)` at
  the start of training and after every step, keyed by the step count;
  `moving_average(momentum)` is then what `--weight_averaging MOMENTUM`
  should end with: a ← m·a + (1 − m)·w after every step, from the weights
  at step 0 (or from `start`, the average at the first recorded step) to
  the last step (or step `until`)."""

  def __init__(self, variables):
    import tensorflow as tf
    outer = self
    self.values = {}

    class Callback(tf.keras.callbacks.Callback):

      def _record(self):
        step = int(self.model.optimizer.iterations.numpy())
        outer.values[step] = [v.numpy() for v in variables(self.model)]

      def on_train_begin(self, logs=None):
        self._record()

      def on_train_batch_end(self, batch, logs=None):
        self._record()

    self.callback = Callback()

  def moving_average(self, momentum, start=None, until=None):
    steps = [s for s in sorted(self.values) if until is None or s <= until]
    average = start if start is not None else self.values[steps[0]]
    for step in steps[1:]:
      average = [momentum * a + (1 - momentum) * w
                 for a, w in zip(average, self.values[step])]
    return average


@pytest.hookimpl(wrapper=True)
def pytest_unconfigure(config):
  """An xdist worker, once it has sent its results and every plugin has
  unconfigured, ends without Python's shutdown: tearing down the TensorFlow
  graphs and models that a worker's tests built takes seconds to tens of
  seconds at the end of the suite and checks nothing."""
  result = yield
  if hasattr(config, "workerinput"):  # an xdist worker, not a subprocess
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
  return result
