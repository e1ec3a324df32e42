"""`python -m chat_ui ...` is `mixtune chat ...` (or `mixtune serve ...` with `serve` first)."""

from __future__ import annotations

import sys

from mixtune.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    sys.exit(main(argv if argv[:1] == ["serve"] else ["chat", *argv]))
