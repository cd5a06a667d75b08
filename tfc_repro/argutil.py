"""Command-line plumbing shared by codecs, bdrate, published and figures.

Every tool reports bad input as one line on stderr and a non-zero exit status,
never as a traceback: argparse errors exit with status 2, errors found while
running (missing files, unreadable images, bad values) with status 1.
"""

import argparse
import math
import os
import re
import shlex
import sys

# The environment variable naming the data folder (kodak/, train/).
DATA_VARIABLE = "TFC_REPRO_DATA"


class OneLineErrors:
  """A parser mixin: usage errors are a single line on stderr (status 2)
  instead of argparse's usage block; --help still shows the usage. Flags
  are taken whole, never abbreviated: a flag that only begins another
  (e.g. --model for --model_path, where no --model applies) is unknown, not
  that other flag."""

  def __init__(self, *args, **kwargs):
    kwargs.setdefault("allow_abbrev", False)
    super().__init__(*args, **kwargs)
    self._arguments = []
    self._scanning = False  # while _unknown_option looks at the arguments

  def parse_known_args(self, args=None, namespace=None):
    self._arguments = list(sys.argv[1:] if args is None else args)
    return super().parse_known_args(args, namespace)

  def _commands(self):
    """{name: parser} of this parser's commands."""
    commands = {}
    for action in self._actions:
      if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
        commands.update(action.choices)
    return commands

  def _unknown_option(self):
    """The first flag before the command that this parser does not know,
    whose value argparse then took for the command; or None."""
    if not self._commands():
      return None
    takes_value = False
    for argument in self._arguments:
      if takes_value:
        takes_value = False
        continue
      if argument == "--":
        return None
      self._scanning = True
      try:
        found = self._parse_optional(argument)
      except _Ambiguous:
        return None
      finally:
        self._scanning = False
      if found is None:  # the first positional: taken for the command
        return None
      action, option, explicit = found
      if action is None:
        return option.split("=")[0]
      takes_value = action.nargs != 0 and explicit is None
    return None

  def error(self, message):
    if self._scanning:
      raise _Ambiguous(message)
    unknown = self._unknown_option() if "invalid choice" in message else None
    if unknown:
      message = self._unknown_option_message(unknown)
    self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

  def _unknown_option_message(self, flag):
    # The flags it would abbreviate (taken whole, it is none of them).
    longer = sorted(o for o in self._option_string_actions
                    if o.startswith(flag) and o.startswith("--")
                    and not o.startswith("--no"))[:3]
    meant = f"did you mean {' or '.join(longer)}?" if longer else ""
    commands = [name for name, parser in self._commands().items()
                if flag in parser._option_string_actions]  # pylint: disable=protected-access
    if not commands:
      return f"unknown option {flag}" + (f" ({meant})" if meant else "")
    where = (f"the {commands[0]} command" if len(commands) == 1 else
             f"the {', '.join(commands[:-1])} and {commands[-1]} commands"
             if len(commands) <= 3 else "the commands")
    return (f"{flag} is an option of {where}, given after it" +
            (f"; {meant}" if meant else ""))


class _Ambiguous(Exception):
  """An argument that argparse finds ambiguous, while looking for unknown
  flags (argparse reports it itself)."""


class ArgumentParser(OneLineErrors, argparse.ArgumentParser):
  """An argparse parser whose usage errors are a single line on stderr."""


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
  """Help that shows each flag's default, except where there is none (None)
  and where the help text already says it."""

  def _get_help_string(self, action):
    text = action.help or ""
    if action.default is None or "default" in text:
      return text
    return super()._get_help_string(action)


def int_list(text):
  """'4,8,16' -> (4, 8, 16): the type of flags that take several sizes."""
  return tuple(int(v) for v in text.split(",") if v.strip())


def positive_float(text):
  """The type of flags that take a positive finite number (e.g. a rate)."""
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
  if not (math.isfinite(value) and value > 0):
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a positive finite number")
  return value


def same_file(a, b):
  """Whether the paths name one existing file (also through links)."""
  try:
    return os.path.samefile(a, b)
  except OSError:  # either is missing
    return False


def check_output(input_file, output_file):
  """Refuses to write a command's output over its input."""
  if same_file(input_file, output_file):
    raise ValueError(f"output file {output_file} is the input file "
                     f"{input_file}; give another output file")


def quiet_tensorflow():
  """Hides TensorFlow's start-up log lines (call before TF is imported)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def command_line(module, argv):
  """The command that ran `module` with `argv`, as a user would type it."""
  return "python -m " + command_line_of([module] + list(argv))


def command_line_of(argv):
  """`argv` as one line a shell reads back into the same arguments, with the
  data folder written as "$TFC_REPRO_DATA" (so that the line runs on any
  machine that sets it)."""
  root = data_root()
  return " ".join(_shell_word(a, root) for a in argv)


def data_root():
  """The data folder ($TFC_REPRO_DATA) as an absolute path, or None."""
  root = os.environ.get(DATA_VARIABLE)
  return os.path.abspath(root) if root else None


def data_path_pattern(root):
  """A regular expression matching the path `root` where it is a whole
  path or a path's leading folders (not '/data' in '/data2')."""
  return re.compile(re.escape(root) + r"(?=/|$|[^\w.-])")


def _shell_word(word, root):
  """`word` quoted for a shell; the data folder (`root`), alone, leading a
  path or as a --flag=VALUE, written as "$TFC_REPRO_DATA"."""
  match = root and re.fullmatch(
      r"(--?[\w-]+=)?" + re.escape(root) + r"(/.*)?", word, re.DOTALL)
  if not match:
    return shlex.quote(word)
  flag = shlex.quote(match.group(1)) if match.group(1) else ""
  rest = match.group(2) or ""
  if re.search(r'["\\$`]', rest):  # not literal inside double quotes
    return f'{flag}"${DATA_VARIABLE}"{shlex.quote(rest) if rest else ""}'
  return f'{flag}"${DATA_VARIABLE}{rest}"'


def first_line(error):
  """The first non-empty line of an exception's message (or its type name)."""
  for line in str(error).splitlines():
    if line.strip():
      return line.strip()
  return type(error).__name__


def run(main, prog, argv=None):
  """Runs `main(argv)` and turns expected errors into a one-line message.

  Args:
    main: function of the argument list returning an exit status (or None).
    prog: program name used as the message prefix.
    argv: arguments without the program name (default: sys.argv[1:]).
  Returns:
    The exit status, for `sys.exit`.
  """
  argv = sys.argv[1:] if argv is None else list(argv)
  try:
    return main(argv) or 0
  except (ValueError, OSError, KeyError, RuntimeError) as e:
    # DataError is a ValueError; a missing file is an OSError.
    print(f"{prog}: error: {first_line(e)}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print(f"{prog}: interrupted", file=sys.stderr)
    return 130
