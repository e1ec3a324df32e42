"""`python -m sft RECIPE ...` and `accelerate launch -m sft RECIPE ...`: the same code as `mixtune sft`."""

from __future__ import annotations

import sys

from mixtune.cli import main

if __name__ == "__main__":
    sys.exit(main(["sft", *sys.argv[1:]]))
