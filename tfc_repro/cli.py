"""The shared absl program of every system: train, compress, decompress, evaluate.

A paper module describes itself with a `System` and calls `run(system)`:

    python -m tfc_repro.<paper> [--model_path DIR] [-V] COMMAND [options]

Errors that a user can cause (missing or unreadable files, corrupt
bitstreams, a file from another model, a model directory that is not one)
end the program with one line on stderr and exit status 1.
"""

import argparse
import dataclasses
import math
import os
import sys
from typing import Callable

from absl import app
from absl import logging
from absl.flags import argparse_flags

from tfc_repro import argutil
from tfc_repro import container
from tfc_repro import data
from tfc_repro import quality
from tfc_repro import zoo
from tfc_repro.savedmodel import DEFAULT_MAX_PIXELS
from tfc_repro.model import TRAINING_QUANTIZATIONS
from tfc_repro.training import LR_SCHEDULES
from tfc_repro.transforms import GDN_FORMS


# How every system trains under each profile, besides its own settings
# (sizes, steps, learning rate): the papers' recipe under --profile paper,
# the CPU recipe under --profile quick (chosen on held-out photos by
# scripts/sweep_cpu_recipe.sh; results/recipe/). Explicit flags override.
PAPER_RECIPE = dict(lr_schedule="step", warmup_steps=0, clip_norm=0.,
                    weight_averaging=0., final_patchsize=0)
CPU_RECIPE = dict(lr_schedule="cosine", warmup_steps=100, lr_decay_factor=0.01,
                  clip_norm=1., quantization="ste", weight_averaging=0.,
                  final_patchsize=0)
RECIPES = {"paper": PAPER_RECIPE, "quick": CPU_RECIPE}


@dataclasses.dataclass
class System:
  """What the shared program needs to know of one paper's model."""
  name: str
  description: str
  build_model: Callable      # args -> compiled-to-be CompressionModel
  add_model_flags: Callable  # parser -> None: the paper's own train flags
  profiles: dict             # "quick"/"paper" -> defaults of train flags
  default_lmbda: float
  resolve_args: Callable = None  # args -> None: fills paper-specific defaults
  # --lambda's help when not that of R + λ·D (with its default, or set by
  # --quality when the default is None).
  lambda_help: str = None
  # The largest image its models code unless told otherwise (--max_pixels);
  # lower for a system whose transforms run on whole images.
  max_pixels: int = DEFAULT_MAX_PIXELS
  # Train flags also accepted before the command (e.g. regularized's
  # --backbone, which picks the model the other flags apply to).
  leading_flags: tuple = ()
  # Its quality levels (`quality.Table`): --quality picks λ and sizes.
  qualities: quality.Table = None

  def __post_init__(self):
    # Each profile with its recipe (the recipe's keys win over the system's).
    self.profiles = {name: {**profile, **RECIPES.get(name, {})}
                     for name, profile in self.profiles.items()}


def _positive_int(text):
  value = int(text)
  if value <= 0:
    raise argparse.ArgumentTypeError(f"must be positive, got {value}")
  return value


def _float_tuple(text):
  return tuple(float(v) for v in text.split(",") if v.strip())


def _show(value):
  if isinstance(value, (tuple, list)):
    return ",".join(_show(v) for v in value) or "''"
  return f"{value:g}" if isinstance(value, float) else str(value)


def _help_formatter(system):
  """Help that shows the real defaults: a flag the profiles set shows each
  profile's value instead of argparse's "(default: None)"."""

  class Formatter(argutil.DefaultsHelpFormatter):

    def _get_help_string(self, action):
      text = action.help or ""
      if action.default is not None or action.dest in ("help", "profile"):
        return super()._get_help_string(action)
      values = [(name, profile[action.dest])
                for name, profile in sorted(system.profiles.items())
                if action.dest in profile]
      if values:
        text += " (" + "; ".join(f"{name}: {_show(value)}"
                                 for name, value in values) + ")"
      return text

  return Formatter


def _accept_before_command(parser, train, flag):
  """Makes the train flag `flag` also valid before the command (as
  --model_path is), e.g. `regularized --backbone lee2019 train ...`."""
  action = train._option_string_actions[flag]  # pylint: disable=protected-access
  default = action.default
  parser.add_argument(flag, dest=action.dest, type=action.type,
                      choices=action.choices, default=default,
                      help=f"{action.help} (Also accepted after 'train'.) "
                           f"Default: {default}")
  # A default set by the subcommand would replace a value given before it.
  action.default = argparse.SUPPRESS
  action.help = f"{action.help} (Also accepted before the command; default "\
                f"{default}.)"


def program_description(system):
  """--help's description: the first paragraph of the system's module
  docstring (what the paper is) and the commands; the rest of the docstring
  (design notes) is for readers of the module."""
  summary = system.description.strip().split("\n\n")[0]
  program = f"python -m tfc_repro.{system.name} --model_path MODEL"
  return "\n".join([
      summary, "",
      f"  {program} train "
      + ("--lambda λ" if system.default_lmbda else "--quality Q"),
      f"  {program} compress photo.png photo.tfci",
      f"  {program} decompress photo.tfci photo.png",
      f"  {program} evaluate [--images kodak] --output rd.json", "",
      "MODEL is a folder, or a shipped model (python -m tfc_repro.zoo lists",
      f"them). Design notes: pydoc tfc_repro.{system.name}"])


class _Parser(argutil.OneLineErrors, argparse_flags.ArgumentParser):
  """absl's parser (--helpfull, absl flags) with one-line usage errors."""


def build_parser(system):
  parser = _Parser(
      prog=f"python -m tfc_repro.{system.name}",
      description=program_description(system),
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument(
      "--model_path", default=system.name,
      help="Directory of the exported SavedModel (written by 'train', read "
           "by the other commands), or the name of a shipped model (cpu:NAME; "
           "python -m tfc_repro.zoo lists them). "
           "Default: %(default)s")
  parser.add_argument(
      "--verbose", "-V", action="store_true",
      help="Show TensorFlow's log messages and more detail.")
  commands = parser.add_subparsers(
      title="commands", dest="command",
      help="Run 'COMMAND --help' for the options of each command.")

  train = commands.add_parser(
      "train", formatter_class=_help_formatter(system),
      description="Trains a model and exports it as a SavedModel to "
                  "--model_path. Re-running the same command after an "
                  "interruption resumes from the last completed epoch.",
      help="Train a model and export it.")
  train.add_argument(
      "--profile", choices=sorted(system.profiles), default="quick",
      help="Default settings: 'quick' trains on a 2-core CPU in minutes, "
           "'paper' follows the paper (GPU, ~1M steps). Explicit flags "
           "override the profile.")
  if system.lambda_help:
    lambda_help = system.lambda_help
  elif system.default_lmbda is None:
    lambda_help = ("Rate-distortion trade-off λ of R + λ·D. Overrides the λ "
                   "of --quality.")
  else:
    lambda_help = ("Rate-distortion trade-off λ of R + λ·D (default "
                   f"{system.default_lmbda}).")
  train.add_argument("--lambda", dest="lmbda", type=float, default=None,
                     help=lambda_help)
  train.add_argument("--metric", choices=["mse", "ms-ssim"], default="mse",
                     help="Distortion D: MSE on 0..255, or 1 − MS-SSIM.")
  gdn = train.add_argument(
      "--gdn", choices=GDN_FORMS, default=None,
      help="Form of GDN/IGDN: 'full', the papers' x/√(β + Σγx²); "
           "'simplified', x/(β + Σγ|x|), TFC's default and that of TFC's "
           "example models. Default: full.")
  train.add_argument("--train_glob", default=None,
                     help="Glob or directory of training images. 5%% of the "
                          "images (at least one) are held out for "
                          "validation. Default: the photos embedded in "
                          "scikit-image.")
  train.add_argument("--validation_glob", default=None,
                     help="Glob or directory of images held out for "
                          "validation (left out of training); default: 5%% "
                          "of the training images, chosen by file name.")
  train.add_argument("--tfds", default=None,
                     help="Train on a tfds data set by name (e.g. 'clic') "
                          "instead of --train_glob.")
  train.add_argument("--patchsize", type=int, default=None,
                     help="Side of the square training crops.")
  train.add_argument("--batchsize", type=int, default=None,
                     help="Crops per training step.")
  train.add_argument("--final_patchsize", type=int, default=None,
                     help="From --final_patchsize_from of the steps on, "
                          "train on crops of this side instead, fewer per "
                          "step so that a step sees as many pixels (e.g. "
                          "256 with --patchsize 128 and --batchsize 8: 2 "
                          "crops); 0 = one crop size.")
  train.add_argument("--final_patchsize_from", type=float, default=None,
                     help="The fraction of the steps after which crops are "
                          "--final_patchsize (0.8 unless given).")
  train.add_argument("--steps", type=int, default=None,
                     help="Total training steps.")
  train.add_argument("--epochs", type=int, default=None,
                     help="If given, steps = epochs × steps_per_epoch.")
  train.add_argument("--steps_per_epoch", type=int, default=200,
                     help="Steps between validation and resume checkpoints.")
  train.add_argument("--lr", type=float, default=None,
                     help="Adam learning rate (the profile's schedule "
                          "still applies to it).")
  train.add_argument("--lr_decay_steps", type=_float_tuple, default=None,
                     help="With --lr_schedule step: fractions of the steps "
                          "at which the learning rate is multiplied by "
                          "--lr_decay_factor, e.g. '0.7,0.9' ('' for none).")
  train.add_argument("--lr_decay_factor", type=float, default=None,
                     help="Learning-rate factor at each --lr_decay_steps "
                          "fraction, or the final fraction of a cosine decay "
                          "(0.1 unless the profile says).")
  train.add_argument("--lr_schedule", choices=LR_SCHEDULES,
                     default=None,
                     help="'step': the rate drops by --lr_decay_factor at "
                          "each --lr_decay_steps fraction (the papers'); "
                          "'cosine': a cosine decay to --lr_decay_factor·lr "
                          "at the last step.")
  train.add_argument("--warmup_steps", type=int, default=None,
                     help="Steps of linear learning-rate warm-up before the "
                          "schedule (at most a tenth of --steps).")
  train.add_argument("--clip_norm", type=float, default=None,
                     help="Clip the gradients to this global norm (0 = no "
                          "clipping).")
  train.add_argument("--weight_averaging", type=float, default=None,
                     metavar="MOMENTUM",
                     help="Validate and export an exponential moving average "
                          "of the weights, updated after every step with "
                          "this momentum, e.g. 0.99 (0 = the last weights, "
                          "the papers').")
  train.add_argument("--quantization", choices=TRAINING_QUANTIZATIONS,
                     default=None,
                     help="What the synthesis sees of a latent in training: "
                          "'noise', y + u; 'ste', round(y − μ) + μ with the "
                          "gradient passed straight through (Minnen & Singh "
                          "2020). The rate always sees y + u. --profile "
                          "paper uses the paper's (ste for lee2019, noise for "
                          "the others).")
  train.add_argument("--init_from", default=None, metavar="MODEL",
                     help="Start from the weights of this trained model "
                          "(same system and architecture, any λ) instead of "
                          "a random start; the optimizer and the step count "
                          "start afresh, and the exported metadata names "
                          "the parent.")
  train.add_argument("--cache_gib", type=float, default=4.,
                     help="Decode the training image files once, before "
                          "the first step, and keep them in memory when they "
                          "take at most this many GiB, instead of decoding a "
                          "file at every use (0: never; not for --tfds).")
  train.add_argument("--validation_batches", type=int, default=4,
                     help="Validation batches (tfds data sets only).")
  train.add_argument("--train_path", default=None,
                     help="Directory for resume checkpoints and TensorBoard "
                          "logs. Default: MODEL_PATH.train")
  train.add_argument("--seed", type=int, default=None,
                     help="Random seed for weights, crops and noise; with "
                          "a seed, TensorFlow runs deterministically: the "
                          "same command trains the same model on the same "
                          "machine.")
  train.add_argument("--strategy", default="default",
                     choices=["default", "mirrored", "multiworker"],
                     help="tf.distribute strategy: one device, all local "
                          "devices, or the workers of TF_CONFIG.")
  train.add_argument("--logical_cpus", type=int, default=0,
                     help="Split the CPU into this many logical devices "
                          "(for testing --strategy mirrored without GPUs).")
  train.add_argument("--export_reconstruct", action="store_true",
                     help="Also export the model's reconstruction without "
                          "entropy coding, so that 'evaluate' checks that "
                          "every decoded file equals it bit for bit (the "
                          "'exact' column). Loading gets about 1 s slower.")
  if system.qualities:
    quality.add_flag(train, system.qualities)
  system.add_model_flags(train)
  if train.get_default("variant") is not None:
    gdn.help = gdn.help[:-1] + ", simplified with --variant tfc."
  for flag in system.leading_flags:
    _accept_before_command(parser, train, flag)

  compress = commands.add_parser(
      "compress", help="Compress an image file into a bitstream file.",
      description="Reads an image (PNG, JPEG, ...) as it is displayed (EXIF "
                  "orientation applied; grayscale converted to RGB; alpha "
                  "and samples of more than 8 bits dropped, with a warning) "
                  "and writes a bitstream file. Missing output folders are "
                  "created.")
  compress.add_argument("input_file", help="Image to compress.")
  compress.add_argument("output_file", nargs="?",
                        help="Bitstream file (default: INPUT.tfci).")

  decompress = commands.add_parser(
      "decompress", help="Decompress a bitstream file into a PNG image.",
      description="Reads a bitstream file written by 'compress' with the "
                  "same model and writes the reconstruction as PNG. Missing "
                  "output folders are created.")
  decompress.add_argument("input_file", help="Bitstream file.")
  decompress.add_argument("output_file", nargs="?",
                          help="PNG file (default: INPUT.png).")
  for command in (train, compress, decompress):
    # Accepted after the command as well as before it.
    command.add_argument(
        "--model_path", default=argparse.SUPPRESS,
        help="Directory of the exported SavedModel (as before the command).")
  max_pixels_help = (
      "Refuse images (and files declaring images) of more pixels than this "
      f"(default: {system.max_pixels}, i.e. "
      f"2^{system.max_pixels.bit_length() - 1}).")
  for command in (compress, decompress):
    command.add_argument("--max_pixels", type=_positive_int, default=None,
                         help=max_pixels_help)

  evaluate = commands.add_parser(
      "evaluate", formatter_class=argutil.DefaultsHelpFormatter,
      help="Measure rate and distortion over images through real files.",
      description="Compresses and decompresses every image through files "
                  "and writes the rate-distortion results as JSON "
                  "(CompressAI's schema, plus per-image values). Several "
                  "--model_path give one RD curve.")
  evaluate.add_argument("--images", default="kodak",
                        help="Glob or directory of images, or a named set: "
                             "'kodak' (24 photos) or 'scientific' (3 "
                             "out-of-domain images shipped with "
                             "scikit-image: microscopy, retina, "
                             "astronomy).")
  evaluate.add_argument("--output", required=True, help="JSON file to write.")
  evaluate.add_argument("--model_path", dest="eval_model_paths",
                        action="append", default=None,
                        help="A model to evaluate; repeat for several "
                             "(default: the global --model_path).")
  evaluate.add_argument("--name", default=None,
                        help="Name of the curve in the JSON.")
  evaluate.add_argument("--reconstructions", default=None,
                        help="Directory to keep the decoded PNGs in.")
  # SUPPRESS: the help states the default itself.
  evaluate.add_argument("--max_pixels", type=_positive_int,
                        default=argparse.SUPPRESS, help=max_pixels_help)
  return parser


def resolve_train_args(system, args):
  """Fills unset train flags from the profile and checks them."""
  profile = system.profiles[args.profile]
  decay_steps_given = bool(args.lr_decay_steps)
  for key, value in profile.items():
    if getattr(args, key, None) is None:
      setattr(args, key, value)
  if args.lmbda is None:
    args.lmbda = system.default_lmbda
  if args.gdn is None:
    args.gdn = ("simplified" if getattr(args, "variant", None) == "tfc"
                else "full")
  if system.qualities:
    quality.resolve(args, system.qualities)
  if system.resolve_args:
    system.resolve_args(args)
  if args.lr_decay_factor is None:
    args.lr_decay_factor = 0.1
  # The papers' recipe unless the profile or a flag says otherwise.
  for key, paper_value in PAPER_RECIPE.items():
    if getattr(args, key, None) is None:
      setattr(args, key, paper_value)
  if decay_steps_given and args.lr_schedule != "step":
    raise ValueError(f"--lr_decay_steps applies to --lr_schedule step; this "
                     f"run's schedule is {args.lr_schedule} (give "
                     "--lr_schedule step to decay in steps)")
  if not (args.warmup_steps >= 0 and args.clip_norm >= 0):
    raise ValueError("--warmup_steps and --clip_norm must be at least 0")
  if args.final_patchsize_from is not None and not args.final_patchsize:
    raise ValueError("--final_patchsize_from needs --final_patchsize")
  if args.final_patchsize:
    if args.final_patchsize_from is None:
      args.final_patchsize_from = 0.8
    pixels = args.batchsize * args.patchsize**2
    if (args.final_patchsize <= args.patchsize
        or pixels % args.final_patchsize**2):
      raise ValueError(
          "--final_patchsize must be larger than --patchsize, with "
          "--batchsize × --patchsize² a multiple of its square (the final "
          "crops take as many pixels per step)")
    if not 0. < args.final_patchsize_from < 1.:
      raise ValueError("--final_patchsize_from must be between 0 and 1")
  if not args.cache_gib >= 0.:
    raise ValueError("--cache_gib must be at least 0")
  if not 0. <= args.weight_averaging < 1.:
    raise ValueError("--weight_averaging must be at least 0 and below 1")
  if args.epochs is not None:
    args.steps = args.epochs * args.steps_per_epoch
  for key in ("patchsize", "batchsize", "steps", "steps_per_epoch"):
    if getattr(args, key) <= 0:
      raise ValueError(f"--{key} must be positive")
  if getattr(args, "num_filters", None) is not None and args.num_filters <= 0:
    raise ValueError("--num_filters must be positive")
  if args.seed is not None and not 0 <= args.seed < 2**32:
    raise ValueError("--seed must be between 0 and 2^32 − 1")
  if not (0 < args.lr < math.inf and 0 < args.lmbda < math.inf):  # NaN too
    raise ValueError("--lr and --lambda must be positive and finite")
  if not args.lr_decay_factor > 0:
    raise ValueError("--lr_decay_factor must be positive")
  if args.metric == "ms-ssim" and args.patchsize < 161:
    raise ValueError("--metric ms-ssim needs --patchsize of at least 161 "
                     "(five MS-SSIM scales with an 11x11 window)")
  if args.train_glob and args.tfds:
    raise ValueError("give either --train_glob or --tfds, not both")
  if getattr(args, "validation_glob", None) and args.tfds:
    raise ValueError("--validation_glob applies to --train_glob, not --tfds")


def load_model(system, path, max_pixels=None):
  """Loads an exported model and checks that it belongs to `system`."""
  from tfc_repro import savedmodel  # pylint: disable=g-import-not-at-top
  name = path
  if zoo.is_zoo_name(path):
    path = zoo.materialize(zoo.entry_name(path, system.name))
  model = savedmodel.LoadedModel(path, max_pixels)
  model.name = name
  if max_pixels is None and "max_pixels" not in model.metadata:
    # Exported before models recorded their limit: the system's.
    model.max_pixels = system.max_pixels
  if model.system != system.name:
    raise savedmodel.ModelError(
        f"{path} holds a {model.system} model, not a {system.name} model "
        f"(use python -m tfc_repro.{model.system})")
  return model


def command_train(system, args):
  from tfc_repro import training  # pylint: disable=g-import-not-at-top
  resolve_train_args(system, args)
  try:
    metadata = training.train(system, args)
  except training.AlreadyTrained as done:
    print(done)
    return
  print(f"exported {system.name} model to {args.model_path} "
        f"({metadata['steps']} steps, λ={metadata['lmbda']}, "
        f"{metadata['metric']})")


def _make_parent(path):
  """Creates the folders of an output file, as every command does."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


def command_compress(system, args):
  from tfc_repro import metrics  # pylint: disable=g-import-not-at-top
  output = args.output_file or args.input_file + ".tfci"
  argutil.check_output(args.input_file, output)
  data.check_image_file(args.input_file)  # before a model is loaded
  model = load_model(system, args.model_path, args.max_pixels)
  image = data.read_image(args.input_file, model.max_pixels)
  bitstream = model.compress(image)
  _make_parent(output)
  num_bytes = container.write(output, bitstream)
  height, width = image.shape[:2]
  print(f"{output}: {num_bytes} bytes, "
        f"{metrics.bits_per_pixel(num_bytes, height, width):.4f} bpp "
        f"({width}x{height})")
  if args.verbose:
    for name, string in zip(model.latents, bitstream.strings):
      print(f"  {name}: {len(string)} bytes, "
            f"{metrics.bits_per_pixel(len(string), height, width):.4f} bpp")


def command_decompress(system, args):
  output = args.output_file or args.input_file + ".png"
  argutil.check_output(args.input_file, output)
  model = load_model(system, args.model_path, args.max_pixels)
  # Read no more than a file of the largest image the model decodes takes.
  bitstream = container.read(args.input_file, model.max_pixels)
  if bitstream.system != system.name:
    raise container.ContainerError(
        f"file was made by system {bitstream.system!r}, not {system.name!r}")
  image = model.decompress(bitstream)
  data.write_png(output, image)  # creates missing folders
  print(f"{output}: {image.shape[1]}x{image.shape[0]}")


def command_evaluate(system, args):
  from tfc_repro import evaluate  # pylint: disable=g-import-not-at-top
  models = [load_model(system, path, getattr(args, "max_pixels", None))
            for path in args.eval_model_paths or [args.model_path]]
  images, dataset = data.evaluation_images(args.images)
  outputs = [args.output] + (evaluate.reconstruction_paths(
      models, images, args.reconstructions) if args.reconstructions else [])
  for path in images:  # neither the JSON nor a decoded PNG may replace one
    for output in outputs:
      argutil.check_output(path, output)
  # results.write_rd_json and data.write_png create missing output folders.
  document = evaluate.evaluate_models(
      models, images, args.output, name=args.name, dataset=dataset,
      reconstructions=args.reconstructions)
  print(evaluate.format_table(document))
  print(f"wrote {args.output}")


COMMANDS = {
    "train": command_train,
    "compress": command_compress,
    "decompress": command_decompress,
    "evaluate": command_evaluate,
}


def _one_line(error):
  """The informative line of an error message (TF's come with context)."""
  text = getattr(error, "message", None) or str(error) or type(error).__name__
  lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
  for line in lines:  # TF runtime errors: "(0) INVALID_ARGUMENT: ..."
    if "_ARGUMENT:" in line or "INTERNAL:" in line or "DATA_LOSS:" in line:
      return " ".join(line.split())
  if lines and lines[0] == "Graph execution error:":
    # The op's message follows the traceback of the node that raised it
    # (and precedes TF's hints and the name of the function).
    lines = [l for l in lines[1:] if not l.startswith(
        ("[[", "File ", "Detected at node", "Hint:", "[Op:"))]
    lines = lines[-1:] or ["Graph execution error"]
  return " ".join(lines[0].split()) if lines else type(error).__name__


def main(system, args):
  if not args.command:
    build_parser(system).print_help()
    return 2
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfc_repro import savedmodel  # pylint: disable=g-import-not-at-top
  if not args.verbose:
    tf.get_logger().setLevel("ERROR")
    logging.set_verbosity(logging.ERROR)
  user_errors = (data.DataError, container.ContainerError,
                 savedmodel.ModelError, ValueError, OSError,
                 tf.errors.OpError)
  try:
    from tfc_repro import training  # pylint: disable=g-import-not-at-top
    user_errors += (training.TrainingError,)
    COMMANDS[args.command](system, args)
  except user_errors as e:
    if args.verbose:
      raise
    message = _one_line(e)
    if isinstance(e, tf.errors.ResourceExhaustedError):
      message += (" (out of memory: a smaller --batchsize or --patchsize "
                  "needs less)" if args.command == "train" else
                  " (out of memory)")
    print(f"error: {message}", file=sys.stderr)
    return 1
  return 0


def _main_and_exit(system, args):
  status = main(system, args)
  if args.command in ("compress", "decompress", "evaluate"):
    # Every output file is closed by now; skipping TensorFlow's interpreter
    # teardown saves about a second per command.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # pylint: disable=protected-access
  sys.exit(status)


def run(system):
  """Entry point of `python -m tfc_repro.<paper>`."""
  app.run(lambda args: _main_and_exit(system, args),
          flags_parser=lambda argv: build_parser(system).parse_args(argv[1:]))
