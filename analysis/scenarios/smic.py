"""SMIC (Duperrin & Godet 1975): coherent scenario probabilities from P(i), P(i|j), P(i|not j).

The unknowns are the 2^n scenario probabilities pi_k. The objective (methods.md section 4)

    sum_{i != j} [P(i|j) P(j) - P*(i and j)]^2 + [P(i|not j) (1 - P(j)) - P*(i and not j)]^2
    (+ sum_i [P(i) - P*(i)]^2 when include_marginals)

depends on pi only through its moments m = (P*(i), P*(i and j)), so it is a least-squares problem
in the n + n(n-1)/2 moments, restricted to moments some distribution can have. With R the
triangular factor of that least-squares matrix, the objective is ||R M pi - c||^2 + const, i.e.
the squared distance from the origin of a point in the convex hull of the columns R v_k - c: a
minimum-norm-point problem, solved exactly by one non-negative least-squares call (Lawson-Hanson):
minimising ||Y u||^2 + (1'u - 1)^2 over u >= 0 gives u proportional to an optimal pi.

The optimal moments m* are unique (the least-squares matrix has full column rank), pi is not. The
reported pi is the maximum-entropy one among all optimal pi (moments fixed at m*), fitted by Newton
on the convex dual over the scenarios that can carry mass at the optimum; each listed scenario's
[min, max] probability over all optimal pi comes from two LPs (see _lp.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy

from analysis.errors import InputError
from analysis.scenarios._common import (
    FloatArray,
    check_matrix,
    check_vector,
    event_keys_for,
    log_sum_exp,
    occurring_events,
    pair_indices,
    provisional_keys,
    state_bits,
    state_labels,
    states_from_labels,
)
from analysis.scenarios._lp import ZERO, ExtremeProbabilities, moment_features

#: SMIC lists every scenario; beyond this many events use fit_maxent and top_k instead
MAX_EVENTS = 16

BoundsFor = int | Sequence[int | str] | Literal["all"]


@dataclass(frozen=True, eq=False)
class SmicResult:
    """Coherent probabilities and ranked scenarios; arrays are indexed in event order."""

    event_keys: tuple[str, ...]
    #: value of the minimised sum of squares (0 when the inputs are coherent)
    objective: float
    #: coherent P*(i)
    p_star: FloatArray
    #: coherent P*(i | j) in cell [i, j]; NaN on the diagonal and where P*(j) = 0
    p_given_star: FloatArray
    #: coherent P*(i | not j) in cell [i, j]; NaN on the diagonal and where P*(j) = 1
    p_given_not_star: FloatArray
    #: the maximum-entropy optimal pi, by state index (event i is bit i of the index)
    probabilities: FloatArray
    #: one row per scenario, best first: rank, state, label, occurring, probability, lower, upper
    scenarios: pd.DataFrame
    include_marginals: bool
    #: how many scenarios can carry probability in some optimal pi
    support_size: int
    #: by state index: True where some optimal pi gives the scenario probability (all others are
    #: 0 in every optimal pi)
    possible: npt.NDArray[np.bool_]
    #: the optimal moments m* (P*(i), then P*(i and j) for i < j in row order)
    optimal_moments: FloatArray
    #: True when the maximum-entropy fit met its tolerance
    maxent_converged: bool
    #: another optimal pi, with at most n(n+1)/2 + 1 scenarios (a vertex of the optimal set)
    sparse_optimum: FloatArray
    #: by moment (layout of optimal_moments): True where the optimum fixes it; False for the
    #: P(i and j) of pairs asked in neither direction (unknown: any value a distribution allows)
    constrained: npt.NDArray[np.bool_]

    def bounds_of(self, mask: npt.ArrayLike) -> tuple[float, float]:
        """[min, max] total probability of the scenarios in mask (by state index) over optimal pi."""
        selected = np.asarray(mask, dtype=bool)
        n = len(self.event_keys)
        if selected.shape != (2**n,):
            raise InputError(
                f"mask must have one entry per scenario ({2**n}), not {selected.shape}"
            )
        if not selected.any():
            return 0.0, 0.0
        if selected.all():
            return 1.0, 1.0
        lp = ExtremeProbabilities(
            n,
            moment_features(state_bits(n)),
            self.optimal_moments,
            self.possible,
            rows=self.constrained,
        )
        lp.seed_pool(np.flatnonzero(self.sparse_optimum > 0))
        lower = lp.extreme_of_set(selected, -1)
        upper = lp.extreme_of_set(selected, +1)
        value = float(self.probabilities[selected].sum())
        return min(lower, value), max(upper, value)

    def state_bounds(self, states: Sequence[int]) -> tuple[FloatArray, FloatArray]:
        """[min, max] probability of each listed scenario (state index) over all optimal pi."""
        n = len(self.event_keys)
        lower = np.full(2**n, np.nan)
        upper = np.full(2**n, np.nan)
        chosen = [int(s) for s in states]
        if chosen:
            _fill_bounds(
                n,
                moment_features(state_bits(n)),
                self.optimal_moments,
                self.constrained,
                self.sparse_optimum,
                self.probabilities,
                self.possible,
                chosen,
                lower,
                upper,
            )
        picked = np.asarray(chosen, dtype=np.int64)
        return lower[picked], upper[picked]


def _least_squares_system(
    p: FloatArray,
    p_given: FloatArray,
    p_given_not: FloatArray,
    include_marginals: bool,
    asked: npt.NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Matrix A and target b with objective ||A m - b||^2 over the moments m (all d columns).

    With `asked`, only the cells [i, j] it marks enter: an unasked P(i | j) is no constraint.
    """
    n = p.size
    rows_i, cols_j = pair_indices(n)
    d = n + rows_i.size
    pair_column = np.full((n, n), -1, dtype=np.int64)
    pair_column[rows_i, cols_j] = n + np.arange(rows_i.size)
    pair_column[cols_j, rows_i] = n + np.arange(rows_i.size)
    cells = ~np.eye(n, dtype=bool)
    if asked is not None:
        cells &= asked
    ordered_i, ordered_j = np.nonzero(cells)
    count = ordered_i.size
    joint = np.zeros((count, d))
    joint[np.arange(count), pair_column[ordered_i, ordered_j]] = 1.0
    joint_target = p_given[ordered_i, ordered_j] * p[ordered_j]
    only_i = np.zeros((count, d))
    only_i[np.arange(count), ordered_i] = 1.0
    only_i[np.arange(count), pair_column[ordered_i, ordered_j]] = -1.0
    only_i_target = p_given_not[ordered_i, ordered_j] * (1.0 - p[ordered_j])
    blocks = [joint, only_i]
    targets = [joint_target, only_i_target]
    if include_marginals:
        blocks.append(np.hstack([np.eye(n), np.zeros((n, d - n))]))
        targets.append(p)
    return np.vstack(blocks), np.concatenate(targets)


#: NNLS works on all columns at once up to this many scenarios, on growing subsets beyond
DIRECT_NNLS_LIMIT = 4096


def _nonnegative_least_squares(matrix: FloatArray, target: FloatArray) -> FloatArray:
    """argmin ||matrix u - target|| over u >= 0 (Lawson-Hanson), by column generation when wide.

    With many more columns than rows, solve on a subset, then add the columns whose gradient
    says they would lower the residual (w = matrix' residual > 0), until none would: the KKT
    conditions of the full problem, so the answer is the full problem's.
    """
    columns = matrix.shape[1]
    if columns <= DIRECT_NNLS_LIMIT:
        return np.asarray(
            scipy.optimize.nnls(matrix, target, maxiter=50 * columns)[0], dtype=np.float64
        )
    gain = matrix.T @ target
    chosen = np.argsort(-gain)[: DIRECT_NNLS_LIMIT // 4]
    tolerance = 1e-12 * max(1.0, float(np.abs(matrix).max()))
    while True:
        local = np.asarray(
            scipy.optimize.nnls(matrix[:, chosen], target, maxiter=50 * chosen.size)[0]
        )
        residual = target - matrix[:, chosen] @ local
        gain = matrix.T @ residual
        gain[chosen] = -np.inf
        entering = np.flatnonzero(gain > tolerance)
        if entering.size == 0:
            weights = np.zeros(columns)
            weights[chosen] = local
            return weights
        best = entering[np.argsort(-gain[entering])[: DIRECT_NNLS_LIMIT // 4]]
        # keep the columns in use and bring in the new ones
        chosen = np.concatenate([chosen[local > 0], best])


def _conjugate_gradient(matrix: FloatArray, rhs: FloatArray) -> FloatArray:
    """x with matrix x = rhs for a symmetric positive semi-definite matrix (rhs in its range).

    Plain conjugate gradients from 0, at most 2 d steps: no LAPACK call, which on busy cores
    can cost a hundred times its quiet-machine time for these small matrices.
    """
    x = np.zeros_like(rhs)
    residual = rhs.copy()
    direction = residual.copy()
    squared = float(residual @ residual)
    stop = 1e-24 * squared
    for _ in range(2 * rhs.size):
        product = matrix @ direction
        curvature = float(direction @ product)
        if curvature <= 0.0 or squared <= stop:
            break
        alpha = squared / curvature
        x += alpha * direction
        residual -= alpha * product
        new_squared = float(residual @ residual)
        direction = residual + (new_squared / squared) * direction
        squared = new_squared
    return x


def dense_maxent(
    features: FloatArray, target: FloatArray, *, tolerance: float = 1e-12, max_iter: int = 200
) -> tuple[FloatArray, bool]:
    """Maximum-entropy distribution over the rows of `features` (states x d) with these means.

    Damped Newton on the convex dual log sum_k exp(theta . phi_k) - theta . target, the Newton
    system solved by conjugate gradients (which stay out of singular directions: features
    constant on these states). Returns (probabilities, converged); not converged when the means
    need a state to have probability 0.
    """
    theta = np.zeros(features.shape[1])

    def dual(values: FloatArray) -> tuple[float, FloatArray]:
        energies = features @ values
        log_partition = log_sum_exp(energies)
        return log_partition - float(values @ target), np.exp(energies - log_partition)

    value, probabilities = dual(theta)
    for _ in range(max_iter):
        mean = features.T @ probabilities
        gradient = mean - target
        if float(np.max(np.abs(gradient), initial=0.0)) <= tolerance:
            return probabilities, True
        # centred in float64 (no cancellation), multiplied in float32: the Hessian only steers
        # the step, and float64 BLAS products of this shape stall on busy cores
        centred = (features - mean).astype(np.float32)
        weighted = centred * probabilities.astype(np.float32)[:, None]
        hessian = (weighted.T @ centred).astype(np.float64)
        step = -_conjugate_gradient(hessian, gradient)
        slope = float(gradient @ step)
        if slope >= 0.0:
            break
        t = 1.0
        while t > 1e-12:
            trial_value, trial_probabilities = dual(theta + t * step)
            if trial_value <= value + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            break
        theta = theta + t * step
        value, probabilities = trial_value, trial_probabilities
        if float(np.max(np.abs(theta))) > 80.0:
            break  # the means sit on the boundary: some state must get probability 0
    mean = features.T @ probabilities
    return probabilities, float(np.max(np.abs(mean - target), initial=0.0)) <= tolerance


def _conditionals(moments: FloatArray, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """P*(i), P*(i | j) and P*(i | not j) from the moment vector."""
    rows, cols = pair_indices(n)
    marginal = moments[:n].copy()
    joint = np.zeros((n, n))
    joint[rows, cols] = moments[n:]
    joint = joint + joint.T
    with np.errstate(divide="ignore", invalid="ignore"):
        given = joint / marginal[None, :]
        given_not = (marginal[:, None] - joint) / (1.0 - marginal[None, :])
    given[:, marginal <= 0.0] = np.nan
    given_not[:, marginal >= 1.0] = np.nan
    np.fill_diagonal(given, np.nan)
    np.fill_diagonal(given_not, np.nan)
    return marginal, np.clip(given, 0.0, 1.0), np.clip(given_not, 0.0, 1.0)


def _bound_states(bounds_for: BoundsFor, order: npt.NDArray[np.int64], n: int) -> list[int]:
    """State indices whose [min, max] to compute, best first where a count is given."""
    if isinstance(bounds_for, str):
        if bounds_for != "all":
            raise InputError(
                f"bounds_for must be a count, a list of scenarios or 'all', not {bounds_for!r}"
            )
        return [int(s) for s in order]
    if isinstance(bounds_for, bool):
        raise InputError("bounds_for must be a count, a list of scenarios or 'all', not a bool")
    if isinstance(bounds_for, (int, np.integer)):
        if bounds_for < 0:
            raise InputError(f"bounds_for must be >= 0, not {bounds_for}")
        return [int(s) for s in order[: int(bounds_for)]]
    chosen: list[int] = []
    for item in bounds_for:
        if isinstance(item, str):
            state = int(np.dot(states_from_labels([item], n)[0], 1 << np.arange(n)))
        elif (
            isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < 2**n
        ):
            state = int(item)
        else:
            raise InputError(
                f"bounds_for entry {item!r} is neither a scenario label nor a state index"
            )
        chosen.append(state)
    return chosen


def smic(
    p: npt.ArrayLike,
    p_given: npt.ArrayLike,
    p_given_not: npt.ArrayLike,
    *,
    event_keys: Sequence[str] | None = None,
    include_marginals: bool = True,
    bounds_for: BoundsFor = 50,
    asked: npt.ArrayLike | None = None,
) -> SmicResult:
    """Coherent scenario probabilities by SMIC: objective, P*, max-entropy ranking, [min, max] bounds.

    p[i] = P(i); p_given[i, j] = P(i | j); p_given_not[i, j] = P(i | not j) (diagonals ignored).
    bounds_for: how many top-ranked scenarios get [min, max] bounds, or which ones, or "all".
    asked (n x n booleans, default all): the cells [i, j] whose P(i | j), P(i | not j) were
    judged; the others are unknown, not independence: they leave the objective, and a pair asked
    in neither direction leaves P(i and j) free, so the bounds cover every value it can take.
    """
    marginal = check_vector(p, name="p", keys=provisional_keys(p, event_keys))
    n = marginal.size
    keys = event_keys_for(n, event_keys)
    if n < 2:
        raise InputError("SMIC needs at least 2 events")
    if n > MAX_EVENTS:
        raise InputError(
            f"SMIC lists all 2^n scenarios and stops at {MAX_EVENTS} events ({n} given); "
            "use fit_maxent and top_k for more"
        )
    given = check_matrix(p_given, name="p_given", n=n, keys=keys)
    given_not = check_matrix(p_given_not, name="p_given_not", n=n, keys=keys)
    mask = _asked_mask(asked, n)

    full_a, b = _least_squares_system(marginal, given, given_not, include_marginals, mask)
    # moments no row mentions are unknown: the objective does not depend on them
    constrained = np.any(full_a != 0.0, axis=0)
    if not constrained[:n].all():
        missing = [keys[i] for i in np.flatnonzero(~constrained[:n])]
        raise InputError(
            f"without marginals, every event needs an asked pair: none for {', '.join(missing)}"
        )
    a = full_a[:, constrained]
    q, r = np.linalg.qr(a)
    c = q.T @ b
    bits = state_bits(n)
    all_features = moment_features(bits)  # d x 2^n
    features = all_features[constrained]
    points = r @ features - c[:, None]
    augmented = np.vstack([points, np.ones((1, points.shape[1]))])
    unit = np.zeros(augmented.shape[0])
    unit[-1] = 1.0
    weights = _nonnegative_least_squares(augmented, unit)
    if not weights.sum() > 0.0:
        raise RuntimeError("SMIC: the non-negative least-squares step found no distribution")
    optimum = weights / weights.sum()
    moments = features @ optimum
    objective = float(np.sum((a @ moments - b) ** 2))

    # scenarios that can carry mass at the optimum lie on the face where the gradient is smallest
    gradient = 2.0 * (points.T @ (points @ optimum))
    active = gradient <= gradient.min() + 1e-7 * (1.0 + float(np.abs(gradient).max()))
    if not active[optimum > 0.0].all():
        # the least-squares step stopped short of the optimum (some of its states lie off the
        # face of smallest gradient, seen on one expert of a simulated 5,000), so the face
        # says nothing about which states some pi with these moments uses: every state is a
        # candidate, and the linear programs of the max-entropy step find the impossible ones
        active[:] = True
    probabilities, possible, converged = _maxent_on(features, moments, active, n, constrained)
    # the unknown pair moments as the max-entropy pi has them; the fixed ones are m*
    full_moments = all_features @ probabilities
    full_moments[constrained] = moments

    # ties (equal up to rounding noise) go to the lower state index, so rankings are reproducible
    order = np.lexsort((np.arange(2**n), -np.round(probabilities, 12))).astype(np.int64)
    lower = np.full(2**n, np.nan)
    upper = np.full(2**n, np.nan)
    chosen = _bound_states(bounds_for, order, n)
    if chosen:
        _fill_bounds(
            n,
            all_features,
            full_moments,
            constrained,
            optimum,
            probabilities,
            possible,
            chosen,
            lower,
            upper,
        )

    bits_ranked = bits[order]
    scenarios = pd.DataFrame(
        {
            "rank": np.arange(1, 2**n + 1),
            "state": order,
            "label": state_labels(bits_ranked),
            "occurring": occurring_events(bits_ranked, keys),
            "probability": probabilities[order],
            "lower": lower[order],
            "upper": upper[order],
        }
    )
    p_star, given_star, given_not_star = _conditionals(full_moments, n)
    return SmicResult(
        event_keys=keys,
        objective=objective,
        p_star=p_star,
        p_given_star=given_star,
        p_given_not_star=given_not_star,
        probabilities=probabilities,
        scenarios=scenarios,
        include_marginals=include_marginals,
        support_size=int(possible.sum()),
        possible=possible,
        optimal_moments=full_moments,
        maxent_converged=converged,
        sparse_optimum=optimum,
        constrained=constrained,
    )


def _asked_mask(asked: npt.ArrayLike | None, n: int) -> npt.NDArray[np.bool_] | None:
    """The asked cells as an n x n boolean array (None: all asked)."""
    if asked is None:
        return None
    mask = np.asarray(asked)
    if mask.shape != (n, n) or mask.dtype != np.bool_:
        raise InputError(f"asked must be an {n} x {n} array of booleans, not {mask.shape}")
    return mask


def _allowed_by_pairs(
    features: FloatArray, moments: FloatArray, n: int, constrained: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """False for states that a zero cell of some pair's 2 x 2 table rules out (e.g. P*(i and j) = 0).

    features and moments hold the constrained moments only (marginals first, all of them).
    """
    t = features[:n].T > 0.5
    rows, cols = pair_indices(n)
    # position of each pair's moment among the constrained ones (-1: unknown pair)
    position = np.cumsum(constrained) - 1
    position[~constrained] = -1
    allowed = np.ones(t.shape[0], dtype=bool)
    for i in range(n):  # certain or impossible events
        if moments[i] <= 1e-12:
            allowed &= ~t[:, i]
        elif moments[i] >= 1.0 - 1e-12:
            allowed &= t[:, i]
    for r, (i, j) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        if position[n + r] < 0:
            continue  # an unknown pair rules nothing out
        both = moments[position[n + r]]
        cells = {
            (True, True): both,
            (True, False): moments[i] - both,
            (False, True): moments[j] - both,
            (False, False): 1.0 - moments[i] - moments[j] + both,
        }
        for (a, b), value in cells.items():
            if value <= 1e-12:
                allowed &= ~((t[:, i] == a) & (t[:, j] == b))
    return allowed


def _reachable(
    features: FloatArray, moments: FloatArray, candidates: npt.NDArray[np.int64], fitted: FloatArray
) -> npt.NDArray[np.int64]:
    """The candidates some distribution with these moments gives mass to (resolution 1e-12).

    A failed max-entropy fit drives the impossible states towards 0. Starting from the states
    it left below 1e-6, each LP maximises their total probability: the ones it makes positive
    are possible after all; when the maximum is 0, the rest are impossible.
    """
    suspects = fitted < 1e-6
    if not suspects.any():
        return candidates
    matrix = np.vstack([features[:, candidates], np.ones((1, candidates.size))])
    rhs = np.append(moments, 1.0)
    while suspects.any():
        result = scipy.optimize.linprog(
            np.where(suspects, -1.0, 0.0),
            A_eq=matrix,
            b_eq=rhs,
            bounds=(0.0, None),
            method="highs-ds",
        )
        if result.status != 0 or result.x is None:
            return candidates  # cannot tell: keep them all
        found = suspects & (np.asarray(result.x) > 1e-12)
        if not found.any():
            break
        suspects &= ~found
    return candidates[~suspects]


def _maxent_on(
    features: FloatArray,
    moments: FloatArray,
    active: npt.NDArray[np.bool_],
    n: int,
    constrained: npt.NDArray[np.bool_],
) -> tuple[FloatArray, npt.NDArray[np.bool_], bool]:
    """Max-entropy pi with these moments on the states that can carry mass: (pi, them, ok).

    A failed fit is the sign that some candidates must be exactly 0, and LPs find them; so do
    tiny fitted probabilities when there are few candidates. With more than DIRECT_NNLS_LIMIT
    candidates a converged fit is kept as it is: states it leaves below ~1e-12 may then be
    counted as possible although they must be 0 (their probabilities are 0 to that precision).
    """
    states = features.shape[1]
    candidates = np.flatnonzero(active & _allowed_by_pairs(features, moments, n, constrained))
    local, converged = dense_maxent(features[:, candidates].T, moments)
    # a converged fit can still hide states that must be 0 behind probabilities of ~1e-12;
    # LPs tell them apart from real tiny ones (cheaply up to 12 events)
    doubtful = float(local.min(initial=1.0)) < 1e-9 and candidates.size <= DIRECT_NNLS_LIMIT
    if not converged or doubtful:
        kept = _reachable(features, moments, candidates, local)
        if kept.size < candidates.size:
            candidates = kept
            local, converged = dense_maxent(features[:, candidates].T, moments)
    probabilities = np.zeros(states)
    probabilities[candidates] = local
    possible = np.zeros(states, dtype=bool)
    possible[candidates] = True
    return probabilities, possible, converged


def _hamming_path(states: list[int]) -> list[int]:
    """The states reordered so that each differs from the one before in few events.

    Each warm-started LP then starts from a nearby right-hand side: about a third fewer
    simplex pivots than in rank order.
    """
    if len(states) <= 2:
        return list(states)
    remaining = np.asarray(states[1:], dtype=np.int64)
    # bits set in every number below 2^MAX_EVENTS, built by doubling
    popcount = np.zeros(1, dtype=np.int64)
    while popcount.size < 2**MAX_EVENTS:
        popcount = np.concatenate([popcount, popcount + 1])
    path = [states[0]]
    while remaining.size:
        distance = popcount[np.bitwise_xor(remaining, path[-1])]
        nearest = int(np.argmin(distance))
        path.append(int(remaining[nearest]))
        remaining = np.delete(remaining, nearest)
    return path


def _fill_bounds(
    n: int,
    features: FloatArray,
    moments: FloatArray,
    constrained: npt.NDArray[np.bool_],
    optimum: FloatArray,
    maxent: FloatArray,
    possible: npt.NDArray[np.bool_],
    chosen: list[int],
    lower: FloatArray,
    upper: FloatArray,
) -> None:
    """Two LPs per chosen state; a minimum is 0 for free once any optimal pi found leaves it out."""
    lp = ExtremeProbabilities(n, features, moments, possible, rows=constrained)
    lp.seed_pool(np.flatnonzero(optimum > 0))  # a feasible pi's support
    seen_zero = optimum <= ZERO
    for state in _hamming_path(chosen):
        upper[state], solution = lp.extreme(state, +1)
        seen_zero |= solution <= ZERO
    for state in chosen:
        if seen_zero[state]:
            lower[state] = 0.0
        else:
            lower[state], solution = lp.extreme(state, -1)
            seen_zero |= solution <= ZERO
    picked = np.asarray(chosen, dtype=np.int64)
    # LP tolerances (1e-9) must not put the max-entropy value outside its own bounds
    lower[picked] = np.minimum(lower[picked], maxent[picked])
    upper[picked] = np.maximum(upper[picked], maxent[picked])
    if math.isnan(float(lower[picked].sum())):
        raise RuntimeError("SMIC: a scenario bound LP returned no value")
