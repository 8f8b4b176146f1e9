"""One sentence a user understands for an engine process that stopped on its own (OOM killer, segfault...)."""

from __future__ import annotations

import signal
from typing import Optional

NEXT = "the next request starts a new one"
# What the usual signals mean for a Python process running torch, as the user should read it.
SIGNALS = {
    "SIGKILL": "was killed (SIGKILL, often the system running out of memory)",
    "SIGSEGV": "crashed (SIGSEGV, a segmentation fault in a native library)",
    "SIGBUS": "crashed (SIGBUS, a memory access error in a native library)",
    "SIGABRT": "crashed (SIGABRT, a native library aborted)",
    "SIGILL": "crashed (SIGILL, an instruction this processor does not support)",
    "SIGFPE": "crashed (SIGFPE, an arithmetic error in a native library)",
    "SIGTERM": "was stopped (SIGTERM, sent by another program or the system)",
    "SIGINT": "was interrupted (SIGINT)",
}
# Windows reports a crash as an NTSTATUS exit code, not a signal.
WINDOWS_CODES = {
    0xC0000005: "crashed (an access violation in a native library)",
    0xC00000FD: "crashed (a stack overflow)",
    0xC0000409: "crashed (a native library aborted)",
}


def signal_name(number: int) -> str:
    """``9`` -> ``"SIGKILL"``; a number this platform does not name -> ``"signal 99"``."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_sentence(exitcode: Optional[int]) -> str:
    """The sentence for an engine process that ended with ``exitcode`` (multiprocessing's: negative = signal;
    128 + n is a worker that caught signal n to clean up, then exited).

    ``None`` means the process is still there but its pipe broke (it is stopped and replaced all the same).
    """
    if exitcode is None:
        what = "stopped answering"
    elif exitcode < 0 or 128 < exitcode <= 128 + 64:  # -n: killed by signal n; 128 + n: it exited on signal n
        name = signal_name(-exitcode if exitcode < 0 else exitcode - 128)
        what = SIGNALS.get(name, f"was stopped by {name}")
    elif exitcode in WINDOWS_CODES:
        what = WINDOWS_CODES[exitcode]
    else:
        what = f"stopped unexpectedly (exit code {exitcode})"
    return f"The engine process {what}; {NEXT}."
