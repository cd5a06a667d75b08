"""Shipped models: rounding of their weights, packing, rebuilding on first
use, naming them as cpu:NAME in every command."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import aged, smooth_image, write_images
from tfc_repro import data, weights_file


def test_weights_become_float16_only_where_no_value_moves_by_more_than_2_11():
  from tfc_repro import zoo
  rng = np.random.default_rng(0)
  normal = rng.normal(0, 0.1, (64, 64)).astype(np.float32)
  normal[0, :4] = [1e-9, -3e-7, 0., 2e-5]  # tiny entries of a normal array
  huge = np.array([1., 1e5], np.float32)    # beyond float16's range
  small = np.array([1e-6, -3e-6], np.float32)  # below its normal range
  integers = np.arange(10, dtype=np.int32)
  shipped = dict(zoo.round_weights([("normal", normal), ("huge", huge),
                                    ("small", small), ("int", integers)]))
  assert shipped["normal"].dtype == np.float16
  error = np.abs(shipped["normal"].astype(np.float32) - normal).max()
  assert error <= np.abs(normal).max() * 2.**-11
  assert shipped["huge"].dtype == np.float32
  assert shipped["small"].dtype == np.float32
  assert shipped["int"].dtype == np.int32
  np.testing.assert_array_equal(shipped["huge"], huge)


@pytest.fixture(scope="module")
def packed(tmp_path_factory, tiny_bls2017):
  """tiny_bls2017 shipped as cpu:bls2017-1 in a zoo of its own (packed once
  for the module): (zoo folder, cache folder, record)."""
  from tfc_repro import zoo
  root = tmp_path_factory.mktemp("zoo")
  zoo_dir, cache = str(root / "zoo"), str(root / "cache")
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("TFC_REPRO_CACHE", cache)
    record = zoo.pack(tiny_bls2017[1], "bls2017-1", ["--num_filters", "16"],
                      zoo_dir=zoo_dir)
  return zoo_dir, cache, record


@pytest.fixture
def shipped(packed, monkeypatch):
  """The packed zoo as the package's (and its cache): (zoo folder, record)."""
  from tfc_repro import zoo
  zoo_dir, cache, record = packed
  monkeypatch.setattr(zoo, "ZOO_DIR", zoo_dir)
  monkeypatch.setenv("TFC_REPRO_CACHE", cache)
  return zoo_dir, record


def test_a_packed_model_rebuilds_into_a_model_writing_the_same_files(
    tmp_path, tiny_bls2017, shipped, monkeypatch):
  from tfc_repro import metrics, savedmodel, zoo
  zoo_dir, record = shipped
  assert record["weights"]["float16"] > 0
  assert record["training"]["steps"] == 40
  image = smooth_image(64, 96, seed=7)
  first = savedmodel.LoadedModel(zoo.materialize("bls2017-1", zoo_dir))
  assert first.metadata["model_id"] == record["model_id"]
  assert first.metadata["zoo_name"] == "cpu:bls2017-1"
  # A second first use (another cache) rebuilds the same model.
  monkeypatch.setenv("TFC_REPRO_CACHE", str(tmp_path / "other-cache"))
  second = savedmodel.LoadedModel(zoo.materialize("bls2017-1", zoo_dir))
  assert second.path != first.path
  assert second.metadata["model_id"] == record["model_id"]
  bitstream = first.compress(image)
  assert second.compress(image).strings == bitstream.strings
  np.testing.assert_array_equal(second.decompress(bitstream),
                                first.decompress(bitstream))
  # Rounding to float16 barely changes what the model does.
  original = savedmodel.LoadedModel(tiny_bls2017[1])
  psnr = lambda m: metrics.psnr(image, m.decompress(m.compress(image)))
  assert abs(psnr(first) - psnr(original)) < 0.05


def test_a_model_rebuilt_by_other_code_is_rebuilt_again(shipped,
                                                        monkeypatch):
  """The cache holds a rebuild per version of the code: a model rebuilt
  before the export changed is not taken for the current one."""
  from tfc_repro import zoo
  zoo_dir, record = shipped
  first = zoo.materialize("bls2017-1", zoo_dir)
  assert zoo.materialize("bls2017-1", zoo_dir) == first
  rebuilt = []

  def rebuild(record_, weights, path):
    del weights  # What a rebuild does is tested above.
    rebuilt.append(record_["name"])
    os.makedirs(path)
    open(os.path.join(path, "saved_model.pb"), "wb").close()
    return {"model_id": record["model_id"]}

  monkeypatch.setattr(zoo, "rebuild", rebuild)
  assert zoo.materialize("bls2017-1", zoo_dir) == first
  assert not rebuilt
  monkeypatch.setattr(zoo, "code_digest", lambda: "f" * 64)
  other = zoo.materialize("bls2017-1", zoo_dir, quiet=True)
  assert other != first and rebuilt == ["bls2017-1"]
  assert os.path.isdir(first)  # used today: another process may need it


def test_a_new_build_removes_the_builds_no_use_touched_for_a_day(
    shipped, monkeypatch, tmp_path):
  """A build of a shipped model removes the builds of that model by other
  code (or of other weights) unused for a day, and only those: a use
  touches its build, and other models' builds stay."""
  from tfc_repro import zoo
  zoo_dir, record = shipped
  monkeypatch.setenv("TFC_REPRO_CACHE", str(tmp_path / "cache"))

  def rebuild(record_, weights, path):
    del weights  # What a rebuild does is tested above.
    os.makedirs(path)
    open(os.path.join(path, "saved_model.pb"), "wb").close()
    return {"model_id": record["model_id"]}

  monkeypatch.setattr(zoo, "rebuild", rebuild)
  builds = {}
  for version in "abc":
    monkeypatch.setattr(zoo, "code_digest", lambda v=version: v * 64)
    builds[version] = zoo.materialize("bls2017-1", zoo_dir, quiet=True)
    aged(builds[version], 2 * 24 * 3600)
  folder = os.path.dirname(builds["a"])
  others = []  # builds of other shipped models, as old
  for name in ("bls2017-10", "bls2017-2", "bls2017-1-ft"):
    others.append(os.path.join(folder, f"{name}-{'0' * 12}-{'a' * 12}"))
    os.makedirs(others[-1])
    aged(others[-1], 2 * 24 * 3600)
  monkeypatch.setattr(zoo, "code_digest", lambda: "b" * 64)
  assert zoo.materialize("bls2017-1", zoo_dir) == builds["b"]  # a use
  monkeypatch.setattr(zoo, "code_digest", lambda: "d" * 64)
  newest = zoo.materialize("bls2017-1", zoo_dir, quiet=True)
  assert sorted(os.listdir(folder)) == sorted(
      os.path.basename(p) for p in [newest, builds["b"], *others])


def test_the_code_digest_follows_the_package_source(tmp_path, monkeypatch):
  from tfc_repro import zoo
  package = tmp_path / "tfc_repro"
  package.mkdir()
  (package / "zoo.py").write_text("x = 1\n")
  monkeypatch.setattr(zoo, "__file__", str(package / "zoo.py"))
  before = zoo.code_digest()
  (package / "savedmodel.py").write_text("y = 2\n")
  after = zoo.code_digest()
  (package / "savedmodel.py").write_text("y = 3\n")
  assert len({before, after, zoo.code_digest()}) == 3


def test_a_shipped_model_is_named_in_every_command(tmp_path, shipped):
  from tfc_repro import bls2017, cli
  image_path = write_images(str(tmp_path / "images"), count=1)[0]
  parse = cli.build_parser(bls2017.SYSTEM).parse_args
  file_path = str(tmp_path / "img.tfci")
  assert cli.main(bls2017.SYSTEM, parse([
      "--model_path", "cpu:bls2017-1", "compress", image_path,
      file_path])) == 0
  # Within its system's program, the system's name may be left out.
  assert cli.main(bls2017.SYSTEM, parse([
      "--model_path", "cpu:1", "decompress", file_path,
      str(tmp_path / "out.png")])) == 0
  assert os.path.getsize(tmp_path / "out.png") > 0


def test_unknown_or_foreign_names_fail_in_one_line(tmp_path, shipped, capsys):
  from tfc_repro import bls2017, bmshj2018, cli
  image_path = write_images(str(tmp_path / "images"), count=1)[0]
  for system, name, reason in [
      (bls2017.SYSTEM, "cpu:bls2017-7", "no shipped model cpu:bls2017-7 "
       "(shipped bls2017 models: cpu:bls2017-1)"),
      (bmshj2018.SYSTEM, "cpu:bls2017-1", "is a bls2017 model, not a "
       "bmshj2018 model")]:
    args = cli.build_parser(system).parse_args(
        ["--model_path", name, "compress", image_path,
         str(tmp_path / "x.tfci")])
    assert cli.main(system, args) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and reason in error
    assert "\n" not in error


def test_altered_shipped_weights_are_refused(shipped, tmp_path):
  from tfc_repro import zoo
  zoo_dir = str(tmp_path / "zoo")
  shutil.copytree(shipped[0], zoo_dir)
  path = os.path.join(zoo_dir, "bls2017-1", zoo.WEIGHTS)
  with open(path, "ab") as f:
    f.write(b"\0")
  with pytest.raises(zoo.ZooError, match="SHA-256 differs"):
    zoo.materialize("bls2017-1", zoo_dir)


def test_fine_tuning_starts_from_a_shipped_model(shipped, tmp_path):
  from tfc_repro import bls2017, training, zoo
  from conftest import train_args
  _, record = shipped
  args = train_args(bls2017.SYSTEM, [
      "--model_path", str(tmp_path / "child"), "train", "--num_filters",
      "16", "--lambda", "0.05", "--init_from", "cpu:bls2017-1"])
  model = bls2017.SYSTEM.build_model(args)
  parent = training.init_from(model, args.init_from, "bls2017")
  assert parent["model_id"] == record["model_id"]
  _, shipped_weights = zoo.shipped_weights("bls2017-1")
  for weight, (name, value) in zip(model.weights, shipped_weights):
    assert weight.name == name
    np.testing.assert_array_equal(weight.numpy(), value)


@pytest.fixture(scope="module")
def with_fine_tuned(packed, tmp_path_factory):
  """The packed zoo (copied) with cpu:bls2017-2: cpu:bls2017-1 fine-tuned
  (a few of its weights moved), stored relative to it: (zoo folder, cache
  folder, the fine-tuned model's training weights, its record)."""
  from tfc_repro import bls2017, savedmodel, training, zoo
  from conftest import train_args
  root = tmp_path_factory.mktemp("fine-tuned")
  zoo_dir, cache = str(root / "zoo"), packed[1]
  shutil.copytree(packed[0], zoo_dir)
  flags = ["--num_filters", "16", "--lambda", "0.02"]
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(zoo, "ZOO_DIR", zoo_dir)
    patch.setenv("TFC_REPRO_CACHE", cache)
    model = bls2017.SYSTEM.build_model(train_args(bls2017.SYSTEM, [
        "--model_path", str(root / "child"), "train", *flags]))
    parent = training.init_from(model, "cpu:bls2017-1", "bls2017")
    kernel = model.weights[0]
    kernel.assign(kernel * 1.01)
    training.export(model, dict(steps=3, lmbda=0.02, init_from=parent),
                    str(root / "child"))
    record = zoo.pack(str(root / "child"), "bls2017-2", flags, zoo_dir)
  return (zoo_dir, cache,
          savedmodel.read_training_weights(str(root / "child")), record)


def test_a_fine_tuned_model_is_stored_relative_to_its_parent(
    with_fine_tuned):
  from tfc_repro import zoo
  zoo_dir, _, weights, record = with_fine_tuned
  parent = zoo.read_record("bls2017-1", zoo_dir)
  assert record["training"]["init_from"]["path"] == "cpu:bls2017-1"
  assert record["weights"]["relative_to"] == dict(
      name="bls2017-1", sha256=parent["weights"]["sha256"])
  # Mostly unchanged weights store in far fewer bytes than the parent's.
  assert record["weights"]["bytes"] < parent["weights"]["bytes"] / 2
  # Read back, they are exactly the rounded fine-tuned weights.
  _, shipped = zoo.shipped_weights("bls2017-2", zoo_dir)
  rounded = zoo.round_weights(weights)
  assert [n for n, _ in shipped] == [n for n, _ in rounded]
  for (_, got), (_, want) in zip(shipped, rounded):
    np.testing.assert_array_equal(got, want.astype(got.dtype))
  assert "stored relative to cpu:bls2017-1" in open(
      os.path.join(zoo_dir, "bls2017-2", zoo.CARD)).read()


def test_a_model_stored_relative_to_a_missing_or_other_parent_is_refused(
    with_fine_tuned, tmp_path):
  from tfc_repro import zoo
  zoo_dir = str(tmp_path / "zoo")
  shutil.copytree(with_fine_tuned[0], zoo_dir)
  # The parent cannot be shipped again with other weights while a model is
  # stored relative to it...
  _, parent = zoo.shipped_weights("bls2017-1", zoo_dir)
  other = zoo.round_weights([(n, v * 2) for n, v in parent])
  with pytest.raises(zoo.ZooError, match="cpu:bls2017-2 are stored relative "
                                         "to: ship it under another name"):
    zoo.store_weights("bls2017-1", other, zoo_dir=zoo_dir)
  zoo.shipped_weights("bls2017-2", zoo_dir)  # unharmed
  # ... and a parent replaced all the same is noticed.
  path = os.path.join(zoo_dir, "bls2017-1", zoo.WEIGHTS)
  weights_file.write(other, path, compression="lzma")
  record = zoo.read_record("bls2017-1", zoo_dir)
  record["weights"]["sha256"] = data.file_sha256(path)
  zoo._write_record(record, zoo_dir)
  with pytest.raises(zoo.ZooError, match="relative to another cpu:bls2017-1"):
    zoo.materialize("bls2017-2", zoo_dir)
  shutil.rmtree(os.path.join(zoo_dir, "bls2017-1"))
  with pytest.raises(zoo.ZooError, match="cpu:bls2017-1, which is not "
                                         "shipped"):
    zoo.shipped_weights("bls2017-2", zoo_dir)


def test_differences_restore_every_float16_bit_for_bit():
  from tfc_repro import zoo
  every = np.arange(2**16, dtype=np.uint16).view(np.float16)  # NaNs, ±inf
  parent = [("a", np.random.default_rng(1).permutation(every)),
            ("s", np.array(np.inf, np.float16)),
            ("m", np.float32([1, 2])), ("f", np.float32([4.]))]
  child = [("a", every), ("s", np.array(-0., np.float16)),
           ("m", np.float16([1, 2])), ("f", np.float32([3.]))]
  stored = zoo._to_differences(child, parent)
  assert [v.dtype for _, v in stored] == [np.uint16, np.uint16, np.float16,
                                          np.float32]
  restored = zoo._from_differences(stored, parent, "cpu:test")
  for (name, got), (_, want) in zip(restored, child):
    assert isinstance(got, np.ndarray) and got.dtype == want.dtype, name
    assert got.tobytes() == want.tobytes(), name
  # Other names, or a uint16 weight that would read as a difference: the
  # weights are stored on their own.
  assert zoo._to_differences(child[:1], [("b", every)]) is None
  assert zoo._to_differences([("u", np.uint16([1])), *child[:1]],
                             [("u", np.float32([1])), *parent[:1]]) is None
  with pytest.raises(zoo.ZooError, match="weight s does not pair"):
    zoo._from_differences(stored, parent[:1] + [("s", np.float16([1]))]
                          + parent[2:], "cpu:test")


@pytest.mark.parametrize("change,problem", [
    (lambda r: r["weights"].update(relative_to="bls2017-1"),
     "relative_to is not a name"),
    (lambda r: r["weights"].pop("sha256"), "no weights.sha256"),
    (lambda r: r.pop("training"), "no training"),
    (lambda r: r.update(flags=[1]), "flags that are not strings"),
])
def test_a_crafted_record_is_refused_in_one_line(shipped, tmp_path, capsys,
                                                 monkeypatch, change,
                                                 problem):
  from tfc_repro import zoo
  zoo_dir = str(tmp_path / "zoo")
  shutil.copytree(shipped[0], zoo_dir)
  monkeypatch.setattr(zoo, "ZOO_DIR", zoo_dir)
  path = os.path.join(zoo_dir, "bls2017-1", zoo.RECORD)
  with open(path) as f:
    record = json.load(f)
  change(record)
  with open(path, "w") as f:
    json.dump(record, f)
  assert zoo.main(["list"]) == 1
  error = capsys.readouterr().err
  assert problem in error and len(error.strip().splitlines()) == 1
  with pytest.raises(zoo.ZooError, match=problem):
    zoo.shipped_weights("bls2017-1")
  with open(path, "w") as f:
    json.dump([record], f)
  with pytest.raises(zoo.ZooError, match="not a JSON object"):
    zoo.shipped_weights("bls2017-1")


def test_a_chain_of_parents_that_comes_back_is_refused(with_fine_tuned,
                                                       tmp_path):
  from tfc_repro import zoo
  zoo_dir = str(tmp_path / "zoo")
  shutil.copytree(with_fine_tuned[0], zoo_dir)
  shutil.copytree(os.path.join(zoo_dir, "bls2017-2"),
                  os.path.join(zoo_dir, "bls2017-3"))
  for name, parent in (("bls2017-2", "bls2017-3"),
                       ("bls2017-3", "bls2017-2")):
    record = zoo.read_record(name, zoo_dir)
    record["weights"]["relative_to"]["name"] = parent
    zoo._write_record(record, zoo_dir)
  with pytest.raises(zoo.ZooError, match="comes back to itself"):
    zoo.shipped_weights("bls2017-2", zoo_dir)
  # Shipping a model under its parent's name stores it on its own.
  _, weights = zoo.shipped_weights("bls2017-1", zoo_dir)
  entry = zoo.store_weights("bls2017-1", zoo.round_weights(weights),
                            parent="bls2017-1", zoo_dir=zoo_dir)
  assert "relative_to" not in entry


def kodak_point(zoo_name, model_id, images=None, **values):
  """A results point as `evaluate --images kodak` writes it for a shipped
  model: every Kodak image (or `images`), each with `values` (default 0.5
  bpp, 30 dB, 0.95 MS-SSIM)."""
  from tfc_repro import zoo
  row = {"bpp": 0.5, "psnr-rgb": 30., "ms-ssim-rgb": 0.95, **values}
  return {"metadata": {"zoo_name": zoo_name, "model_id": model_id},
          "per_image": [dict(row, image=image)
                        for image in images or zoo.KODAK_IMAGES]}


@pytest.fixture
def own_zoo(shipped, tmp_path, monkeypatch):
  """A copy of the packed zoo as the package's: (zoo folder, record)."""
  from tfc_repro import zoo
  zoo_dir = str(tmp_path / "zoo")
  shutil.copytree(shipped[0], zoo_dir)
  monkeypatch.setattr(zoo, "ZOO_DIR", zoo_dir)
  return zoo_dir, shipped[1]


def test_the_listing_and_cards_show_each_models_training_and_kodak_results(
    tmp_path, own_zoo, capsys):
  from tfc_repro import results, zoo
  zoo_dir, record = own_zoo
  # A results file as evaluate writes it for the shipped model.
  path = str(tmp_path / "curve.json")
  results.write_rd_json(path, "curve", "test", [
      kodak_point("cpu:bls2017-1", record["model_id"])],
                        dataset=zoo.KODAK_DATASET)
  assert zoo.record_results(path, zoo_dir) == ["bls2017-1"]
  with open(os.path.join(zoo_dir, "bls2017-1", zoo.RECORD)) as f:
    assert json.load(f)["kodak"]["psnr-rgb"] == 30.
  card = open(os.path.join(zoo_dir, "bls2017-1", zoo.CARD)).read()
  assert "0.5000 bpp, 30.00 dB PSNR" in card
  assert "mean of kodak (24 images)" in card
  assert "| steps | 40, from scratch |" in card
  assert zoo.main(["list"]) == 0
  listing = capsys.readouterr().out
  assert "cpu:bls2017-1" in listing and "30.00" in listing


def _set(document, path, value):
  """`document` with the entry at `path` (keys and indices) set to
  `value`."""
  *parents, last = path
  for key in parents:
    document = document[key]
  document[last] = value


@pytest.mark.parametrize("change,reason", [
    # Two random crops, not Kodak.
    (lambda d, p: (d.update(dataset="mixed (2 images)"),
                   p.update(per_image=p["per_image"][:2])),
     "evaluated on mixed (2 images), not on kodak (24 images)"),
    (lambda d, p: p.update(per_image=p["per_image"][:2]),
     "is not an evaluation of each Kodak image once"),
    (lambda d, p: _set(p, ("per_image", 0, "bpp"), -0.5),
     "kodim01.png's bpp -0.5 is not positive"),
    (lambda d, p: _set(p, ("per_image", 3, "bpp"), "0.5"),
     "kodim04.png's bpp '0.5' is not a finite number"),
    (lambda d, p: _set(p, ("per_image", 3, "ms-ssim-rgb"), 1.5),
     "ms-ssim-rgb 1.5 is not in (0, 1]"),
    (lambda d, p: _set(d, ("results", "bpp", 0), 0.1),
     "results.bpp 0.1 is not the mean of its images' (0.5)"),
    (lambda d, p: _set(d, ("results", "psnr-rgb"), []),
     "results.psnr-rgb is not a list of a mean per point"),
    (lambda d, p: _set(p, ("metadata", "model_id"), "0123456789abcdef"),
     "evaluates model 0123456789abcdef, not the shipped model"),
    (lambda d, p: _set(p, ("metadata", "zoo_name"), "cpu:bls2017-8"),
     "(cpu:bls2017-8): no such shipped model"),
    (lambda d, p: (d["points"].append(p),
                   [means.append(means[0]) for means in d["results"].values()]),
     "the model is evaluated twice"),
    (lambda d, p: p.update(metadata=None), "point 1 has no metadata"),
    (lambda d, p: d.pop("points"), "not a results file of evaluate"),
    # A codec's results: no shipped model's point.
    (lambda d, p: p.update(metadata={"codec": "jpeg", "quality": 50}),
     "no point of a shipped model"),
])
def test_only_kodak_evaluations_of_the_shipped_model_are_recorded(
    tmp_path, own_zoo, capsys, change, reason):
  """Anything else is refused in one line naming the file, before any
  record or card is written."""
  from tfc_repro import results, zoo
  zoo_dir, record = own_zoo
  document = results.rd_document("curve", "test", [
      kodak_point("cpu:bls2017-1", record["model_id"])],
                                 dataset=zoo.KODAK_DATASET)
  change(document, document["points"][0])
  path = str(tmp_path / "curve.json")
  with open(path, "w") as f:
    json.dump(document, f)
  folder = os.path.join(zoo_dir, "bls2017-1")
  before = {name: open(os.path.join(folder, name), "rb").read()
            for name in os.listdir(folder)}
  assert zoo.main(["record", path]) == 1
  captured = capsys.readouterr()
  lines = captured.err.strip().splitlines()
  assert len(lines) == 1, lines
  assert f"{path}: not recorded: " in lines[0] and reason in lines[0], lines
  assert not captured.out
  assert {name: open(os.path.join(folder, name), "rb").read()
          for name in os.listdir(folder)} == before
  assert zoo.main(["list"]) == 0


def test_no_file_is_recorded_unless_every_file_is_recordable(tmp_path,
                                                            own_zoo, capsys):
  from tfc_repro import results, zoo
  zoo_dir, record = own_zoo
  good, codec = str(tmp_path / "good.json"), str(tmp_path / "codec.json")
  results.write_rd_json(good, "curve", "test", [
      kodak_point("cpu:bls2017-1", record["model_id"])],
                        dataset=zoo.KODAK_DATASET)
  results.write_rd_json(codec, "jpeg", "test", [
      kodak_point(None, None)], dataset=zoo.KODAK_DATASET)
  assert zoo.main(["record", good, codec]) == 1
  assert "no point of a shipped model" in capsys.readouterr().err
  assert "kodak" not in zoo.read_record("bls2017-1", zoo_dir)


@pytest.mark.parametrize("kodak,problem", [
    ({"bpp": "0.5"}, "kodak bpp '0.5' is not a finite number"),
    ({"bpp": -1.}, "kodak bpp -1.0 is not positive"),
    ({"psnr-rgb": None}, "kodak psnr-rgb None is not a finite number"),
    ({"dataset": 24}, "kodak.dataset is not a string"),
])
def test_the_listing_names_a_bad_record_and_lists_the_others(
    own_zoo, capsys, kodak, problem):
  from tfc_repro import zoo
  zoo_dir, _ = own_zoo
  # A second model, whose record is then spoilt.
  shutil.copytree(os.path.join(zoo_dir, "bls2017-1"),
                  os.path.join(zoo_dir, "bls2017-2"))
  path = os.path.join(zoo_dir, "bls2017-2", zoo.RECORD)
  with open(path) as f:
    record = json.load(f)
  record.update(name="bls2017-2", kodak=dict(
      {"bpp": 0.5, "psnr-rgb": 30., "ms-ssim-rgb": 0.9,
       "dataset": zoo.KODAK_DATASET, "results": "curve.json"}, **kodak))
  with open(path, "w") as f:
    json.dump(record, f)
  assert zoo.main(["list"]) == 1
  captured = capsys.readouterr()
  lines = captured.err.strip().splitlines()
  assert len(lines) == 1 and problem in lines[0], lines
  assert "bls2017-2" in lines[0]
  listing = captured.out.splitlines()
  assert listing[1].startswith("cpu:bls2017-1 ")
  assert listing[2].split() == ["cpu:bls2017-2", "(its", "record", "does",
                                "not", "read)"]
  with pytest.raises(zoo.ZooError, match="not a shipped model's record"):
    zoo.shipped_weights("bls2017-2", zoo_dir)
  # Nor is such a record written.
  with pytest.raises(zoo.ZooError, match="not writing the record"):
    zoo._write_record(record, zoo_dir)


def test_a_card_states_the_levels_that_collapsed_in_training():
  from tfc_repro import zoo
  record = dict(name="hcae-4", system="hcae", flags=["--profile", "quick"],
                training=dict(steps=10, lmbda=0.01, metric="mse",
                              train_cpu_seconds=36.),
                weights=dict(float16=1, other=0, bytes=1000))
  assert "collapsed" not in zoo.card(record)
  record["training"]["rate_share_warnings"] = [
      "z3: 0.00 % of the rate at step 2 (under 0.5 %): the level may have "
      "collapsed"]
  assert "- z3: 0.00 % of the rate at step 2" in zoo.card(record)


@pytest.mark.parametrize("error", [KeyError("points"),
                                   RuntimeError("no TensorFlow")])
def test_the_zoo_reports_errors_in_one_line_as_every_tool(error, monkeypatch,
                                                          capsys):
  from tfc_repro import zoo

  def failing_table(**_):
    raise error

  monkeypatch.setattr(zoo, "table", failing_table)
  assert zoo.main(["list"]) == 1
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1, lines
  assert lines[0].startswith("python -m tfc_repro.zoo: error: ")


def test_a_failed_rebuild_leaves_nothing_a_later_use_takes(own_zoo,
                                                           tmp_path,
                                                           monkeypatch):
  """A record whose flags build another model than it was trained as fails
  at every use, not only at the first."""
  from tfc_repro import zoo
  zoo_dir, _ = own_zoo
  cache = tmp_path / "cache"
  monkeypatch.setenv("TFC_REPRO_CACHE", str(cache))
  record = zoo.read_record("bls2017-1", zoo_dir)
  record["flags"] += ["--lambda", "0.5"]  # λ edited
  zoo._write_record(record, zoo_dir)
  # What a rebuild killed two days ago left is removed by the next.
  path = zoo._cache_path("bls2017-1", record["weights"]["sha256"])
  left = path + ".rebuild-killed"
  os.makedirs(os.path.join(left, "model"))
  aged(left, 2 * 24 * 3600)
  for _ in range(2):
    with pytest.raises(zoo.ZooError, match="build another model"):
      zoo.materialize("bls2017-1", zoo_dir, quiet=True)
  assert os.listdir(cache / "zoo" / "cpu") == []
  record["flags"] = ["--bogus"]
  zoo._write_record(record, zoo_dir)
  with pytest.raises(zoo.ZooError, match="train flags of cpu:bls2017-1 do "
                                         "not parse: unrecognized arguments: "
                                         "--bogus$"):
    zoo.materialize("bls2017-1", zoo_dir, quiet=True)


def _zoo_files(zoo_dir):
  """{path under the zoo folder: bytes} of every file in it."""
  contents = {}
  for folder, _, file_names in os.walk(zoo_dir):
    for file_name in file_names:
      path = os.path.join(folder, file_name)
      with open(path, "rb") as f:
        contents[os.path.relpath(path, zoo_dir)] = f.read()
  return contents


@pytest.mark.parametrize("name,flags,reason", [
    # Flags that build another architecture (N=16 left out).
    ("bls2017-9", [], "another architecture"),
    ("../evilzoo", ["--num_filters", "16"],
     "'../evilzoo' is not a shipped model's name"),
    ("bls2017/9", ["--num_filters", "16"], "is not a shipped model's name"),
    ("Bls2017-9", ["--num_filters", "16"], "is not a shipped model's name"),
    ("bmshj2018-hyperprior-9", ["--num_filters", "16"],
     "holds a bls2017 model: its name starts with bls2017-"),
    ("bls2017-1", ["--num_filters", "16"],
     "cpu:bls2017-1 is already shipped: give --replace"),
])
def test_a_failed_pack_leaves_the_zoo_as_it_was(tiny_bls2017, own_zoo,
                                                tmp_path, capsys, name,
                                                flags, reason):
  from tfc_repro import zoo
  zoo_dir, _ = own_zoo
  before = _zoo_files(zoo_dir)
  outside = tmp_path / "evilzoo"
  assert zoo.main(["pack", tiny_bls2017[1], name, "--", *flags]) == 1
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and reason in lines[0], lines
  assert _zoo_files(zoo_dir) == before
  assert sorted(os.listdir(zoo_dir)) == ["bls2017-1"]
  assert zoo.names(zoo_dir) == ["bls2017-1"]
  assert not outside.exists()


def test_a_shipped_model_is_replaced_only_when_asked(tiny_bls2017, own_zoo,
                                                     capsys):
  from tfc_repro import zoo
  zoo_dir, shipped_record = own_zoo
  record = zoo.read_record("bls2017-1", zoo_dir)
  record["kodak"] = {"bpp": 0.5, "psnr-rgb": 30., "ms-ssim-rgb": 0.95,
                     "dataset": zoo.KODAK_DATASET, "results": "curve.json"}
  zoo._write_record(record, zoo_dir)
  # What a pack killed two days ago left (in staging, or moved aside).
  for left in (".bls2017-1.pack-killed", ".bls2017-1.old-killed"):
    os.makedirs(os.path.join(zoo_dir, left, "model"))
    aged(os.path.join(zoo_dir, left), 2 * 24 * 3600)
  # The same model shipped again keeps its Kodak results.
  assert zoo.main(["pack", tiny_bls2017[1], "bls2017-1", "--replace", "--",
                   "--num_filters", "16"]) == 0
  assert "shipped" in capsys.readouterr().out
  replaced = zoo.read_record("bls2017-1", zoo_dir)
  assert replaced["model_id"] == shipped_record["model_id"]
  assert replaced["kodak"] == record["kodak"]
  assert sorted(os.listdir(zoo_dir)) == ["bls2017-1"]
  zoo.shipped_weights("bls2017-1", zoo_dir)  # complete
