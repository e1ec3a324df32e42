"""`python -m dpo RECIPE ...` and `accelerate launch -m dpo RECIPE ...`: the same code as `mixtune dpo`."""

from __future__ import annotations

import sys

from mixtune.cli import main

if __name__ == "__main__":
    sys.exit(main(["dpo", *sys.argv[1:]]))
