"""Errors that the engine raises for users: bad input, cancellation, and a stop signal."""

import signal


class InputError(ValueError):
    """Bad user input (missing file, not a raster, AOI outside the scene, empty question...).

    The message is one clear sentence; the CLI prints it and exits with status 2.
    """


class Cancelled(Exception):
    """Raised inside a pipeline when the caller's ``cancelled()`` returned True."""


class Stopped(BaseException):
    """A stop signal (SIGTERM, SIGHUP) arrived: unwinds like KeyboardInterrupt, so every partial file goes.

    A BaseException, so that no ``except Exception`` on the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")
