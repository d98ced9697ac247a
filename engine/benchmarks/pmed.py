"""OR-Library uncapacitated p-median instances pmed1–pmed40 (Beasley 1985): reader and optima.

Files: `<shared>/benchmarks/pmed/pmedK.txt` and `pmedopt.txt` (see SOURCE.md there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, shortest_path

from engine.benchmarks import shared_dir
from engine.errors import InputError

INSTANCES = tuple(f"pmed{k}" for k in range(1, 41))


def pmed_dir() -> Path | None:
    """`<shared>/benchmarks/pmed`, or None when the shared folder or that folder is absent."""
    shared = shared_dir()
    if shared is None or not (shared / "benchmarks" / "pmed").is_dir():
        return None
    return shared / "benchmarks" / "pmed"


def read_pmed(path: str | Path) -> tuple[np.ndarray, int]:
    """Read one instance as its all-pairs shortest-path matrix and p.

    The file holds ``n m p`` then m undirected edges ``i j cost`` (1-based). An edge listed more
    than once takes its LAST cost (the OR-Library convention; taking the minimum gives other
    instances, e.g. pmed1 optimum 5718 instead of 5819).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    distance : float64[n, n]
        Shortest-path distances between vertices (Dijkstra).
    p : int
        Number of medians.

    Raises
    ------
    InputError
        On a malformed file or a disconnected graph.
    """
    path = Path(path)
    try:
        numbers = np.array(path.read_text().split(), dtype=np.int64)
    except ValueError as exc:
        raise InputError(str(path), None, f"not a pmed file: {exc}") from None
    if numbers.size < 3:
        raise InputError(str(path), None, "not a pmed file: the header 'n m p' is missing")
    n, m, p = (int(v) for v in numbers[:3])
    if numbers.size != 3 + 3 * m:
        raise InputError(
            str(path), None, f"header promises {m} edges, found {(numbers.size - 3) / 3:g}"
        )
    edges = numbers[3:].reshape(m, 3)
    i = np.minimum(edges[:, 0], edges[:, 1]) - 1
    j = np.maximum(edges[:, 0], edges[:, 1]) - 1
    if n < 1 or not 1 <= p <= n or (m and (i.min() < 0 or j.max() >= n)):
        raise InputError(str(path), None, f"bad header or vertex ids (n={n}, p={p})")
    # The last record of each undirected vertex pair wins: unique keys of the reversed list.
    key = i * n + j
    _, first_from_end = np.unique(key[::-1], return_index=True)
    keep = np.sort(m - 1 - first_from_end)
    keep = keep[i[keep] != j[keep]]  # a self loop never shortens a path
    graph = coo_matrix((edges[keep, 2].astype(np.float64), (i[keep], j[keep])), shape=(n, n))
    graph = graph.tocsr()
    if connected_components(graph, directed=False)[0] != 1:
        raise InputError(str(path), None, "the graph is not connected")
    distance = shortest_path(graph, method="D", directed=False)
    return np.ascontiguousarray(distance), p


def read_pmed_optima(path: str | Path) -> dict[str, int]:
    """Read `pmedopt.txt`: instance name → optimal objective.

    Lines that are not ``name value`` (the header) are skipped.
    """
    optima = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            optima[parts[0]] = int(parts[1])
    return optima
