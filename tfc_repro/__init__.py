"""tfc-repro: reference reproductions of learned image compression papers on
TensorFlow Compression."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# TensorFlow's C++ start-up messages (CUDA probing, CPU features) are noise for
# a command-line user; `-V`/`--verbose` keeps them. Must happen before TF loads.
if "-V" not in _sys.argv and "--verbose" not in _sys.argv:
  _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
