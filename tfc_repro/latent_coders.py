"""Latent coders: one object per kind of entropy-coded latent.

A model declares its latents (`CompressionModel.latent_names`) and, in
`make_coders()`, the coder of each. A coder owns everything about coding
its latent, with TFC's entropy models and range coder:

  * `rate(values, ..., training)`: the training-time rate, (what the rest of
    the model sees of the latent, its bits);
  * `compress(latents, values, ...)`: codes the latent into `latents` (its
    string, the (H, W) it is laid out on, its integer symbols) and returns
    its quantized values, the ones the decoder will decode;
  * `decompress(latents, ...)`: decodes its string of `latents`, checks that
    coding the result again gives the string back (`check_recoded`: built
    in, no model places it), records its symbols and returns the values;
  * `estimate(latents, values, ...)`: the model's bits of the quantized
    latent, into `latents.bits`, and the quantized values.

The arguments after the values (scale indexes, a mean, contexts) are what
the latent is conditioned on, the same for the four. The base model orders
what the coders return by `latent_names`: no model lists its strings by
hand. Coders can share their range coding tables (`tables`: every level of a
hierarchy codes with one Gaussian entropy model, so the exported model holds
one copy); `CompressionModel.prepare_for_compression` builds every distinct
`tables` once, after training.
"""

import dataclasses

import tensorflow as tf
import tensorflow_compression as tfc
from tensorflow_compression.python.distributions import helpers
from tensorflow_compression.python.ops import gen_ops

from tfc_repro import gaussian_coder
from tfc_repro import scale_table


# TFC's range decoder (2.14) reads zeros past the end of a string, and the
# Elias-gamma prefix of an overflow value counts zero bits until it meets a
# one: a string whose decoding reaches an overflow escape with nothing but
# zeros after it (four crafted bytes are enough) would decode forever, in an
# op that cannot be stopped. Every decoder here therefore reads its string
# followed by a guard: first GUARD_ZERO_BYTES zero bytes, the implicit
# zeros an encoder's string relies on. (TFC's encoder leaves out the zero
# bytes at its end: four, and two more for each pair of bytes still pending
# when it ends, which happens by a chance of 2^-16 a pair, or through a run
# of symbols that narrow its range exactly, see `decode_bound`. With the
# guard, a string the encoder wrote decodes exactly as alone unless more
# than 500 pairs pend at its end; such a file would be refused as altered,
# never decoded into another image.) Then bytes of ones. An overflow prefix
# ends at the first one, after at most as many zero bits as the string and
# the zero bytes hold; its value then takes as many bits again, from the
# ones; and each further symbol decoded from ones takes a few bits of them
# (its code length, at most TFC's precision of 16 bits, and for an escape
# its prefix, value and sign: under 2 bytes a symbol, measured on random and
# crafted strings). So the ones are the string's length, the zero bytes,
# GUARD_ONE_BYTES_PER_SYMBOL for each symbol to decode and GUARD_ONE_BYTES
# more, and the decoder meets ones until it ends. Since it never reaches the
# end of its input, TFC's end-of-string check (its decode sanity check)
# cannot hold and is off: the recode check of every latent
# (`LatentCoder.check_recoded`) covers what it checked.
GUARD_ZERO_BYTES = 1024
GUARD_ONE_BYTES_PER_SYMBOL = 4
GUARD_ONE_BYTES = 4096

# TFC's range encoder (2.14) codes a value beyond its table with an
# Elias-gamma code whose loop never ends for values from about 2^30 on, and a
# crafted string decodes into such values (an overflow escape followed by
# thirty zero bits). The recode check (`LatentCoder.check_recoded`) codes a
# decoded latent again only when every symbol is below MAX_SYMBOL in
# magnitude, far beyond the latents of any image: a latent that is not was
# never written by an encoder and is refused.
MAX_SYMBOL = 1 << 29


def guarded(string, symbols):
  """`string` (a scalar) followed by the guard for decoding `symbols`
  symbols from it."""
  ones = (tf.cast(tf.strings.length(string), tf.int64) + GUARD_ZERO_BYTES
          + tf.cast(symbols, tf.int64) * GUARD_ONE_BYTES_PER_SYMBOL
          + GUARD_ONE_BYTES)
  # The ones as separators of empty strings, in runs of GUARD_ONE_BYTES:
  # the result is the only large allocation.
  runs = ones // GUARD_ONE_BYTES + 1
  head = tf.strings.join([string, bytes(GUARD_ZERO_BYTES)])
  return tf.strings.reduce_join(
      tf.concat([head[None], tf.fill(runs[None], "")], 0),
      separator=b"\xff" * GUARD_ONE_BYTES)


def latent_symbols(values, loc=None):
  """The integer symbols the range coder codes for quantized latents
  `values` centred on `loc`: round(values − loc). Exact for values =
  round(y − loc) + loc, and the same on any machine whose `loc` differs
  from the encoder's in the last bits (the symbols do not)."""
  if loc is not None:
    values = values - loc
  return tf.cast(tf.round(values), tf.int32)


@dataclasses.dataclass
class Latents:
  """An image's coded latents, keyed by latent name: their strings, the
  (H, W) of each coded shape, their integer symbols as the range coder sees
  them (for the latent digest) and their estimated bits."""
  strings: dict = dataclasses.field(default_factory=dict)
  shapes: dict = dataclasses.field(default_factory=dict)
  symbols: dict = dataclasses.field(default_factory=dict)
  bits: dict = dataclasses.field(default_factory=dict)

  def coding(self, method):
    """`code(coder, *args, **kwargs)`: the coder's `method` ("compress",
    "decompress" or "estimate") on these latents, for a coding pass that
    serves several methods (e.g. hcae's, for every level)."""
    return lambda coder, *args, **kwargs: getattr(coder, method)(
        self, *args, **kwargs)


class ContinuousBatchedEntropyModel(tfc.ContinuousBatchedEntropyModel):
  """TFC's `ContinuousBatchedEntropyModel`, whose quantization offsets and
  range coding tables are computed in a graph when it is made with
  `compression=True`.

  TFC computes them eagerly: locating the median and the tails of a
  `DeepFactorized` prior runs some hundreds of Adam steps each, one
  operation at a time (TFC notes it could be a `tf.function`). That took
  most of the time of preparing a model for coding: about 8 s for a small
  prior on a CPU, under 2 s in a graph. The offsets and tables are the same
  bits, by the same TFC code (the pinned files and model ids of every
  system prove it). The class keeps TFC's name, which names the variables
  of the tables."""

  def __init__(self, prior=None, *args, compression=False,
               offset_heuristic=True, quantization_offset=None, **kwargs):
    # Made inside a graph (TFC allows it with stateless=True), TFC's own
    # path already runs in that graph.
    if (compression and prior is not None and offset_heuristic
        and quantization_offset is None and tf.executing_eagerly()):
      offset = tf.function(lambda: helpers.quantization_offset(prior),
                           autograph=False)()
      if bool(tf.reduce_all(tf.equal(offset, 0.))):
        offset_heuristic = False  # as TFC does: no offsets stored if all 0
      else:
        quantization_offset = tf.broadcast_to(offset,
                                              prior.batch_shape_tensor())
    super().__init__(prior, *args, compression=compression,
                     offset_heuristic=offset_heuristic,
                     quantization_offset=quantization_offset, **kwargs)

  def _build_tables(self, prior, precision, offset=None):
    return tf.function(super()._build_tables, autograph=False)(
        prior, precision, offset)


class EntropyModel(tf.Module):
  """A TFC entropy model that `make(compression)` builds: anew for every
  training step (`training()`: its prior trains), and once with its range
  coding tables (`prepare()`, then `coding`). A `tf.Module`, so that the
  model that holds it tracks its tables (`model.variables`)."""

  def __init__(self, make):
    super().__init__()
    self.make = make
    self.coding = None

  def training(self):
    return self.make(False)

  def prepare(self):
    self.coding = self.make(True)
    # Its decoders read guarded strings (see `guarded`).
    self.coding.decode_sanity_check = False


class GaussianGrid(tf.Module):
  """The range coding tables of `gaussian_coder` (Gaussians of any mean),
  built by `prepare()` as the variables `cdf` and `cdf_offset`."""

  def __init__(self):
    super().__init__()
    self.cdf = self.cdf_offset = None

  def prepare(self):
    cdf, cdf_offset = gaussian_coder.build_tables()
    self.cdf = tf.Variable(cdf, trainable=False, name="cdf")
    self.cdf_offset = tf.Variable(cdf_offset, trainable=False,
                                  name="cdf_offset")


class LatentCoder:
  """The coder of the latent `name` with `tables` (an `EntropyModel` or a
  `GaussianGrid`), laid out on the coded shape `shape_name` (by default
  its own)."""

  # Whether the latent is decoded under parameters computed from other
  # latents decoded before it (a hyperprior's ŷ from ẑ): then a string of
  # one of those, altered so that it still codes back to itself (e.g. cut
  # short), first shows as this latent's failure.
  conditional = False

  def __init__(self, name, tables, shape_name=None):
    self.name = name
    self.tables = tables
    self.shape_name = shape_name or name

  def check_recoded(self, string, recode, symbols):
    """Asserts that the decoded latent, coded again with the tables it was
    decoded with (`recode()`), gives back the file's string. Range coding is
    a function of the latent, so this holds for every file the encoder
    wrote, and fails for a string that was extended or altered into bytes
    the encoder never writes. (It cannot catch a string cut short: TFC's
    range decoder reads past the end as zeros, and the latent it decodes
    from a prefix codes back to exactly that prefix. The model's latent
    digest catches those.) A latent whose decoded `symbols` (the values the
    range coder codes, give or take its tables' offsets) reach MAX_SYMBOL
    fails without being coded again."""
    in_range = tf.reduce_all(
        tf.abs(tf.cast(symbols, tf.float64)) < MAX_SYMBOL)
    same = tf.cond(
        in_range,
        lambda: tf.equal(tf.reshape(recode(), ()), tf.reshape(string, ())),
        lambda: tf.constant(False))
    cause = ("extended or altered, or a latent it is decoded from was cut "
             "short or altered" if self.conditional else "extended or altered")
    return tf.debugging.assert_equal(
        same, True,
        message=f"the entropy-coded data of latent '{self.name}' is not what "
                f"this model writes for it ({cause})")

  def checked(self, values, string, recode, symbols):
    """`values`, once `check_recoded(string, recode, symbols)` has
    passed."""
    with tf.control_dependencies([self.check_recoded(string, recode,
                                                     symbols)]):
      return tf.identity(values)


class FactorizedCoder(LatentCoder):
  """A latent under a factorized prior (TFC's
  `ContinuousBatchedEntropyModel`, e.g. of a `NoisyDeepFactorized`
  density): batched (1, H, W, C) values, no conditioning."""

  def rate(self, values, training):
    """(ỹ = y + u in training, else ŷ; −log₂ p(ỹ))."""
    return self.tables.training()(values, training=training)

  def quantize(self, values):
    return self.tables.coding.quantize(values)

  def _symbols(self, quantized):
    # Centred on the quantization offset (the fractional part of the
    # prior's median).
    return latent_symbols(quantized, self.tables.coding.quantization_offset)

  def compress(self, latents, values):
    coding = self.tables.coding
    latents.strings[self.name] = coding.compress(values)[0]
    latents.shapes[self.shape_name] = tf.shape(values)[1:3]
    quantized = coding.quantize(values)
    latents.symbols[self.name] = self._symbols(quantized)
    return quantized

  def decompress(self, latents):
    coding = self.tables.coding
    string = latents.strings[self.name]
    shape = latents.shapes[self.shape_name]
    symbols = tf.reduce_prod(shape) * tf.reduce_prod(coding.prior_shape_tensor)
    values = coding.decompress(guarded(string, symbols)[None], shape)
    values = self.checked(values, string, lambda: coding.compress(values),
                          values)
    latents.symbols[self.name] = self._symbols(values)
    return values

  def estimate(self, latents, values):
    quantized, latents.bits[self.name] = self.tables.coding(values,
                                                            training=False)
    return quantized


class ScaleIndexedCoder(LatentCoder):
  """A latent under a Gaussian ∗ U(−½, ½) whose scale is an index into the
  shared scale table (`scale_table`: TFC's `LocationScaleIndexedEntropyModel`)
  and whose mean, if given (`loc`), shifts the quantization grid:
  round(y − μ) + μ. Zero-mean, the scale hyperprior's ŷ; with a mean, the
  mean-scale hyperprior's and every level of a hierarchy. The rate trains
  with the fractional indexes; coding and the estimate use
  `coding_index(indexes)` (by default the nearest table entry)."""

  conditional = True

  def __init__(self, name, tables, coding_index=scale_table.nearest_index,
               shape_name=None):
    super().__init__(name, tables, shape_name)
    self.coding_index = coding_index

  def rate(self, values, indexes, loc=None, training=True):
    """(ỹ = y + u in training, else round(y − μ) + μ; −log₂ p(ỹ))."""
    return self.tables.training()(values, indexes, loc=loc,
                                  training=training)

  def quantize(self, values, loc=None):
    return self.tables.coding.quantize(values, loc=loc)

  def compress(self, latents, values, indexes, loc=None):
    coding = self.tables.coding
    latents.strings[self.name] = coding.compress(
        values, self.coding_index(indexes), loc=loc)[0]
    latents.shapes[self.shape_name] = tf.shape(values)[1:3]
    quantized = coding.quantize(values, loc=loc)
    latents.symbols[self.name] = latent_symbols(quantized, loc)
    return quantized

  def decompress(self, latents, indexes, loc=None):
    coding = self.tables.coding
    string = latents.strings[self.name]
    indexes = self.coding_index(indexes)
    values = coding.decompress(guarded(string, tf.size(indexes))[None],
                               indexes, loc=loc)
    values = self.checked(
        values, string, lambda: coding.compress(values, indexes, loc=loc),
        values if loc is None else values - loc)
    latents.symbols[self.name] = latent_symbols(values, loc)
    return values

  def estimate(self, latents, values, indexes, loc=None):
    quantized, latents.bits[self.name] = self.tables.coding(
        values, self.coding_index(indexes), loc=loc, training=False)
    return quantized


class GridCoder(LatentCoder):
  """Integer latents (H, W, C) coded with TFC's range coder ops under
  N(μ, σ²) ∗ U(−½, ½) of any μ, on the tables of `gaussian_coder`
  (`GaussianGrid`): the base of coders that pick a table cell per symbol."""

  conditional = True

  def rate(self, values, mean, log_scale):
    """−log₂ p(ŷ) of `values` under N(μ, σ²) ∗ U(−½, ½), σ = exp(ln σ)."""
    return gaussian_coder.discretized_bits(values, mean, tf.exp(log_scale))

  def encoded(self, cells, symbols):
    """The string of `symbols` (range coder symbols) coded in one go under
    table `cells` (both (P, C) int32)."""
    handle = gen_ops.create_range_encoder([], self.tables.cdf)
    handle = gen_ops.entropy_encode_index(handle, cells, symbols)
    return gen_ops.entropy_encode_finalize(handle)

  def decoder(self, string, symbols):
    """A range decoder of `string` (guarded: see `guarded`) for decoding
    `symbols` symbols."""
    return gen_ops.create_range_decoder(guarded(string, symbols),
                                        self.tables.cdf)


class GaussianGridCoder(GridCoder):
  """A latent of integers coded in one step, every position under its own
  (μ, ln σ) (lee2019's hybrid ŷ₂, zero-mean under σ₂ from h_s alone)."""

  def compress(self, latents, values, mean, log_scale):
    """Codes `values` (H, W, C) int32; returns them."""
    cell, rounded = gaussian_coder.cells(mean, log_scale)
    symbols = gaussian_coder.symbols(values, cell, rounded,
                                     self.tables.cdf_offset)
    latents.strings[self.name] = self.encoded(cell, symbols)
    latents.shapes[self.shape_name] = tf.shape(values)[:2]
    latents.symbols[self.name] = values
    return values

  def decompress(self, latents, mean, log_scale):
    """The values (H, W, C) int32 of the string, of `log_scale`'s shape."""
    string = latents.strings[self.name]
    cell, rounded = gaussian_coder.cells(mean, log_scale)
    handle = self.decoder(string, tf.size(cell))
    _, symbols = gen_ops.entropy_decode_index(handle, cell, tf.shape(cell),
                                              tf.int32)
    values = self.checked(
        gaussian_coder.values(symbols, cell, rounded, self.tables.cdf_offset),
        string, lambda: self.encoded(cell, symbols), symbols)
    latents.symbols[self.name] = values
    return values
