"""The one place that holds the Numba jit defaults for every kernel.

Caching is on so a second run skips compilation; TERRASIM_NUMBA_CACHE=0 turns it off.
"""

import os

import numba

CACHE = os.environ.get("TERRASIM_NUMBA_CACHE", "1") != "0"


def njit(*args, **kwargs):
    """`numba.njit` with the project defaults (cache on, no Python fallback)."""
    kwargs.setdefault("cache", CACHE)
    kwargs.setdefault("nogil", True)
    return numba.njit(*args, **kwargs)
