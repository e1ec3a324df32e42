"""Subcommands of the `mixtune` command: every stage registers its own with `add_command`, so
each one reads the same way (name, one help line, a description, the handler it runs)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    handler: Handler,
    help: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add `mixtune NAME` (shown in `mixtune --help` as `help`), run by `handler(args) -> exit code`;
    returns its parser for the command's own arguments."""
    parser = subparsers.add_parser(name, help=help, description=description or help)
    parser.set_defaults(func=handler)
    return parser
