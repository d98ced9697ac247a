"""The one place that holds the Numba jit defaults for every kernel.

Caching is on so a second run skips compilation; TERRASIM_NUMBA_CACHE=0 turns it off.
"""

import contextlib
import os
import signal
import threading

import numba

CACHE = os.environ.get("TERRASIM_NUMBA_CACHE", "1") != "0"


def njit(*args, **kwargs):
    """`numba.njit` with the project defaults (cache on, no Python fallback)."""
    kwargs.setdefault("cache", CACHE)
    kwargs.setdefault("nogil", True)
    return numba.njit(*args, **kwargs)


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C (SIGINT) while calling a kernel that takes a numpy Generator; raise it after.

    Numba unboxes a Generator argument by calling `ctypes.cast`, which is Python code: a
    KeyboardInterrupt raised inside it is not checked, and the process segfaults (measured: 3
    runs in 5 under a SIGINT every 3 ms). The signal is recorded meanwhile and delivered again
    to the previous handler once the call has returned. Outside the main thread (where Python
    runs no signal handler) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        signal.raise_signal(signal.SIGINT)
