"""The DTDP benchmark: GraphML reader, the published diameter and infeasibility, an engine run."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest

from engine.benchmarks.dtdp import (
    ACTIVITIES,
    dtdp_dir,
    engine_instance,
    infeasibility,
    instance_path,
    max_diameter,
    read_best_allocation,
    read_best_known,
    read_dtdp,
    solve_dtdp,
)
from engine.errors import InputError

_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
    '<key id="d0" for="node" attr.name="n_customers" attr.type="long"/>'
    '<key id="d1" for="node" attr.name="demand" attr.type="long"/>'
    '<key id="d2" for="node" attr.name="workload" attr.type="long"/>'
    '<key id="d3" for="edge" attr.name="distance" attr.type="double"/>'
    '<graph edgedefault="undirected">'
)


def _graphml(nodes: dict[str, tuple[int, int, int]], edges: list[tuple[str, str, float]]) -> str:
    body = "".join(
        f'<node id="{n}"><data key="d0">{a}</data><data key="d1">{b}</data>'
        f'<data key="d2">{c}</data></node>'
        for n, (a, b, c) in nodes.items()
    )
    body += "".join(
        f'<edge source="{s}" target="{t}"><data key="d3">{w}</data></edge>' for s, t, w in edges
    )
    return _HEAD + body + "</graph></graphml>\n"


@pytest.fixture
def dtdp():
    directory = dtdp_dir()
    if directory is None:
        pytest.skip("shared folder with benchmarks/dtdp_aly2024 is absent (set TERRASIM_SHARED)")
    return directory


def test_read_a_small_graph_with_grid_ids(tmp_path: Path):
    # A 3x3 grid's ids 0, 1, 4, 8 (no coordinates): path 0-1-4-8 plus a long edge 0-8.
    nodes = {"0": (1, 10, 5), "1": (2, 20, 6), "4": (3, 30, 7), "8": (4, 40, 8)}
    edges = [("0", "1", 1.0), ("1", "4", 2.0), ("4", "8", 3.0), ("0", "8", 10.0)]
    path = tmp_path / "tiny.graphml.gz"
    path.write_bytes(gzip.compress(_graphml(nodes, edges).encode()))
    data = read_dtdp(path)
    assert data.name == "tiny" and data.node_ids == ("0", "1", "4", "8") and data.n_edges == 4
    np.testing.assert_array_equal(data.activity, [[1, 2, 3, 4], [10, 20, 30, 40], [5, 6, 7, 8]])
    np.testing.assert_array_equal(data.distance[0], [0, 1, 3, 6])  # 0-8 goes round: 6 < 10
    np.testing.assert_array_equal(data.xy, [[0, 0], [1, 0], [1, 1], [2, 2]])


def test_malformed_graphs_are_input_errors(tmp_path: Path):
    split = tmp_path / "split.graphml"
    split.write_text(_graphml({"0": (1, 1, 1), "1": (1, 1, 1), "2": (1, 1, 1)}, [("0", "1", 1)]))
    with pytest.raises(InputError, match="not connected"):
        read_dtdp(split)
    broken = tmp_path / "broken.graphml"
    broken.write_text("<graphml><graph>")
    with pytest.raises(InputError, match="not a GraphML"):
        read_dtdp(broken)
    stray = tmp_path / "stray.graphml"
    stray.write_text(_graphml({"0": (1, 1, 1)}, [("0", "9", 1)]))
    with pytest.raises(InputError, match="unknown node"):
        read_dtdp(stray)


def _plain_diameter(labels, distance):
    worst = 0.0
    for a, b in itertools.combinations(range(len(labels)), 2):
        if labels[a] == labels[b]:
            worst = max(worst, distance[a, b])
    return worst


def _plain_infeasibility(labels, activity, p, delta):
    total = 0.0
    for a in range(activity.shape[0]):
        mean = activity[a].sum() / p
        for k in range(p):
            s = activity[a][labels == k].sum()
            total += max(s - (1 + delta) * mean, (1 - delta) * mean - s, 0.0) / mean
    return total


def test_diameter_and_infeasibility_match_plain_loops():
    rng = np.random.default_rng(3)
    points = rng.random((30, 2))
    distance = np.linalg.norm(points[:, None] - points[None], axis=2)
    activity = rng.integers(1, 20, size=(3, 30)).astype(float)
    for seed in range(5):
        labels = np.random.default_rng(seed).integers(0, 4, 30)
        assert max_diameter(labels, distance) == _plain_diameter(labels, distance)
        assert infeasibility(labels, activity, 4, 0.05) == pytest.approx(
            _plain_infeasibility(labels, activity, 4, 0.05), abs=1e-12
        )
    even = np.arange(30) % 3
    flat = np.ones((3, 30))
    assert infeasibility(even, flat, 3, 0.05) == 0.0


def test_published_best_known_designs_score_their_published_values(dtdp):
    best = read_best_known(dtdp)
    assert len(best) == 60
    for name in ("planar500_G0", "Corners486_G0"):
        data = read_dtdp(instance_path(name, dtdp))
        labels = read_best_allocation(data, dtdp)
        assert infeasibility(labels, data.activity) == 0.0
        assert _plain_diameter(labels, data.distance) == pytest.approx(best[name]["objective"])
    assert (data.n_nodes, data.n_edges) == (486, 626)
    assert ACTIVITIES == ("n_customers", "demand", "workload")


def test_the_engine_instance_bands_all_three_activities(dtdp):
    data = read_dtdp(instance_path("planar500_G0", dtdp))
    instance = engine_instance(data, np.arange(10), power=2.0)
    assert instance.distance_matrix.shape == (500, 10)
    workload = data.activity[2]
    np.testing.assert_allclose(
        instance.distance_matrix * workload[:, None], data.distance[:, :10] ** 2
    )
    np.testing.assert_array_equal(instance.accounts.extra["demand"], data.activity[1])
    np.testing.assert_array_equal(instance.accounts.extra["n_customers"], data.activity[0])


def test_engine_design_is_feasible_with_the_diameter_it_reports(dtdp):
    data = read_dtdp(instance_path("planar500_G0", dtdp))
    result = solve_dtdp(data, time_limit=3.0, seed=0)
    labels = result["labels"]
    assert labels.shape == (500,) and set(labels.tolist()) == set(range(10))
    assert result["feasible"] and result["infeasibility"] == 0.0
    assert _plain_infeasibility(labels, data.activity, 10, 0.05) == 0.0
    assert result["diameter"] == _plain_diameter(labels, data.distance)
