"""Evaluating a population of designs at once (DESIGN §4 frontier): one design per row.

The frontier's evolutionary search hands whole generations here; individuals run in parallel.
"""

from numba import prange

from kernels.jit import njit
from kernels.objectives import PARALLEL_FROM, evaluate_design, objectives_from_sums


@njit(parallel=True)
def evaluate_population(
    designs, accounts, reps, distance, rules, totals, grand, sums, violations, objectives
):
    """Evaluate every design of a population from scratch (DESIGN §3).

    Each individual is `evaluate_design` then `objectives_from_sums` on its own rows of the
    caller's buffers, so results are bit-identical to evaluating the designs one by one, and
    identical for any number of Numba threads.

    Parameters
    ----------
    designs : int64[pop, n_accounts]
        Rep of each account in each design, -1 when unassigned.
    accounts : AccountArrays
    reps : RepArrays
    distance : DistanceArrays
    rules : RuleArrays
    totals : float64[pop, n_measures, n_reps]
        Out: X_mj of each design.
    grand : float64[pop, n_measures]
        Out: each measure summed over all accounts.
    sums : float64[pop, N_SUMS]
        Out: the running sums of kernels/objectives.py.
    violations : float64[pop, N_RULES]
        Out: each rule's violation amount.
    objectives : float64[pop, N_OBJECTIVES]
        Out: the five objectives, indexed by kernels.arrays' constants.

    Notes
    -----
    Below PARALLEL_FROM accounts a design is evaluated serially and the individuals run in
    parallel; above it each design's evaluation is itself parallel over account blocks and the
    individuals run one after another, so parallel regions never nest.
    """
    n_designs, n_accounts = designs.shape
    if n_accounts >= PARALLEL_FROM:
        for k in range(n_designs):
            evaluate_design(
                designs[k],
                accounts,
                reps,
                distance,
                rules,
                totals[k],
                grand[k],
                sums[k],
                violations[k],
            )
            objectives_from_sums(sums[k], grand[k], objectives[k])
    else:
        for k in prange(n_designs):
            evaluate_design(
                designs[k],
                accounts,
                reps,
                distance,
                rules,
                totals[k],
                grand[k],
                sums[k],
                violations[k],
            )
            objectives_from_sums(sums[k], grand[k], objectives[k])
