"""regularized: the source model, the two stages and their gradients, export,
resume. The coding contract of the backbones is in test_contract.py."""

import math
import os

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfc_repro import cli, container, regularized, savedmodel, training
from conftest import RawWeights, smooth_image, train_args
from test_contract import CASES
from test_export_idiom import exported_case

TINY = {
    "bmshj2018-meanscale": ["--num_filters", "8", "--num_latents", "12"],
    "lee2019": ["--num_filters", "8", "--num_latents", "8",
                "--context_filters", "16"],
}


def args_for(backbone, *extra, path="m"):
  return train_args(regularized.SYSTEM, [
      "--model_path", path, "train", "--backbone", backbone, *TINY[backbone],
      *extra])


def build(backbone, *extra):
  tf.keras.utils.set_random_seed(3)
  return regularized.SYSTEM.build_model(args_for(backbone, *extra))


def batch():
  return tf.constant(np.stack([smooth_image(32, 48, seed=s) for s in (1, 2)]),
                     tf.float32)


def test_discretized_gaussian_cross_entropy_is_the_analytic_value():
  source = regularized.SourceModel()
  x = tf.constant([[[[10., 200., 0.]]]])
  mean = tf.constant([[[[12.3, 190., 3.]]]])
  scale = tf.constant([[[[2., 7.5, 0.5]]]])
  source.parameters = lambda x_, x_hat, frozen=False: (mean, scale)
  bits = float(source.bits(x, x)[0])
  expected = 0.
  for v, m, s in zip([10., 200., 0.], [12.3, 190., 3.], [2., 7.5, 0.5]):
    p = stats.norm.cdf((v + .5 - m) / s) - stats.norm.cdf((v - .5 - m) / s)
    expected -= math.log2(max(p, 1e-9))
  np.testing.assert_allclose(bits, expected, rtol=1e-4)


@pytest.mark.parametrize("backbone", sorted(TINY))
def test_each_stage_gets_gradients_only_from_its_own_loss(backbone):
  model = build(backbone)
  codec_stage, source_stage = model.stages()
  with tf.GradientTape(persistent=True) as tape:
    terms = model(batch(), training=True)
  phi = codec_stage.variables(model)
  theta = source_stage.variables(model)
  assert theta and phi and not {id(v) for v in theta} & {id(v) for v in phi}
  # θ receives no gradient from L_φ, φ none from L_θ.
  assert all(g is None for g in tape.gradient(terms["loss"], theta))
  assert all(g is None for g in tape.gradient(terms["source_loss"], phi))
  # ... but each gets one from its own.
  assert any(g is not None and float(tf.reduce_sum(abs(g))) > 0
             for g in tape.gradient(terms["loss"], phi))
  assert all(g is not None
             for g in tape.gradient(terms["source_loss"], theta))


@pytest.mark.parametrize("backbone", sorted(TINY))
def test_the_term_raises_the_conditional_entropy(backbone):
  # L_φ = R + λD − α·Ĥ: the larger Ĥ, the lower the loss; α = 0 gives
  # exactly the backbone's loss.
  x = batch()
  for alpha in (0., 0.5):
    model = build(backbone, "--alpha", str(alpha))
    tf.random.set_seed(9)
    terms = model(x, training=False)
    np.testing.assert_allclose(
        float(terms["loss"]),
        float(terms["rd_loss"]) - alpha * float(terms["conditional_entropy"]),
        rtol=1e-5)
    tf.random.set_seed(9)
    plain = model.backbone(x, training=False)
    np.testing.assert_allclose(float(terms["rd_loss"]), float(plain["loss"]),
                               rtol=1e-6)
  assert float(terms["conditional_entropy"]) > 0


def test_alpha_and_lambda_defaults_and_units():
  args = args_for("bmshj2018-meanscale")
  assert args.alpha == 0.1 and args.source_lr == args.lr
  args = args_for("lee2019", "--quality", "2")
  assert args.alpha == 1.0
  model = regularized.SYSTEM.build_model(args)
  # The λ the user gave (eq. 6's for lee2019) is the one reported.
  assert model.user_lambda == 0.4
  assert model.loss_lambda == pytest.approx((1 - 0.4) / (1000 * 0.4))
  with pytest.raises(ValueError, match="alpha"):
    args_for("lee2019", "--alpha", "-1")
  with pytest.raises(ValueError, match="--context_filters does not apply"):
    args_for("bmshj2018-meanscale", "--context_filters", "8")


def test_source_model_widths_follow_the_profile():
  def widths(*extra):
    model = regularized.SYSTEM.build_model(args_for("lee2019", *extra))
    kernels = model.source_model.kernels
    return kernels[0].shape[-1], kernels[1].shape[-1], kernels[2].shape[-1]
  assert widths() == (32, 48, 12)  # quick profile; 12 with a context
  assert widths("--profile", "paper") == (64, 96, 12)
  assert widths("--source_filters", "5,7") == (5, 7, 12)
  with pytest.raises(ValueError, match="two positive sizes"):
    args_for("lee2019", "--source_filters", "5")


@pytest.mark.parametrize("backbone", sorted(TINY))
def test_the_source_model_starts_as_wide_as_source_scale(backbone):
  x = batch()
  scales = {}
  for value in ("8", "64"):
    model = build(backbone, "--source_scale", value)
    assert model.config["source_scale"] == float(value)
    _, scales[value] = model.source_model.parameters(x, x)
  # The same initial weights: σ scales with --source_scale alone.
  np.testing.assert_allclose(scales["64"] / scales["8"], 8., rtol=1e-5)
  assert 16. < float(tf.reduce_mean(scales["64"])) < 256.
  with pytest.raises(ValueError, match="source_scale"):
    args_for(backbone, "--source_scale", "0")


@pytest.fixture(scope="module", params=[
    pytest.param(("regularized", kind), id=kind or "bmshj2018-meanscale")
    for kind in CASES["regularized"]])
def exported(request, tmp_path_factory):
  """The contract suite's fixed model of each backbone, exported:
  (model, its path, `LoadedModel`)."""
  _, model, loaded, _ = exported_case(*request.param, tmp_path_factory)
  return model, loaded.path, loaded


def test_export_is_the_backbones_and_round_trips(exported):
  model, path, loaded = exported
  reader = tf.train.load_checkpoint(os.path.join(path, "variables",
                                                 "variables"))
  names = reader.get_variable_to_shape_map()
  assert not any("source" in n for n in names), names
  stored = sum(int(np.prod(s)) for n, s in names.items()
               if reader.get_variable_to_dtype_map()[n] != tf.string)
  source = sum(int(tf.size(v)) for v in model.source_model.variables)
  backbone_weights = sum(int(tf.size(v)) for v in model.backbone.variables)
  assert stored <= backbone_weights + 10 ** 5 and source > 0
  assert loaded.metadata["system"] == "regularized"
  image = smooth_image(17, 33, seed=4)
  decoded = loaded.decompress(container.unpack(container.pack(
      loaded.compress(image))))
  np.testing.assert_array_equal(
      decoded, model.reconstruct(tf.constant(image)).numpy())


def test_both_arms_start_from_one_trained_backbone(tmp_path, monkeypatch):
  """--init_from a model of the backbone's system (its folder, or its name
  once shipped) sets the backbone's weights (the source model starts
  fresh); another backbone is refused."""
  from tfc_repro import bmshj2018, zoo
  # The plain model (as training exports it; its weights differ from the
  # backbone's initial ones by their seed).
  tf.keras.utils.set_random_seed(7)
  parent = bmshj2018.SYSTEM.build_model(train_args(bmshj2018.SYSTEM, [
      "--model_path", str(tmp_path / "plain"), "train", "--model",
      "meanscale", *TINY["bmshj2018-meanscale"]]))
  expected = [w.numpy() for w in parent.weights]
  training.export(parent, dict(steps=2, lmbda=0.01),
                  str(tmp_path / "plain"))
  # Shipped as pack ships it (without the rebuild that checks its flags).
  monkeypatch.setattr(zoo, "ZOO_DIR", str(tmp_path / "zoo"))
  zoo._write_record(dict(
      name="bmshj2018-meanscale-1", system="bmshj2018", flags=[],
      training=dict(steps=2, lmbda=0.01),
      weights=zoo.store_weights("bmshj2018-meanscale-1", zoo.round_weights(
          savedmodel.read_training_weights(str(tmp_path / "plain"))))))
  rounded = [v for _, v in zoo.shipped_weights("bmshj2018-meanscale-1")[1]]
  assert any(r.dtype == np.float32 and not np.array_equal(r, e)
             for r, e in zip(rounded, expected))  # rounded to float16
  for alpha, parent_path, values in (
      ("0.1", str(tmp_path / "plain"), expected),
      ("0", "cpu:bmshj2018-meanscale-1", rounded)):
    model = build("bmshj2018-meanscale", "--alpha", alpha)
    fresh = [w.numpy() for w in model.source_model.weights]
    record = training.init_from(model, parent_path, "regularized")
    assert record["steps"] == 2
    assert len(model.backbone.weights) == len(values)
    for weight, value in zip(model.backbone.weights, values):
      np.testing.assert_array_equal(weight.numpy(), value)
    for weight, value in zip(model.source_model.weights, fresh):
      np.testing.assert_array_equal(weight.numpy(), value)
  with pytest.raises(savedmodel.ModelError, match="which a regularized "
                     "model cannot start from"):
    training.init_from(build("lee2019"), str(tmp_path / "plain"),
                       "regularized")


def test_interrupted_two_stage_run_resumes_exactly(train_image, tmp_path):
  """Both stages' optimizers resume, each stage's weights averaged by its
  own optimizer (--weight_averaging) across the interruption."""
  common = ["--train_glob", train_image, "--patchsize", "32", "--batchsize",
            "2", "--steps", "6", "--steps_per_epoch", "3", "--seed", "5",
            "--train_path", str(tmp_path / "t"), "--weight_averaging", "0.5"]

  def variables(m):
    return [v for stage in m.stages() for v in stage.variables(m)]
  first, second = RawWeights(variables), RawWeights(variables)

  class Interrupt(tf.keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
      raise KeyboardInterrupt

  args = args_for("bmshj2018-meanscale", *common, path=str(tmp_path / "a"))
  with pytest.raises(KeyboardInterrupt):
    training.build_and_fit(regularized.SYSTEM, args,
                           extra_callbacks=[first.callback, Interrupt()])
  resumed, _ = training.build_and_fit(regularized.SYSTEM, args,
                                      extra_callbacks=[second.callback])
  assert int(resumed.optimizer.iterations) == 6
  assert int(resumed.stage_optimizers["source"].iterations) == 6
  # Both optimizers' states were restored: the source optimizer's moments
  # are not fresh.
  slots = [v for v in resumed.stage_optimizers["source"].variables
           if "iter" not in v.name]
  assert any(float(tf.reduce_sum(abs(v))) > 0 for v in slots)
  expected = second.moving_average(0.5, start=first.moving_average(0.5))
  assert len(expected) == len(resumed.trainable_variables)
  for variable, average in zip(variables(resumed), expected):
    np.testing.assert_allclose(variable.numpy(), average, rtol=1e-5,
                               atol=1e-6)
  changed = [not np.allclose(a, w) for a, w in zip(expected, second.values[6])]
  codec = len(resumed.stages()[0].variables(resumed))
  assert any(changed[:codec]) and any(changed[codec:])


def test_backbone_is_accepted_before_and_after_the_command():
  parser = lambda: cli.build_parser(regularized.SYSTEM)
  for argv in (["--backbone", "lee2019", "--model_path", "m", "train"],
               ["--model_path", "m", "train", "--backbone", "lee2019"]):
    assert parser().parse_args(argv).backbone == "lee2019"
  assert parser().parse_args(["train"]).backbone == "bmshj2018-meanscale"
  with pytest.raises(SystemExit):
    parser().parse_args(["--backbone", "mbt2018", "train"])


def test_the_kept_weights_are_chosen_by_the_rd_loss_not_the_regularized_loss():
  """−α·Ĥ rises as the source model learns: the regularized loss of a run
  that improves its R + λ·D can rise, and the weights kept must then be the
  last ones, as for the plain backbone."""
  assert regularized.RegularizedModel.selection_term == "rd_loss"
  model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
  model.build((None, 1))
  model.compile(optimizer="adam")
  best = training.BestWeights(
      monitor="val_" + regularized.RegularizedModel.selection_term)
  best.set_model(model)
  for step, (loss, rd_loss) in enumerate(((-1.3, 1.1), (-0.9, 0.9)), 1):
    model.optimizer.iterations.assign(step)
    best.on_epoch_end(step - 1, {"val_loss": loss, "val_rd_loss": rd_loss})
  best.on_train_end()
  assert not best.restored and best.step == 2
