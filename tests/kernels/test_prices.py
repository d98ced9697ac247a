"""kernels.prices.rule_prices against a plain-Python transcription of its rule."""

import math

import numpy as np
import pytest

from kernels.prices import rule_prices


def plain_rule_prices(rep, cost, coefficient, inverse_scale, lower, upper, rounds, step):
    """Each round: every account to its listed rep of least priced cost (first on a tie), then
    each price moves toward its bounds by a step that grows ×1.2 on the same side, halves
    inside or on a flip; return the least violation and the prices of that round."""
    n_accounts, n_listed = rep.shape
    n_rows, n_reps = lower.shape
    current = [[0.0] * n_reps for _ in range(n_rows)]
    steps = [[step] * n_reps for _ in range(n_rows)]
    last = [[0.0] * n_reps for _ in range(n_rows)]
    least, best = math.inf, [[0.0] * n_reps for _ in range(n_rows)]
    for _ in range(rounds):
        load = [[0.0] * n_reps for _ in range(n_rows)]
        for i in range(n_accounts):
            priced = []
            for c in range(n_listed):
                j = int(rep[i, c])
                if j < 0:
                    break
                value = cost[i, c]
                for r in range(n_rows):
                    value += current[r][j] * coefficient[r, i] * inverse_scale[r, j]
                priced.append((value, c, j))
            if priced:
                j = min(priced)[2]
                for r in range(n_rows):
                    load[r][j] += coefficient[r, i] * inverse_scale[r, j]
        violation = 0.0
        for r in range(n_rows):
            for j in range(n_reps):
                over, under = load[r][j] - upper[r, j], lower[r, j] - load[r][j]
                sign = 1.0 if over > 0 else -1.0 if under > 0 else 0.0
                violation += max(over, 0.0) + max(under, 0.0)
                if sign == 0.0 or (last[r][j] not in (0.0, sign)):
                    steps[r][j] *= 0.5
                elif sign == last[r][j]:
                    steps[r][j] *= 1.2
                current[r][j] += steps[r][j] * sign
                last[r][j] = sign
        if violation < least:
            least, best = violation, [row[:] for row in current]
            if violation == 0.0:
                break
    return least, np.array(best)


def random_pricing(seed):
    rng = np.random.default_rng(seed)
    n_accounts, n_reps = int(rng.integers(5, 40)), int(rng.integers(2, 7))
    n_listed = int(rng.integers(1, n_reps + 1))
    rep = np.array([rng.permutation(n_reps)[:n_listed] for _ in range(n_accounts)])
    count = rng.integers(1, n_listed + 1, n_accounts)
    rep[np.arange(n_listed)[None, :] >= count[:, None]] = -1  # shorter lists, -1 padded
    cost = np.where(rep >= 0, rng.uniform(0.0, 1.0, rep.shape), np.inf)
    n_rows = int(rng.integers(1, 4))
    coefficient = rng.lognormal(0.0, 1.0, (n_rows, n_accounts))
    share = rng.dirichlet(np.ones(n_reps), n_rows)
    inverse_scale = 1.0 / (share * coefficient.sum(axis=1, keepdims=True))
    tolerance = rng.uniform(0.02, 0.5, (n_rows, 1))
    lower, upper = (
        np.full((n_rows, n_reps), 1.0 - tolerance),
        np.full((n_rows, n_reps), 1.0 + tolerance),
    )
    lower[rng.random((n_rows, n_reps)) < 0.2] = -np.inf  # upper-only rows, like capacity
    return rep, cost, coefficient, inverse_scale, lower, upper


@pytest.mark.parametrize("seed", range(12))
def test_rule_prices_match_the_plain_rule(seed):
    rep, cost, coefficient, inverse_scale, lower, upper = random_pricing(seed)
    rounds, step = 60, 0.05
    price = np.full(lower.shape, np.nan)
    least = rule_prices(rep, cost, coefficient, inverse_scale, lower, upper, rounds, step, price)
    expected_least, expected_price = plain_rule_prices(
        rep, cost, coefficient, inverse_scale, lower, upper, rounds, step
    )
    assert least == pytest.approx(expected_least, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(price, expected_price, rtol=1e-9, atol=1e-12)


def test_prices_balance_two_reps_that_the_cost_alone_would_not():
    # Ten equal accounts all nearer rep 0; a ±10 % band on count needs five on each rep.
    rep = np.tile(np.array([0, 1]), (10, 1))
    cost = np.column_stack([np.linspace(0.0, 0.9, 10), np.ones(10)])
    coefficient = np.ones((1, 10))
    inverse_scale = np.full((1, 2), 1.0 / 5.0)
    lower, upper = np.full((1, 2), 0.9), np.full((1, 2), 1.1)
    price = np.empty((1, 2))
    least = rule_prices(rep, cost, coefficient, inverse_scale, lower, upper, 200, 0.01, price)
    assert least == 0.0
    chosen = np.argmin(cost + price[0] * coefficient[0][:, None] * inverse_scale[0], axis=1)
    assert np.bincount(chosen, minlength=2).tolist() == [5, 5]
