"""One logger per module, named after it."""

import logging


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"ledger.{name}")
