"""Numba kernel for rule prices: per-rep prices on the linear rules, for the priced LP (DESIGN §4).

Each account goes to the listed rep of least cost plus priced rule use; each rule row's price
rises while its rep is over the row's upper bound and falls while under its lower bound, by a
step that grows while the sign holds and halves when it flips (resilient propagation), so no
step size has to fit the instance's scale.
"""

import numpy as np

from kernels.jit import njit


@njit
def priced_rep(i, rep, cost, coefficient, inverse_scale, price):
    """The listed rep of account i with the least cost plus priced rule use (-1: none listed)."""
    chosen, least = -1, np.inf
    for c in range(rep.shape[1]):
        j = rep[i, c]
        if j < 0:
            break  # lists are -1 padded at the end
        value = cost[i, c]
        for r in range(coefficient.shape[0]):
            value += price[r, j] * coefficient[r, i] * inverse_scale[r, j]
        if value < least:
            chosen, least = j, value
    return chosen


@njit
def rule_prices(rep, cost, coefficient, inverse_scale, lower, upper, rounds, step, price):
    """Search rule prices under which the priced assignment breaks the rules least.

    Parameters
    ----------
    rep : int64[n_accounts, k]
        Listed reps of each account, -1 padded at the end.
    cost : float64[n_accounts, k]
        Cost of each listed rep.
    coefficient : float64[n_rows, n_accounts]
        Each account's use of each per-rep rule row (potential, workload, 1, ...).
    inverse_scale : float64[n_rows, n_reps]
        1 / the row's scale for that rep: loads are compared in scaled units.
    lower, upper : float64[n_rows, n_reps]
        Scaled bounds of each row and rep (±inf where unbounded).
    rounds : int
        Price updates at most (fewer when an assignment breaks no row).
    step : float
        First step of every price (cost per scaled unit).
    price : float64[n_rows, n_reps]
        Out: the prices of the round whose assignment broke the rows least.

    Returns
    -------
    float
        That round's violation: Σ over rows and reps of the scaled distance outside the bounds.
    """
    n_rows, n_reps = lower.shape
    current = np.zeros((n_rows, n_reps))
    steps = np.full((n_rows, n_reps), step)
    last_sign = np.zeros((n_rows, n_reps))
    load = np.empty((n_rows, n_reps))
    least = np.inf
    price[:] = 0.0
    for _ in range(rounds):
        load[:] = 0.0
        for i in range(rep.shape[0]):
            j = priced_rep(i, rep, cost, coefficient, inverse_scale, current)
            if j >= 0:
                for r in range(n_rows):
                    load[r, j] += coefficient[r, i] * inverse_scale[r, j]
        violation = 0.0
        for r in range(n_rows):
            for j in range(n_reps):
                sign = 0.0
                if load[r, j] > upper[r, j]:
                    sign = 1.0
                    violation += load[r, j] - upper[r, j]
                elif load[r, j] < lower[r, j]:
                    sign = -1.0
                    violation += lower[r, j] - load[r, j]
                if sign == 0.0 or (sign != last_sign[r, j] and last_sign[r, j] != 0.0):
                    steps[r, j] *= 0.5  # inside, or overshot: settle
                elif sign == last_sign[r, j]:
                    steps[r, j] *= 1.2  # still on the same side: speed up
                current[r, j] += steps[r, j] * sign
                last_sign[r, j] = sign
        if violation < least:
            least = violation
            price[:] = current
            if violation == 0.0:
                break
    return least
