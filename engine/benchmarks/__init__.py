"""Benchmark instances from the literature and the quality tables run on them.

Instance files live in the shared folder (TERRASIM_SHARED, default `<repo>/../shared`), never in
the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path | None:
    """The shared folder with the benchmark instances, or None when it is absent.

    Returns
    -------
    Path or None
        $TERRASIM_SHARED when set, else `<repo>/../shared`; None when that is not a directory.
    """
    configured = os.environ.get("TERRASIM_SHARED")
    path = Path(configured) if configured else _REPO.parent / "shared"
    return path if path.is_dir() else None
