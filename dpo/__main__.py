"""`python -m dpo RECIPE ...` and `accelerate launch -m dpo RECIPE ...`: the same code as `mixtune dpo`."""

from __future__ import annotations

import argparse
import sys

from dpo.cli import DESCRIPTION, configure
from mixtune.cli import main as mixtune_main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        parser = argparse.ArgumentParser(prog="python -m dpo", description=DESCRIPTION)
        configure(parser)
        parser.print_help()
        return 0
    return mixtune_main(["dpo", *argv])


if __name__ == "__main__":
    sys.exit(main())
