"""`python -m evals MODEL ...` runs `mixtune eval`; `python -m evals compare RUN ...` runs `mixtune compare`."""

import sys

from mixtune.cli import main

argv = sys.argv[1:]
sys.exit(main(argv if argv[:1] == ["compare"] else ["eval", *argv]))
