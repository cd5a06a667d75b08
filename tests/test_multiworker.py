"""`train --strategy multiworker`: two local worker processes (TF_CONFIG on
localhost, ports picked at run time) train a tiny bls2017 model in lockstep.
Both exit 0 without an error on stderr (TensorFlow's C++ errors shown: no
traceback, no heartbeat or coordination service error), the chief exports a
model that codes an image, and the other worker writes no model.

Each worker has a folder of its own, as on machines of their own; the
processes are killed if they overrun their time limit.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, smooth_image, write_images

# Far above a run's time on a loaded 2-core CPU (about 4 minutes at nice 10
# beside two trainings); a hung run fails the test after this.
PROCESS_SECONDS = 600
STEPS = 4
# What stderr must not show (TensorFlow's C++ log at ERROR level included).
FAILURE = re.compile(r"Traceback|heartbeat|coordination|StartAbort|"
                     r"UNAVAILABLE|DEADLINE_EXCEEDED|Exception ignored|"
                     r"^error:", re.IGNORECASE | re.MULTILINE)


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind(("localhost", 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def run_workers(tmp_path, train_dir):
  """Starts the two workers, waits for both; [(returncode, stdout, stderr,
  folder)], chief first."""
  cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
  workers = []
  for index in range(2):
    folder = tmp_path / f"worker{index}"
    folder.mkdir()
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
               TF_CONFIG=json.dumps({"cluster": cluster, "task": {
                   "type": "worker", "index": index}}))
    command = [
        sys.executable, "-m", "tfc_repro.bls2017", "--model_path",
        str(folder / "model"), "train", "--strategy", "multiworker",
        "--train_glob", train_dir, "--num_filters", "8", "--patchsize", "32",
        "--batchsize", "2", "--steps", str(STEPS), "--seed", "1"]
    process = subprocess.Popen(command, cwd=str(folder), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    workers.append((process, folder))
  results = []
  try:
    for process, folder in workers:
      out, err = process.communicate(timeout=PROCESS_SECONDS)
      results.append((process.returncode, out, err, folder))
  except subprocess.TimeoutExpired:
    for process, _ in workers:
      if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
      process.communicate()
    pytest.fail(f"a worker ran longer than {PROCESS_SECONDS} s")
  finally:
    for process, _ in workers:
      if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
  return results


@pytest.mark.slow
def test_two_workers_train_in_lockstep_and_the_chief_exports(tmp_path):
  import tensorflow as tf
  from tfc_repro import container, savedmodel
  train_dir = os.path.dirname(write_images(str(tmp_path / "train"), count=6,
                                           size=(64, 64))[0])
  results = run_workers(tmp_path, train_dir)
  for index, (code, out, err, _) in enumerate(results):
    assert code == 0, f"worker {index}:\n{out[-2000:]}\n{err[-4000:]}"
    found = FAILURE.search(err)
    assert not found, f"worker {index} stderr: {err[-4000:]}"
    # Both trained the same steps (the same losses: one model in lockstep).
    assert f"{STEPS}/{STEPS}" in out, out
  losses = [re.search(r" loss: (\S+)", out).group(1)
            for _, out, _, _ in results]
  assert losses[0] == losses[1]

  (_, _, _, chief), (_, _, _, worker) = results
  model = savedmodel.LoadedModel(str(chief / "model"))
  assert model.metadata["steps"] == STEPS
  assert model.metadata["strategy"] == "multiworker"
  assert model.metadata["replicas"] == 2
  image = smooth_image(40, 56, seed=3)
  data = container.pack(model.compress(image))
  decoded = model.decompress(container.unpack(data))
  assert decoded.shape == image.shape and decoded.dtype == np.uint8
  # The idiom of the SavedModel alone gives the codec's image.
  loaded = tf.saved_model.load(str(chief / "model"))
  np.testing.assert_array_equal(
      loaded.decompress(*loaded.compress(image))[0].numpy(), decoded)
  # The chief deleted its resume checkpoint once exported.
  assert not (chief / "model.train" / "backup").exists()
  # The other worker wrote no model, not even a temporary one.
  assert not [entry for entry in os.listdir(worker)
              if entry.startswith("model") and entry != "model.train"]
