"""The errors the service answers with."""


class LedgerError(Exception):
    """Base of every error the routes turn into a reply."""

    status = 400


class NotFound(LedgerError):
    status = 404


def require(value: object, what: str) -> None:
    """Refuse an empty key or value, naming what was missing."""
    if not value:
        raise LedgerError(f"{what}: required")
