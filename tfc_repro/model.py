"""The base class of every paper's Keras model.

A paper module subclasses `CompressionModel` and writes, like TFC's
`models/bls2017.py`:
  * `call(x, training)`: the training-time forward pass as the paper's
    equations, each latent's rate from its coder, ending in
    `self.rate_distortion(x, x_hat, y=bits_y, ...)`;
  * `make_coders()`: the coder of each latent of `latent_names`
    (`latent_coders`: a factorized prior, a scale-indexed Gaussian, ...),
    which owns its entropy model, its training-time rate, its coding and
    decoding and the check that a decoded string codes back to itself;
  * `_compress(x)`: an RGB uint8 image (H, W, 3) -> (a `latent_coders.Latents`
    that the coders filled: strings, shapes and symbols keyed by latent
    name; the image's (H, W));
  * `_decompress(latents, x_shape)`: the inverse, with the coders, from the
    strings and shapes of `latents` -> the image;
  * `_estimate(x)`: {latent name: the model's bits}.

From these and the model's declaration (`latent_names`, `shape_names`) the
base class makes the `tf.function`s that export saves, with their input
signatures: `compress(x)` returns the flat tuple (strings..., x_shape,
shapes..., latent digest), the strings ordered by `latent_names` and the
shapes by `coded_shape_names`; `decompress` takes that tuple, with or
without its last element, back to the image (TFC's `decompress(*compress(x))`;
given, the digest is checked) and `estimate(x)` returns the bits of each
latent in `latent_names`' order. `prepare_for_compression()` builds the
coders' range coding tables (once, after training). No model writes a
signature or orders its strings by hand, so a model with any number of
latents (e.g. one per level of a hierarchy) plugs into export, the bitstream
container, the CLI and evaluation as it is.

The base class also keeps the loss bookkeeping, the distortion measures, the
training step, the padding to the model's stride, and `freeze_transforms()`,
which export calls: it swaps every RDFT `SignalConv2D` layer of the model,
however deeply nested, for a frozen plain convolution (`transforms.py`).
"""

import dataclasses
import inspect
import json
from typing import Callable, Optional

import tensorflow as tf

from tfc_repro import latent_coders
from tfc_repro import tiling
from tfc_repro import transforms

METRICS = ("mse", "ms-ssim")
# Bytes of the latent digest that every file carries (container format 2).
DIGEST_BYTES = 4


TRAINING_QUANTIZATIONS = ("noise", "ste")


def set_training_quantization(model, mode):
  """Sets `training_quantization` on `model` and every CompressionModel in
  it (e.g. a regularized model's backbone)."""
  if mode not in TRAINING_QUANTIZATIONS:
    raise ValueError(f"quantization must be one of {TRAINING_QUANTIZATIONS}, "
                     f"got {mode!r}")
  for part in [model, *model.submodules]:
    if isinstance(part, CompressionModel):
      object.__setattr__(part, "training_quantization", mode)


@tf.custom_gradient
def _zero_nan_gradients(x):
  """Identity whose gradient has NaNs replaced by zeros.

  `tf.image.ssim_multiscale` raises each scale's contrast-structure term to a
  power below one after a ReLU; where that term is <= 0 (common for an
  untrained model) the image's MS-SSIM is 0 and flat, but TF's gradient is
  0·inf = NaN. Zero is the correct subgradient there.
  """
  def grad(dy):
    return tf.where(tf.math.is_nan(dy), tf.zeros_like(dy), dy)
  return tf.identity(x), grad


@dataclasses.dataclass(frozen=True)
class Stage:
  """One optimisation stage of a training step: `variables(model)` step on
  the term `loss` of the model's terms with an optimizer of their own (the
  --lr schedule, or `learning_rate` with the same decay steps). Every stage
  steps once per training step, on one forward pass, in order; so every
  optimizer's `iterations` is the model's step count. A stage's loss must
  not depend on another stage's variables (put stop-gradients between
  them): one backward pass serves all stages."""
  name: str
  loss: str
  variables: Callable
  learning_rate: Optional[float] = None


class CompressionModel(tf.keras.Model):
  """Shared machinery of the learned codecs."""

  system = None           # the paper's name, e.g. "bls2017"
  stride = 16             # down-sampling factor of the deepest latent
  latent_names = ("y",)   # the entropy-coded latents, in bitstream order
  # The latents whose (H, W) the bitstream stores, in order; None: all of
  # `latent_names` (lee2019's hybrid model codes y1 and y2 of one shape y).
  shape_names = None
  # The down-sampling factor of each of those latents: an image padded to a
  # multiple of `stride` gives latents of (H, W) / factor. A decoder derives
  # every latent shape from the image shape with these and refuses a file
  # that says otherwise (`coded_shapes`). None: `stride` for one latent.
  shape_strides = None
  # The side of a training crop must be a multiple of this for the
  # synthesis to give back an image of the crop's size (a hyperprior's
  # coarser latents are cropped to fit). None: the finest of
  # `coded_shape_strides` (`training_crop_multiple`).
  crop_multiple = None
  # The held-out term whose lowest value picks the weights training keeps
  # (`training.BestWeights`): the loss, unless a loss term is not comparable
  # across epochs.
  selection_term = "loss"

  def __init__(self, config, latent_names=None, **kwargs):
    """`latent_names` overrides the class's for models whose latents depend
    on the configuration (e.g. the number of levels of a hierarchy)."""
    super().__init__(**kwargs)
    if latent_names is not None:
      # Plain attribute: Keras would wrap a tuple in a trackable structure.
      object.__setattr__(self, "latent_names", tuple(latent_names))
    if config.get("metric") not in METRICS:
      raise ValueError(f"metric must be one of {METRICS}, "
                       f"got {config.get('metric')!r}")
    # A JSON string: Keras would wrap a dict attribute in a trackable object.
    self._config_json = json.dumps(dict(config, system=self.system),
                                   sort_keys=True)
    # The weight of D in the loss (see `user_lambda`); stored under the
    # configuration's key "lmbda", part of every exported model's record.
    self.loss_lambda = float(config["lmbda"])
    self.metric = config["metric"]
    self._trackers = {n: tf.keras.metrics.Mean(name=n)
                      for n in self.term_names()}
    self._build_coding_functions()

  @property
  def config(self):
    """The model's configuration (system, λ, metric, sizes) as a dict."""
    return json.loads(self._config_json)

  @property
  def user_lambda(self):
    """The λ the user gave (--lambda or --quality's), as shown in logs and
    metadata; a model whose loss weighs D by another value (e.g. lee2019's
    λ′ from eq. 6's λ) overrides this. `loss_lambda` is the loss weight."""
    return self.loss_lambda

  def term_names(self):
    """The terms of `call`'s result that training logs (and averages)."""
    names = ["loss", "bpp", "mse", "psnr"]
    if self.metric == "ms-ssim":
      names.append("ms_ssim")
    if len(self.latent_names) > 1:
      names += [f"bpp_{n}" for n in self.latent_names]
    return names

  def stages(self):
    """The optimisation stages of a training step: by default one, all
    trainable variables on the loss."""
    return (Stage("main", "loss", lambda m: m.trainable_variables),)

  def part_for(self, system):
    """The part of this model that a trained model of `system` can
    initialise (`train --init_from`): the whole model for its own system;
    a model that wraps another system's model (a backbone) returns that
    part for that system. None when a model of `system` cannot start it."""
    return self if system == self.system else None

  # -- Quantization in training ------------------------------------------------

  # How the synthesis path sees a latent in training (`train --quantization`,
  # set on every model of a training run by `set_training_quantization`):
  # "noise", the papers' ỹ = y + u, or "ste", the value the decoder will see,
  # ŷ = round(y − μ) + μ, with the gradient passed straight through (TFC's
  # models/ms2020.py, Minnen & Singh 2020). The rate always sees ỹ.
  training_quantization = "noise"

  def synthesis_input(self, y, y_tilde, loc=0., training=True):
    """What the synthesis (and any later stage) takes of latent y in
    training: `y_tilde` (the noisy latent the rate sees, or the quantized
    one outside training), or round(y − loc) + loc with an identity gradient
    under "ste". `loc` is where the coder rounds: μ of a mean-scale prior,
    else 0 (a factorized prior's test-time offset, the fractional part of
    its median, is only known after training)."""
    if not training or self.training_quantization == "noise":
      return y_tilde
    return y + tf.stop_gradient(tf.round(y - loc) + loc - y)

  # -- Losses -----------------------------------------------------------------

  def rate_distortion(self, x, x_hat, **bits):
    """Loss terms from the image, its reconstruction and each latent's bits.

    L = R + λ·D, with R in bits per pixel (pixels counted as H·W) and D the MSE
    on the 0..255 scale, or 1 − MS-SSIM with `metric="ms-ssim"`. Returns
    the terms: `bpp_<latent>`, `bpp`, `mse`, `psnr` (`ms_ssim`), `loss`, and
    `x_hat`, the reconstruction (for models that wrap a backbone, such as the
    regularizer's).
    """
    num_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[1:3]), tf.float32)
    num_images = tf.cast(tf.shape(x)[0], tf.float32)
    terms = {f"bpp_{name}": tf.reduce_sum(tf.cast(b, tf.float32)) /
             (num_pixels * num_images) for name, b in bits.items()}
    bpp = tf.add_n(list(terms.values()))
    mse = tf.cast(tf.reduce_mean(tf.math.squared_difference(x, x_hat)),
                  tf.float32)
    terms.update(bpp=bpp, mse=mse, x_hat=x_hat,
                 psnr=10. * tf.math.log(255. ** 2 / mse) / tf.math.log(10.))
    if self.metric == "ms-ssim":
      ms_ssim = tf.reduce_mean(tf.image.ssim_multiscale(
          tf.cast(x, tf.float32),
          _zero_nan_gradients(tf.cast(x_hat, tf.float32)), 255.))
      terms.update(ms_ssim=ms_ssim, loss=bpp + self.loss_lambda * (1. - ms_ssim))
    else:
      terms.update(loss=bpp + self.loss_lambda * mse)
    return terms

  # -- Keras training -----------------------------------------------------------

  def stage_optimizer(self, stage):
    """The optimizer of a stage: the compiled one for the first stage, else
    `stage_optimizers[stage.name]` (set by the training engine)."""
    if stage.name == self.stages()[0].name:
      return self.optimizer
    return self.stage_optimizers[stage.name]

  # With a crop-size schedule (set by the training engine), the step from
  # which training takes the second, larger crops of each batch pair.
  final_crops_from_step = None

  def _training_terms(self, x):
    """The terms of a training step on `x`: a batch of crops or, with a
    crop-size schedule, a pair (crops, larger crops) of which the step
    count picks one (the terms the step uses only: the pair's
    reconstructions differ in shape)."""
    if not isinstance(x, (tuple, list)):
      return self(x, training=True)
    crops, final_crops = x

    # What the step uses: each stage's loss and the terms it reports.
    names = set(self._trackers) | {stage.loss for stage in self.stages()}

    def scalar_terms(batch):
      terms = self(batch, training=True)
      return {name: terms[name] for name in names}

    return tf.cond(self.optimizer.iterations >= self.final_crops_from_step,
                   lambda: scalar_terms(final_crops),
                   lambda: scalar_terms(crops))

  def train_step(self, x):
    stages = self.stages()
    with tf.GradientTape() as tape:
      terms = self._training_terms(x)
      # Keras sums gradients over replicas; scale so that they average.
      replicas = tf.distribute.get_strategy().num_replicas_in_sync
      # Stages are independent: no stage's loss depends on another stage's
      # variables (the model puts stop-gradients between them), so one
      # backward pass of the summed losses gives each stage its own gradient.
      loss = tf.add_n([terms[stage.loss] for stage in stages])
      loss = loss / tf.cast(replicas, loss.dtype)
    variables = [stage.variables(self) for stage in stages]
    gradients = tape.gradient(loss, variables)
    for stage, stage_variables, stage_gradients in zip(stages, variables,
                                                       gradients):
      self.stage_optimizer(stage).apply_gradients(
          zip(stage_gradients, stage_variables))
    return self._update_trackers(terms)

  def test_step(self, x):
    return self._update_trackers(self(x, training=False))

  def _update_trackers(self, terms):
    for name, tracker in self._trackers.items():
      tracker.update_state(terms[name])
    return {name: tracker.result() for name, tracker in self._trackers.items()}

  @property
  def metrics(self):
    return list(self._trackers.values())

  # -- Coding: the functions export saves -------------------------------------

  def make_coders(self):
    """The coder of each latent of `latent_names` (`latent_coders`), in
    any order."""
    raise NotImplementedError

  @property
  def coders(self):
    """{latent name: its `latent_coders.LatentCoder`}, made by
    `make_coders()` when first asked for."""
    if "_coders" not in self.__dict__:
      coders = {coder.name: coder for coder in self.make_coders()}
      if sorted(coders) != sorted(self.latent_names):
        raise ValueError(f"{self.system}: coders of {sorted(coders)}, the "
                         f"model codes {list(self.latent_names)}")
      # Not tracked by Keras: the coders hold no weights of their own (their
      # tables are built after training; `prepare_for_compression`).
      self.__dict__["_coders"] = coders
    return self.__dict__["_coders"]

  def prepare_for_compression(self):
    """Builds the range coding tables of every coder (each tables object
    once, however many coders share it), which the model then holds: they
    are among its variables."""
    tables = {id(coder.tables): coder.tables
              for coder in self.coders.values()}
    for table in tables.values():
      table.prepare()
    self.coding_tables = list(tables.values())

  def _compress(self, x):
    raise NotImplementedError

  def _decompress(self, latents, x_shape):
    raise NotImplementedError

  def _estimate(self, x):
    raise NotImplementedError

  @property
  def coded_shape_names(self):
    """The latents whose (H, W) the bitstream stores, in order."""
    return tuple(self.shape_names or self.latent_names)

  @property
  def latent_shape_indices(self):
    """For each of `latent_names`, the index in `coded_shape_names` of the
    shape its symbols are laid out on: the shape of the same name, else the
    one whose name begins its name (lee2019's hybrid y1 and y2 on y)."""
    shapes = self.coded_shape_names
    indices = []
    for name in self.latent_names:
      if name in shapes:
        indices.append(shapes.index(name))
        continue
      prefixes = [i for i, shape in enumerate(shapes) if name.startswith(shape)]
      if not prefixes:
        raise NotImplementedError(
            f"{self.system}: latent {name!r} is on none of the coded shapes "
            f"{shapes}")
      indices.append(max(prefixes, key=lambda i: len(shapes[i])))
    return tuple(indices)

  def symbol_channels(self):
    """{latent: symbols per position}: the static channel count of each
    latent's symbols, as traced by `compress` (what the encoder codes) and
    `decompress` (what the decoder decodes), which must agree. Both
    functions must have been traced (`concrete_functions`)."""
    traced = self.__dict__.get("_traced_symbol_channels", {})
    if not {"compress", "decompress"} <= set(traced):
      raise ValueError(f"{self.system}: trace compress and decompress first")
    if traced["compress"] != traced["decompress"]:
      raise ValueError(
          f"{self.system}: the decoder decodes {traced['decompress']} "
          f"symbols per position, the encoder codes {traced['compress']}")
    return dict(traced["compress"])

  def _note_symbols(self, role, symbols):
    """Notes, while tracing, the static channels of each latent's symbols."""
    channels = {}
    for name in self.latent_names:
      count = symbols[name].shape[-1] if symbols[name].shape.rank else None
      if count is None:
        raise ValueError(f"{self.system}: the symbols of latent {name!r} "
                         "have no static channel count")
      channels[name] = int(count)
    self.__dict__.setdefault("_traced_symbol_channels", {})[role] = channels

  @property
  def coded_shape_strides(self):
    """The down-sampling factor of each of `coded_shape_names`."""
    if self.shape_strides is not None:
      return tuple(self.shape_strides)
    if len(self.coded_shape_names) != 1:
      raise NotImplementedError(f"{self.system} must declare shape_strides")
    return (self.stride,)

  def training_crop_multiple(self):
    """What the side of a training crop must be a multiple of."""
    return self.crop_multiple or min(self.coded_shape_strides)

  def coding_functions(self, suffix="", **options):
    """{name: tf.function} of `compress` and `decompress` with the input
    signatures that `latent_names` and `coded_shape_names` imply, named
    `compress{suffix}` and `decompress{suffix}`; `options` are passed to
    `_compress` and `_decompress` (e.g. lee2019's reference=True).

    `compress(image)` returns the strings, the image shape, the latent
    shapes and the latent digest; `decompress(strings..., shapes...)`
    returns the image and the digest of the latents it decoded. The digest
    (`latent_digest`) is a fingerprint of the image shape and the integer
    symbols of every latent as the entropy coder sees them: a file whose strings were cut, extended
    or altered, or decoded on a machine that computes the model's tables
    differently, gives another digest instead of a silent wrong image.

    `decompress` also takes the digest as a last argument, so that
    `decompress(*compress(image))` works (TFC's idiom); given, it is
    checked, and a decoding whose latents give another digest fails (an
    `InvalidArgumentError` naming the latent digest mismatch) instead of
    returning an image. A `tf.function` with an input signature cannot have
    an optional argument: `decompress` is one function traced for two
    signatures (`coding_signatures`), and the one with the digest calls the
    one without (its graph holds only the call and the check), so the
    decoder is traced, saved and loaded once. (In memory, give it tensors:
    without an input signature, other values would be traced anew.)
    """
    num_strings = len(self.latent_names)
    num_shapes = 1 + len(self.coded_shape_names)
    image = tf.TensorSpec((None, None, 3), tf.uint8)
    plain = (*[tf.TensorSpec((), tf.string)] * num_strings,
             *[tf.TensorSpec((2,), tf.int32)] * num_shapes)
    checked = (*plain, tf.TensorSpec((DIGEST_BYTES,), tf.uint8))

    def compress(x):
      latents, x_shape = self._compress(x, **options)
      self._note_symbols("compress" + suffix, latents.symbols)
      return (*[latents.strings[name] for name in self.latent_names],
              x_shape,
              *[latents.shapes[name] for name in self.coded_shape_names],
              self.latent_digest(latents.symbols, x_shape))

    def decompress(*args):
      if len(args) == len(checked):
        x_hat, digest = decompress_function.get_concrete_function(*plain)(
            *args[:-1])
        same = tf.debugging.assert_equal(
            digest, args[-1], message=(
                "latent digest mismatch: the decoded latents are not the "
                "ones the given digest describes (the strings were cut or "
                "altered, the digest is another image's, or this machine "
                "computes the model's tables differently from the "
                "encoder's)"))
        with tf.control_dependencies([same]):
          return tf.identity(x_hat), tf.identity(digest)
      if len(args) != len(plain):
        raise TypeError(
            f"decompress{suffix} of {self.system} takes {len(plain)} "
            f"arguments ({num_strings} strings, the image shape and "
            f"{num_shapes - 1} latent shapes) or {len(checked)} (and the "
            f"latent digest), got {len(args)}")
      latents = latent_coders.Latents(
          strings=dict(zip(self.latent_names, args[:num_strings])),
          shapes=dict(zip(self.coded_shape_names, args[num_strings + 1:])))
      x_hat = self._decompress(latents, args[num_strings], **options)
      self._note_symbols("decompress" + suffix, latents.symbols)
      return x_hat, self.latent_digest(latents.symbols, args[num_strings])

    decompress_function = tf.function(decompress)
    self.__dict__.setdefault("_coding_signatures", {})[
        "decompress" + suffix] = (plain, checked)
    return {
        "compress" + suffix: tf.function(compress, input_signature=[image]),
        "decompress" + suffix: decompress_function,
    }

  def coding_signatures(self, name):
    """The input signatures that coding function `name` (e.g. "compress",
    "decompress", "estimate", "reconstruct") is traced and exported with:
    one for most; `decompress` without, then with, the latent digest."""
    function = getattr(self, name)
    if function.input_signature is not None:
      return (tuple(function.input_signature),)
    return self.__dict__["_coding_signatures"][name]

  def concrete_functions(self, name):
    """The traced concrete functions of coding function `name`, one per
    signature of `coding_signatures` in that order (what export saves)."""
    function = getattr(self, name)
    return [function.get_concrete_function(*signature)
            for signature in self.coding_signatures(name)]

  def latent_digest(self, symbols, x_shape):
    """{latent name: int32 symbols} and the image's (H, W) -> 4 bytes
    (uint8): FarmHash fingerprint of the image shape and every latent's
    symbols in `latent_names` order. The shape is in it because images of
    several sizes share one padded size (and so the same latents): a file
    whose image shape was altered within it would otherwise decode into a
    crop nobody sent."""
    if sorted(symbols) != sorted(self.latent_names):
      raise ValueError(f"{self.system}: symbols of {sorted(symbols)} given, "
                       f"the model codes {list(self.latent_names)}")
    flat = tf.concat([tf.cast(tf.reshape(x_shape, [-1]), tf.int32)] + [
        tf.reshape(tf.cast(symbols[name], tf.int32), [-1])
        for name in self.latent_names], 0)
    return tf.fingerprint(flat[None])[0, :DIGEST_BYTES]

  def _build_coding_functions(self):
    """Sets `compress`, `decompress` and `estimate` (see the module doc)."""
    def estimate(x):
      bits = self._estimate(x)
      return tuple(tf.reduce_sum(bits[name]) for name in self.latent_names)

    functions = self.coding_functions()
    functions["estimate"] = tf.function(estimate, input_signature=[
        tf.TensorSpec((None, None, 3), tf.uint8)])
    for name, function in functions.items():
      # Not tracked by Keras (not a layer or weight of the model).
      object.__setattr__(self, name, function)

  def freeze_transforms(self, up_method="auto"):
    """Replaces the transforms by frozen copies for coding, in place.

    Every `tfc.SignalConv2D` of the model, at any depth (Sequential
    transforms such as analysis_transform, custom blocks, lists of blocks),
    becomes a `transforms.FrozenSignalConv2D`: the same function of the
    current weights, computed with plain convolutions
    (`transforms.freeze_layers`). The model then codes faster but its
    transforms no longer train; call it after training, before export
    (`savedmodel.export` does). Checkpoints of training are unaffected: they
    are written by, and restored into, models with `SignalConv2D` layers.

    The model's `tf.function`s (`compress`, `decompress`, `estimate`, ...)
    are made anew: traces made before would keep the old layers. Returns the
    paths of the replaced attributes (none when called again, or for
    conv="keras" models).
    """
    replaced = transforms.freeze_layers(self, up_method)
    if replaced:
      self._retrace_functions()
    return replaced

  def _retrace_functions(self):
    """Gives the model fresh copies of the `tf.function` methods of its
    classes (up to CompressionModel), as instance attributes: the class's
    Function keeps its per-instance traces and they can't be cleared."""
    names = set()
    for cls in type(self).__mro__:
      if not issubclass(cls, CompressionModel):
        continue
      names.update(name for name, value in vars(cls).items()
                   if isinstance(value, tf.types.experimental.GenericFunction))
    for name in sorted(names):
      function = inspect.getattr_static(type(self), name)
      if not isinstance(function, tf.types.experimental.GenericFunction):
        continue  # overridden by a plain method
      # Not tracked by Keras (not a layer or weight of the model).
      object.__setattr__(self, name, tf.function(
          function.python_function.__get__(self),
          input_signature=function.input_signature))
    self._build_coding_functions()

  def prepare_image(self, x):
    """uint8 (H, W, 3) -> float batch padded to the stride, and (H, W)."""
    x_shape = tf.shape(x)[:2]
    x = tf.cast(x, self.compute_dtype)[None]
    return transforms.pad_to_multiple(x, self.stride), x_shape

  # Tiles of the analysis and synthesis transforms when coding, in pixels
  # (tiling.py): memory is bounded by the tile, not by the image.
  tile = tiling.TILE
  # The largest image (pixels) its codec compresses or decodes unless told
  # otherwise; None: the codec's default (savedmodel.DEFAULT_MAX_PIXELS). A
  # model that transforms whole images (tile None) sets a limit of its own,
  # since its memory grows with the image.
  max_pixels = None

  def _geometry(self, transform, channels, value_range):
    """`tiling.geometry` of a transform, measured once per transform object
    (frozen transforms are new objects)."""
    cache = self.__dict__.setdefault("_geometry_cache", {})
    key = (id(transform), channels)
    if key not in cache:
      cache[key] = (transform, tiling.geometry(transform, channels,
                                               value_range,
                                               self.compute_dtype))
    return cache[key][1]

  def analyze(self, x):
    """(y, x_shape): y = analysis_transform(x) of the uint8 image x (H, W,
    3) padded to the stride (as `prepare_image`), computed in tiles of
    `tile` pixels: for coding (training uses `call`)."""
    x_shape = tf.shape(x)[:2]
    x = transforms.pad_to_multiple(x[None], self.stride)
    transform = self.analysis_transform
    up, down, margin, channels = self._geometry(transform, 3, (0., 255.))
    y = tiling.tiled(lambda t: transform(tf.cast(t, self.compute_dtype)), x,
                     up, down, self.tile, margin, channels,
                     self.compute_dtype)
    return y, x_shape

  def synthesize(self, y_hat, x_shape):
    """`finish_image(synthesis_transform(y_hat), x_shape)`, computed in
    tiles of `tile` pixels (the image as uint8 (H, W, 3))."""
    transform = self.synthesis_transform
    up, down, margin, _ = self._geometry(transform, y_hat.shape[-1],
                                         (-8., 8.))
    x_hat = tiling.tiled(
        lambda t: tf.saturate_cast(tf.round(transform(t)), tf.uint8), y_hat,
        up, down, self.tile * down // up, margin, 3, tf.uint8)
    return x_hat[0, :x_shape[0], :x_shape[1], :]

  def finish_image(self, x_hat, x_shape):
    """Float batch -> uint8 (H, W, 3) cropped to the original size."""
    x_hat = x_hat[0, :x_shape[0], :x_shape[1], :]
    return tf.saturate_cast(tf.round(x_hat), tf.uint8)


class FactorizedPriorModel(CompressionModel):
  """A model with one latent y under a learned factorized prior `self.prior`.

  Subclasses (bls2017, bmshj2018's factorized baseline) define
  `analysis_transform`, `synthesis_transform` and `prior`; the entropy coding
  is the same for all of them (`latent_coders.FactorizedCoder`).
  """

  latent_names = ("y",)

  def factorized_entropy_model(self, compression):
    return latent_coders.ContinuousBatchedEntropyModel(
        self.prior, coding_rank=3, compression=compression)

  def make_coders(self):
    return (latent_coders.FactorizedCoder(
        "y", latent_coders.EntropyModel(self.factorized_entropy_model)),)

  def _compress(self, x):
    y, x_shape = self.analyze(x)
    latents = latent_coders.Latents()
    self.coders["y"].compress(latents, y)
    return latents, x_shape

  def _decompress(self, latents, x_shape):
    return self.synthesize(self.coders["y"].decompress(latents), x_shape)

  def _estimate(self, x):
    latents = latent_coders.Latents()
    self.coders["y"].estimate(latents, self.analyze(x)[0])
    return latents.bits

  @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
  def reconstruct(self, x):
    """The quantized reconstruction, without entropy coding (for tests)."""
    x, x_shape = self.prepare_image(x)
    y_hat = self.coders["y"].quantize(self.analysis_transform(x))
    return self.finish_image(self.synthesis_transform(y_hat), x_shape)
