"""The shipped models (tfc_repro/zoo/cpu): each is complete and named as
the listing says, and a rebuilt model codes a Kodak image as the results
it was shipped with record."""

import glob
import json
import os
import re
import warnings

import pytest

from tfc_repro import data, zoo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results", "kodak", "cpu")


def test_every_shipped_model_is_complete_and_listed():
  listing = zoo.table()
  for name in zoo.names():
    record = zoo.read_record(name)
    assert record["name"] == name
    assert re.fullmatch(r"[a-z0-9-]+-[1-4]", name), name
    folder = os.path.join(zoo.ZOO_DIR, name)
    assert data.file_sha256(os.path.join(folder, zoo.WEIGHTS)) == (
        record["weights"]["sha256"])
    for key in ("steps", "train_cpu_seconds", "train_data", "lmbda"):
      assert key in record["training"], (name, key)
    assert "/work/" not in json.dumps(record)  # no machine's paths
    card = open(os.path.join(folder, zoo.CARD), encoding="utf-8").read()
    assert f"# cpu:{name}" in card and "far below the published" in card
    assert f"cpu:{name}" in listing


def _recorded_points():
  """(zoo name, Kodak image row) of the first image of every shipped model
  in the reproduction's results, one model per system."""
  points, systems = [], set()
  for path in sorted(glob.glob(os.path.join(RESULTS, "*.json"))):
    with open(path, encoding="utf-8") as f:
      document = json.load(f)
    for point in document["points"]:
      name = point["metadata"].get("zoo_name")
      system = point["metadata"].get("system")
      if name and system not in systems and name[4:] in zoo.names():
        systems.add(system)
        points.append((name, point["per_image"][0]))
  return points


@pytest.mark.slow
@pytest.mark.parametrize("name,row", _recorded_points(),
                         ids=lambda value: value if isinstance(value, str)
                         else "")
def test_a_rebuilt_shipped_model_codes_kodak_as_recorded(name, row, tmp_path,
                                                         monkeypatch):
  from tfc_repro import metrics, savedmodel
  monkeypatch.setenv("TFC_REPRO_CACHE", str(tmp_path))
  record = zoo.read_record(name[4:])
  model = savedmodel.LoadedModel(zoo.materialize(name[4:], quiet=True))
  if model.metadata["model_id"] != record["model_id"]:
    warnings.warn(f"{name} rebuilt here has model id "
                  f"{model.metadata['model_id']}, shipped {record['model_id']}")
  images, _ = data.evaluation_images("kodak")
  path = [p for p in images if os.path.basename(p) == row["image"]][0]
  image = data.read_image(path)
  bitstream = model.compress(image)
  decoded = model.decompress(bitstream)
  height, width = image.shape[:2]
  bpp = metrics.bits_per_pixel(bitstream.payload_bytes, height, width)
  assert bpp == pytest.approx(row["bpp-payload"], rel=0.005)
  assert metrics.psnr(image, decoded) == pytest.approx(row["psnr-rgb"],
                                                       abs=0.02)
