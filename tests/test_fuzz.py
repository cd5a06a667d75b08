"""A bounded sample of the decoder fuzzing of bench/fuzz.py, every system.

The full run (10^4 cases per system) is `python bench/fuzz.py`; this sample
runs every kind of case against every system's exported small model (the
contract suite's, as test_export_idiom.py exports it) in a watched worker,
and requires 0 crashes, hangs, memory excesses and silent decodes of
damaged, crafted, cut, extended or foreign files.
"""

import os
import random
import sys

import pytest

from tfc_repro import container, systems
from test_contract import CASES
from test_export_idiom import exported_case

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
import fuzz  # pylint: disable=g-import-not-at-top,wrong-import-position

CASES_PER_KIND = 1


def test_every_kind_of_case_is_made_and_differs_from_the_file():
  good = container.Bitstream(
      system="bls2017", config_hash=bytes(8), model_id=bytes(8),
      digest=bytes(4), image_shape=(40, 72), latent_shapes=[(3, 5)],
      strings=[b"\x12\x34\x56\x78" * 4])
  data = container.pack(good)
  cases = fuzz.make_cases(data, 7 * 20, random.Random(0), png=b"\x89PNG")
  assert {kind for kind, _ in cases} == set(fuzz.KINDS)
  assert all(case != data for _, case in cases)
  # Every case but the CRC-less mutations and foreign files has a valid CRC.
  for kind, case in cases:
    if kind in ("header", "truncated", "extended", "payload",
                "mutation+crc"):
      try:
        container.unpack(case)
      except container.ContainerError as e:
        assert "CRC" not in str(e), (kind, str(e))


@pytest.fixture(scope="module", params=[
    pytest.param((name, next(iter(CASES[name]))), id=name)
    for name in systems.NAMES])
def exported(request, tmp_path_factory):
  """(system name, path of its exported small model)."""
  _, _, loaded, _ = exported_case(*request.param, tmp_path_factory)
  return request.param[0], loaded.path


@pytest.mark.slow
def test_fuzz_sample(exported, tmp_path):
  name, path = exported
  os.symlink(path, str(tmp_path / name))  # the model fuzz_system takes
  result = fuzz.fuzz_system(
      name, CASES_PER_KIND * len(fuzz.KINDS), seed=1, max_pixels=1 << 20,
      timeout=120, memory_mb=2048, workdir=str(tmp_path), progress=False)
  counts = result["counts"]
  assert sum(sum(c.values()) for c in counts.values()) == (
      CASES_PER_KIND * len(fuzz.KINDS))
  report = {"systems": {name: result}}
  assert fuzz.failures(report) == {}, result["examples"]
  assert counts["payload"]["silent"] == 0, result["examples"]
