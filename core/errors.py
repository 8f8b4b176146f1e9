"""Errors that the engine raises for users: bad input and cancellation."""


class InputError(ValueError):
    """Bad user input (missing file, not a raster, AOI outside the scene, empty question...).

    The message is one clear sentence; the CLI prints it and exits with status 2.
    """


class Cancelled(Exception):
    """Raised inside a pipeline when the caller's ``cancelled()`` returned True."""
