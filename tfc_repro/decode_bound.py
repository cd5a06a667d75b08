"""The least an honest file holds: decoding work bounded by a file's size.

A file's header declares the image size, and with it the number of symbols
each latent's string decodes into; every header check (`savedmodel.Codec`)
only makes that number consistent. Without a bound, a file of a few hundred
bytes can declare the largest image the decoder accepts and carry the strings
of a small crop: decoding it runs through every declared symbol before the
re-coding check and the latent digest refuse it. This module gives every
latent a minimum size, and `Codec.check` refuses a file whose string for some
latent is shorter, before anything is decoded.

**The cost of a symbol.** TFC's range coder codes a symbol of a table row
`[±precision, 0, c_1, ..., 2^precision]` as the interval [c_i, c_i+1) of
[0, 2^precision). Its state is an interval of `size` values, 2^16 <= size
<= 2^32 at every symbol (range_coder.cc), which the symbol narrows to
floor(size·c_i+1 / 2^P) − floor(size·c_i / 2^P) < size·p + 1 values, p the
symbol's probability (c_i+1 − c_i) / 2^P. So every symbol shrinks the range
by more than −log2(p + 2^−16) bits, and by more than

    bits per symbol = −log2(min(1, p_max + 2^−16))

where p_max is the largest probability of any symbol of any row the latent
is coded with: every table row of every entropy model that decodes it
(lee2019's context model and hcae's levels pick a row per symbol; the escape
symbol of rows with a negative precision is one of the row's symbols, and the
Elias-gamma bits after it only cost more). The 2^−16 is the coder's
rounding, which the naive −log2(p_max) ignores: at 12 bits of precision a
symbol of probability 4095/4096 costs 0.00035 bits without it, 0.00033 with.

**What the coder's end can save.** Of I bits of narrowing, the coder writes
16 bits each time the range falls to 2^16 values, so at least I − 16 bits
when it ends with a settled range; when it ends with a carry pending
(`delay_` in range_coder.cc) it writes one or two bytes of the pending two,
at least I − 24 bits, and it drops the zero bytes of any further pending
pairs (the decoder reads zeros past a string's end). Further pairs pend
only while the range keeps straddling a multiple of 2^16 through 16 more
bits of narrowing each: for data not built for it, a chance of 2^−16 per
pair; for a repeated symbol whose narrowing is not exact, the rounding's
first error (at least 2^−(32 + precision) of the range) grows by 1/p at
each symbol and moves the range off the point within about 32 + precision
bits of narrowing. The bound allows 64 bits of such a run: a latent of n
symbols is refused when its string has fewer than

    n · bits per symbol − 88 bits        (`SLACK_BITS` = 24 + 64)

(strings of TFC's coder for random tables and sequences, repeated symbols
and cycles of rows, at 12 and 16 bits, fell at most 21 bits short of the
cost of their symbols when measured). The one way an honest
encoder writes less is a run at the end of a latent that the coder narrows
exactly, each symbol of a probability 2^−k, around a short binary fraction:
such a latent is written in a byte however long it is. TFC's Gaussian
table has one such symbol (value +1 at σ = 200, probability 8/4096 on the
interval [2044, 2052) centred on ½) and lee2019's 16-bit grid six (tail
values of wide scales); an encoder writes such a latent only for an image
whose every last symbol is one of them, as no image of the tests or the
fuzzing does. Such a file would be refused with the bound's message.

The record. At export (`record`) each latent's bits per symbol is computed
from the tables its range decoder reads (found in the traced `decompress`
graph) and stored in the metadata with its symbols per position (channels)
and the coded shape its symbols are laid out on. A model exported before has
no record: `Bound.of` then computes the bits per symbol from the loaded
model's tables the same way and, not knowing the channels, counts one symbol
per position of the smallest coded shape for every latent (a weaker bound,
still a valid one).
"""

import collections
import math

import numpy as np

# Rounding of the range coder: its range never holds fewer than 2^16 values
# when it codes a symbol, so an interval of probability p leaves fewer than
# size·(p + 2^−16) of them.
ROUNDING = 2. ** -16
# Bits a string may be shorter than its symbols' cost: the coder's final
# state and a pending carry (24), and a run of further pending zero pairs at
# the end (64, see the module doc).
FLUSH_BITS = 24
TRAILING_RUN_BITS = 64
SLACK_BITS = FLUSH_BITS + TRAILING_RUN_BITS
# The metadata key of the record.
KEY = "decode_bound"


class TableError(ValueError):
  """A lookup table that is not in TFC's range coder format."""


def table_rows(table):
  """The rows of a TFC range coder lookup table, as TFC reads them: a list of
  (precision, CDF) with the precision's sign dropped. `table` is a flat
  vector of `[±precision, 0, ..., 2^precision]` rows, each optionally padded
  with repeats of 2^precision, or a matrix of one padded row per line."""
  table = np.asarray(table)
  if table.dtype.kind not in "iu" or table.ndim not in (1, 2):
    raise TableError(f"not an integer table of rank 1 or 2: {table.dtype} "
                     f"{table.shape}")
  if table.ndim == 2:
    rows = []
    for line in table:
      line_rows = table_rows(line)
      if len(line_rows) != 1:
        raise TableError("a table row holds more than one CDF")
      rows += line_rows
    return rows
  flat = table.astype(np.int64)
  rows, start = [], 0
  while start < len(flat):
    precision = abs(int(flat[start]))
    if not 1 <= precision <= 16 or start + 2 >= len(flat):
      raise TableError(f"bad precision or short row at {start}")
    last = 1 << precision
    if flat[start + 1] != 0:
      raise TableError(f"CDF at {start} does not start with 0")
    ends = np.flatnonzero(flat[start + 2:] == last)
    if not len(ends):
      raise TableError(f"CDF at {start} does not end with 2^{precision}")
    end = start + 2 + int(ends[0])
    cdf = flat[start + 1:end + 1]
    if np.any(np.diff(cdf) < 0):
      raise TableError(f"CDF at {start} is not monotonic")
    rows.append((precision, cdf))
    start = end + 1
    while start < len(flat) and flat[start] == last:
      start += 1
  return rows


def cost(tables):
  """The least a symbol coded with any row of `tables` costs:
  {"bits_per_symbol", "max_probability", "precision"} (the largest
  probability of any symbol of any row, and the rows' precisions)."""
  max_probability, precisions = 0., set()
  for table in tables:
    for precision, cdf in table_rows(table):
      max_probability = max(max_probability,
                            float(np.max(np.diff(cdf))) / (1 << precision))
      precisions.add(precision)
  if not precisions:
    raise TableError("no table rows")
  bits = -math.log2(min(1., max_probability + ROUNDING))
  return dict(bits_per_symbol=bits, max_probability=max_probability,
              precision=sorted(precisions))


def _inputs_back_to(tensor, stop, follow=lambda tensor: True):
  """The ops found walking back from `tensor` through the op inputs for
  which `follow(input)`, stopping at (and returning) the ops for which
  `stop(op)`."""
  seen, stack, found = set(), [tensor.op], []
  while stack:
    op = stack.pop()
    if op.name in seen:
      continue
    seen.add(op.name)
    if stop(op):
      found.append(op)
    else:
      stack.extend(t.op for t in op.inputs if follow(t))
  return found


def decoder_tables(concrete_function, num_strings):
  """The lookup tables that each string argument of a traced `decompress`
  is decoded with: a list (one per string) of lists of arrays. Found in the
  graph: every range decoder op (`CreateRangeDecoder`), the string argument
  its input comes from, and the variables or constants its table is read
  from. A string none is found for gets an empty list."""
  from tensorflow.python.framework import tensor_util  # pylint: disable=g-import-not-at-top
  graph = concrete_function.graph
  arguments = {t.op.name: i for i, t in enumerate(graph.inputs[:num_strings])}
  captured = {internal.op.name: external
              for external, internal in graph.captures}
  variables = {id(v.handle): v for v in concrete_function.variables}
  tables = [[] for _ in range(num_strings)]
  for op in graph.get_operations():
    if op.type != "CreateRangeDecoder":
      continue
    # Through string tensors only: a decoder's string is the argument's
    # string and its guard (`latent_coders.guarded`), whose length follows
    # from shapes that may come from other latents.
    sources = _inputs_back_to(op.inputs[0], lambda o: o.type == "Placeholder",
                              lambda t: t.dtype.name == "string")
    strings = {arguments[o.name] for o in sources if o.name in arguments}
    found = []
    for source in _inputs_back_to(
        op.inputs[1], lambda o: o.type in ("ReadVariableOp", "Const",
                                           "Placeholder")):
      if source.type == "ReadVariableOp":
        handle = captured.get(source.inputs[0].op.name)
        variable = variables.get(id(handle))
        if variable is None:
          raise TableError(f"the table of {op.name} is not a variable")
        found.append(variable.numpy())
      elif source.type == "Const":
        found.append(tensor_util.MakeNdarray(source.get_attr("value")))
      else:  # a captured tensor (tables made stateless, as constants)
        external = captured.get(source.name)
        if external is None or external.dtype.name == "resource":
          raise TableError(f"the table of {op.name} is not a variable")
        found.append(np.asarray(external.numpy()))
    for index in strings:
      tables[index] += found
  return tables


def _latent_costs(concrete_function, latents):
  """{latent: `cost`} from the tables of a traced `decompress`; a latent
  whose decoder is not found gets the cost of every table found (a lower
  bound: its tables are among them)."""
  per_string = decoder_tables(concrete_function, len(latents))
  every = [t for tables in per_string for t in tables]
  if not every:
    raise TableError("no range decoder found in decompress")
  return {name: cost(tables or every)
          for name, tables in zip(latents, per_string)}


def record(model, decompress):
  """The metadata record of a model (after `prepare_for_compression`) and
  its traced `decompress` concrete function: {"latents": {name: {"shape",
  "channels", "bits_per_symbol", "max_probability", "precision"}}}."""
  channels = model.symbol_channels()
  shapes = model.latent_shape_indices
  costs = _latent_costs(decompress, model.latent_names)
  return {"latents": {
      name: dict(shape=shapes[i], channels=channels[name], **costs[name])
      for i, name in enumerate(model.latent_names)}}


Latent = collections.namedtuple("Latent",
                                "name shape channels bits_per_symbol")


class Bound:
  """The minimum size of each latent's string for the shapes a header
  declares (`check` refuses a file below it)."""

  def __init__(self, latents, recorded=True):
    self.latents = tuple(latents)
    # False: computed for a model exported without a record (weaker).
    self.recorded = recorded

  @classmethod
  def of(cls, module, metadata):
    """The bound of a coding module: its metadata's record, or for a model
    exported before records, the costs of its decoders' tables with one
    symbol per position of its smallest coded shape."""
    names = list(metadata["latents"])
    entry = metadata.get(KEY)
    if isinstance(entry, dict) and isinstance(entry.get("latents"), dict):
      try:
        return cls([Latent(name, int(entry["latents"][name]["shape"]),
                           int(entry["latents"][name]["channels"]),
                           float(entry["latents"][name]["bits_per_symbol"]))
                    for name in names])
      except (KeyError, TypeError, ValueError):
        pass  # an unreadable record: computed as for an older model
    function = module.decompress
    concretes = getattr(function, "concrete_functions", None)  # loaded
    if concretes is None and function.input_signature is None:
      # In memory, `decompress` is traced with and without the digest.
      concretes = function._list_all_concrete_functions_for_serialization()  # pylint: disable=protected-access
    # The trace without the latent digest argument, which holds the
    # decoders (models exported before that argument have no other).
    concrete = min(concretes, key=lambda c: len(
        c.structured_input_signature[0])) if concretes else (
            function.get_concrete_function())
    try:
      costs = _latent_costs(concrete, names)
    except TableError:
      return cls([], recorded=False)  # no bound (none of this code's models)
    return cls([Latent(name, None, 1, costs[name]["bits_per_symbol"])
                for name in names], recorded=False)

  def symbols(self, latent_shapes):
    """The number of symbols each latent decodes into for the declared
    latent shapes: its shape's product times its channels (the smallest
    shape's product, one channel, without a record)."""
    sizes = [int(np.prod(shape, dtype=np.int64)) for shape in latent_shapes]
    counts = []
    for latent in self.latents:
      if latent.shape is None or latent.shape >= len(sizes):
        positions = min(sizes) if sizes else 0
      else:
        positions = sizes[latent.shape]
      counts.append(positions * latent.channels)
    return counts

  def minimum_bits(self, latent_shapes):
    """The fewest bits each latent's string can have (0 when the slack
    covers it)."""
    return [max(0., n * latent.bits_per_symbol - SLACK_BITS)
            for n, latent in zip(self.symbols(latent_shapes), self.latents)]

  def minimum_bytes(self, latent_shapes):
    """`minimum_bits` in whole bytes."""
    return [math.ceil(bits / 8) for bits in self.minimum_bits(latent_shapes)]

  def check(self, bitstream, error):
    """Raises `error` (one line) unless every string holds at least its
    latent's minimum for the latent shapes the file declares."""
    minimum = self.minimum_bits(bitstream.latent_shapes)
    counts = self.symbols(bitstream.latent_shapes)
    height, width = bitstream.image_shape
    for latent, string, bits, count in zip(self.latents, bitstream.strings,
                                           minimum, counts):
      if 8 * len(string) < bits:
        raise error(
            f"the entropy-coded data of latent '{latent.name}' is not what "
            f"this model writes for a {height}x{width} image: "
            f"{len(string)} bytes, where its {count} symbols take at least "
            f"{math.ceil(bits / 8)} ({latent.bits_per_symbol:.3g} bits "
            "each); the data was probably cut short or the header altered")
