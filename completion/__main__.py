"""`python -m completion RECIPE ...` and `accelerate launch -m completion RECIPE ...`: the same code as
`mixtune completion`."""

from __future__ import annotations

import sys

from mixtune.cli import main

if __name__ == "__main__":
    sys.exit(main(["completion", *sys.argv[1:]]))
