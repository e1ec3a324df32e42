"""One error type for everything a user can fix: the CLI prints it without a traceback."""


class MixtuneError(Exception):
    """A user-facing error: bad recipe, bad data row, missing file, impossible setting.

    The message must name the file and the line or key at fault, so the user can act on it.
    """


class RecipeError(MixtuneError):
    """A recipe (YAML) that does not validate."""


class DataError(MixtuneError):
    """A data row or file that cannot be read or normalised."""
