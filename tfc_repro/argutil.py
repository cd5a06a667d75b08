"""Command-line plumbing shared by codecs, bdrate, published and figures.

Every tool reports bad input as one line on stderr and a non-zero exit status,
never as a traceback: argparse errors exit with status 2, errors found while
running (missing files, unreadable images, bad values) with status 1.
"""

import argparse
import os
import shlex
import sys


class ArgumentParser(argparse.ArgumentParser):
  """An argparse parser whose usage errors are a single line on stderr."""

  def error(self, message):
    self.exit(2, f"{self.prog}: error: {message}\n")


def int_list(text):
  """'4,8,16' -> (4, 8, 16): the type of flags that take several sizes."""
  return tuple(int(v) for v in text.split(",") if v.strip())


def quiet_tensorflow():
  """Hides TensorFlow's start-up log lines (call before TF is imported)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def command_line(module, argv):
  """The command that ran `module` with `argv`, as a user would type it."""
  return "python -m " + command_line_of([module] + list(argv))


def command_line_of(argv):
  """`argv` as one line a shell reads back into the same arguments."""
  return " ".join(shlex.quote(a) for a in argv)


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
