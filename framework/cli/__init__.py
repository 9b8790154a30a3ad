"""The command line and config composition: the top layer (``subalign`` console script).

The console script, not ``import subalign``, sets the process's thread defaults: BLAS
libraries on one thread (``OPENBLAS/MKL/BLIS_NUM_THREADS``, ``VECLIB_MAXIMUM_THREADS``),
unless the user set them. They must be set before numpy loads, so this module imports
nothing heavy until :func:`main` runs; alignments limit BLAS threads themselves as well
(:func:`subalign.numerics.threads.single_blas_thread`). Output to a closed pipe
(``subalign show set.star | head``) ends the command quietly, with exit code 0; Ctrl-C
ends it with one line saying how to resume, exit code 130 (128 + SIGINT).
"""

import os
import sys

__all__ = ["main"]

#: Environment defaults of the ``subalign`` process (and the workers it starts).
THREAD_DEFAULTS = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "BLIS_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``subalign`` console script."""
    for name, value in THREAD_DEFAULTS.items():
        os.environ.setdefault(name, value)
    from subalign.cli.dispatch import main as run

    try:
        run(argv)
    except BrokenPipeError:  # the reader went away: nothing more to say, to anyone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:
        print("subalign: interrupted; what finished is kept: rerun the same command to resume",
              file=sys.stderr)
        sys.exit(130)
