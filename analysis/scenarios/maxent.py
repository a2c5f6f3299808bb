"""Pairwise maximum-entropy (log-linear, Ising) scenario model.

Among all joint distributions of n events with given P(i) and P(i and j), the one with the most
entropy is p(t) = exp(sum_i h_i t_i + sum_{i<j} J_ij t_i t_j) / Z with t in {0,1}^n (methods.md
section 4). Independent events are the case J = 0.

Fitting solves the convex dual, min log Z(h, J) - h . P(i) - J . P(i and j), by a trust-region
Newton-CG method with exact gradients and Hessian-vector products. Both are sums over all 2^n
states, computed without a states x features matrix: split the events into halves A and B; the
log-weight of state (a, b) is E_A(a) + E_B(b) + a' J_AB b, a 2^|A| x 2^|B| grid built by one matrix
product, and every moment is a row sum, a column sum or T_A' W T_B over that grid (blocked to
bound memory). The optimisation runs in +-1 "spin" coordinates, which are better conditioned.

`top_k` finds the most likely scenarios without listing all 2^n: exactly by enumeration (small n),
by best-first search (independent events: sorted log-odds; dependent events: A* over partial
assignments with an admissible bound), or by seeded Gibbs sampling with intervals.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy

from analysis.errors import InputError
from analysis.scenarios._common import (
    BoolArray,
    FloatArray,
    as_states,
    check_matrix,
    check_positive_int,
    check_seed,
    check_vector,
    event_keys_for,
    occurring_events,
    pair_indices,
    provisional_keys,
    state_bits,
    state_labels,
)

#: the most events fitted exactly by default (2^20 states; a few seconds)
EXACT_LIMIT = 20
#: the most events any exact sum over all states is attempted for
HARD_EXACT_LIMIT = 26
#: scenario indices are int64, so at most this many events
MAX_EVENTS = 62
#: elements of one block of the state grid (32 MB of float64)
BLOCK_ELEMENTS = 1 << 22
Z_95 = 1.959963984540054

TopMethod = Literal["auto", "enumerate", "search", "montecarlo"]


# ---------------------------------------------------------------------------------------------
# Exact sums over all states, on the two-halves grid


def _half_energy(bits: FloatArray, h: FloatArray, J: FloatArray) -> FloatArray:
    return np.asarray(bits @ h + 0.5 * np.einsum("ki,ki->k", bits @ J, bits), dtype=np.float64)


@dataclass(frozen=True)
class _Sums:
    """Sums over all states of weights w: total, sum w t_i and sum w t_i t_j (n x n)."""

    total: float
    first: FloatArray
    second: FloatArray


class _Grid:
    """All 2^n states as a 2^a x 2^b grid (a = n // 2 first events, b = the rest).

    Grid cells are built by doubling (columns with bit j set = columns without it + a row
    vector + a column vector) and moments are read off by folding the columns in halves, so no
    matrix product has a tiny inner dimension: such products are as costly as the doubling
    but slow down badly when a threaded BLAS competes for busy cores.
    """

    def __init__(self, n: int) -> None:
        if n > HARD_EXACT_LIMIT:
            raise InputError(f"{n} events are too many to sum over all 2^{n} scenarios")
        self.n = n
        self.a = n // 2
        self.b = n - self.a
        self.bits_a = state_bits(self.a).astype(np.float64)
        self.bits_b = state_bits(self.b).astype(np.float64)
        block_bits = max(0, int(math.log2(BLOCK_ELEMENTS)) - self.a)
        self.block_bits = min(block_bits, self.b)

    def _parts(self, h: FloatArray, J: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        a = self.a
        energy_a = _half_energy(self.bits_a, h[:a], J[:a, :a])
        energy_b = _half_energy(self.bits_b, h[a:], J[a:, a:])
        coupling_a = self.bits_a @ J[:a, a:]  # 2^a x b: J_AB applied to each A state
        return energy_a, energy_b, coupling_a

    def _block(self, parts: tuple[FloatArray, FloatArray, FloatArray], start: int) -> FloatArray:
        """Log-weights (2^a x 2^block_bits) of B states start, start + 1, ..."""
        energy_a, energy_b, coupling_a = parts
        width = 1 << self.block_bits
        grid = np.empty((energy_a.size, width))
        grid[:, 0] = energy_a + energy_b[start] + coupling_a @ self.bits_b[start]
        for j in range(self.block_bits):
            low, high = slice(0, 1 << j), slice(1 << j, 2 << j)
            step = (
                energy_b[start + (1 << j) : start + (2 << j)] - energy_b[start : start + (1 << j)]
            )
            np.add(grid[:, low], coupling_a[:, j, None], out=grid[:, high])
            grid[:, high] += step[None, :]
        return grid

    def blocks(self, h: FloatArray, J: FloatArray) -> Iterator[tuple[int, FloatArray]]:
        """(first B state, log-weights 2^a x 2^block_bits) for each block of the grid."""
        parts = self._parts(h, J)
        width = 1 << self.block_bits
        for start in range(0, self.bits_b.shape[0], width):
            yield start, self._block(parts, start)

    def flat_blocks(self, h: FloatArray, J: FloatArray) -> Iterator[tuple[int, FloatArray]]:
        """(first state index, log-weights of consecutive states) block by block."""
        rows = self.bits_a.shape[0]
        for start, grid in self.blocks(h, J):
            # state index = row + 2^a * column, so column-major order is index order
            yield start * rows, grid.T.ravel()

    def log_partition(self, h: FloatArray, J: FloatArray) -> float:
        """log Z, summing block by block with a running shift against overflow."""
        shift = -math.inf
        total = 0.0
        for _, grid in self.blocks(h, J):
            top = float(grid.max())
            if top > shift:
                total *= math.exp(shift - top) if math.isfinite(shift) else 0.0
                shift = top
            total += float(np.exp(grid - shift).sum())
        return shift + math.log(total)

    def _fold(self, weights: FloatArray, start: int) -> tuple[FloatArray, FloatArray]:
        """Row sums and, per B event, row sums over the columns where it occurs."""
        per_event = np.empty((weights.shape[0], self.b))
        current = weights
        for j in reversed(range(self.block_bits)):
            half = current.shape[1] // 2
            upper = current[:, half:]
            per_event[:, j] = upper.sum(axis=1)
            current = current[:, :half] + upper
        rows = current[:, 0]
        for j in range(self.block_bits, self.b):  # bits fixed across the block
            per_event[:, j] = rows if (start >> j) & 1 else 0.0
        return rows, per_event

    def sums(
        self,
        h: FloatArray,
        J: FloatArray,
        log_partition: float,
        tilt: tuple[FloatArray, FloatArray] | None = None,
    ) -> _Sums:
        """Moment sums of p(t) = exp(E(t) - log Z), times s(t) = E_tilt(t) when tilt is given."""
        a, n = self.a, self.n
        row_sums = np.zeros(self.bits_a.shape[0])
        column_sums = np.zeros(self.bits_b.shape[0])
        per_event = np.zeros((self.bits_a.shape[0], self.b))
        tilt_parts = self._parts(*tilt) if tilt is not None else None
        for start, grid in self.blocks(h, J):
            weights = np.exp(grid - log_partition)
            if tilt_parts is not None:
                weights *= self._block(tilt_parts, start)
            rows, block_per_event = self._fold(weights, start)
            row_sums += rows
            per_event += block_per_event
            column_sums[start : start + weights.shape[1]] = weights.sum(axis=0)
        first = np.concatenate([self.bits_a.T @ row_sums, self.bits_b.T @ column_sums])
        second = np.zeros((n, n))
        second[:a, :a] = self.bits_a.T @ (row_sums[:, None] * self.bits_a)
        second[a:, a:] = self.bits_b.T @ (column_sums[:, None] * self.bits_b)
        cross = self.bits_a.T @ per_event
        second[:a, a:] = cross
        second[a:, :a] = cross.T
        return _Sums(float(row_sums.sum()), first, second)


# ---------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True, eq=False)
class TopScenarios:
    """The k most likely scenarios and how they were found."""

    #: rank, state, label, occurring, log_weight, relative, probability, lower, upper (+ frequency)
    table: pd.DataFrame
    #: "enumerate", "search" or "montecarlo"
    method: str
    #: True when the list and its probabilities are exact
    exact: bool
    seed: int | None = None
    samples: int = 0
    #: nodes the best-first search expanded (0 for other methods)
    nodes: int = 0


@dataclass(frozen=True, eq=False)
class MaxEntModel:
    """p(t) proportional to exp(h . t + sum_{i<j} J_ij t_i t_j) over t in {0,1}^n."""

    event_keys: tuple[str, ...]
    h: FloatArray
    #: symmetric, zero diagonal
    J: FloatArray
    #: exact log Z when known (enumerated or independent), else None
    log_partition: float | None = None
    method: str = "given"
    iterations: int = 0
    #: largest |model - target| over the fitted P(i) and P(i and j)
    max_moment_error: float = 0.0

    @property
    def n(self) -> int:
        """Number of events."""
        return len(self.event_keys)

    @property
    def independent(self) -> bool:
        """True when there are no pair terms (events independent)."""
        return not bool(np.any(self.J))

    def log_weights(self, states: npt.ArrayLike | Sequence[str]) -> FloatArray:
        """Unnormalised log-probability h . t + t' J t / 2 of each state (rows or bit strings)."""
        bits = as_states(states, self.n).astype(np.float64)
        return _half_energy(bits, self.h, self.J)

    def probability(self, states: npt.ArrayLike | Sequence[str]) -> FloatArray:
        """Probability of each state; needs log Z (exact up to HARD_EXACT_LIMIT events)."""
        return np.exp(self.log_weights(states) - self._log_z())

    def _log_z(self) -> float:
        if self.log_partition is not None:
            return self.log_partition
        if self.independent:
            return _independent_log_partition(self.h)
        if self.n > HARD_EXACT_LIMIT:
            raise InputError(
                f"the normalising constant of {self.n} dependent events is not known exactly; "
                "use top_k(method='montecarlo') for probabilities with intervals"
            )
        return _Grid(self.n).log_partition(self.h, self.J)

    def moments(self) -> tuple[FloatArray, FloatArray]:
        """Exact (P(i), P(i and j)) under the model (diagonal of the matrix = P(i))."""
        if self.independent:
            marginal = 1.0 / (1.0 + np.exp(-self.h))
            joint = np.outer(marginal, marginal)
            np.fill_diagonal(joint, marginal)
            return marginal, joint
        grid = _Grid(self.n)
        sums = grid.sums(self.h, self.J, self._log_z())
        return sums.first, sums.second

    def all_probabilities(self) -> FloatArray:
        """Probability of every state by index (2^n values; at most HARD_EXACT_LIMIT events)."""
        grid = _Grid(self.n)
        log_z = self._log_z()
        return np.concatenate([np.exp(b - log_z) for _, b in grid.flat_blocks(self.h, self.J)])

    def probability_where(self, predicate: Callable[[npt.NDArray[np.uint8]], BoolArray]) -> float:
        """Exact total probability of the states for which predicate(bits) is true."""
        grid = _Grid(self.n)
        log_z = self._log_z()
        total = 0.0
        for first, block in grid.flat_blocks(self.h, self.J):
            bits = state_bits(self.n, np.arange(first, first + block.size))
            chosen = np.asarray(predicate(bits), dtype=bool)
            total += float(np.exp(block[chosen] - log_z).sum())
        return total

    def sample(
        self, size: int, *, seed: int, chains: int = 1000, burn_in: int = 200
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """(size x n states, chain of each row): exact draws up to EXACT_LIMIT events, else Gibbs.

        Gibbs sampling runs `chains` independent chains (vectorised), discards `burn_in` sweeps,
        then keeps one state per chain per sweep; the chain ids let callers estimate Monte Carlo
        error from between-chain variation. Exact draws get chain ids 0..chains-1 round robin.
        """
        size = check_positive_int(size, name="size")
        chains = min(check_positive_int(chains, name="chains"), size)
        rng = np.random.default_rng(check_seed(seed))
        if self.independent:
            marginal = 1.0 / (1.0 + np.exp(-self.h))
            bits = (rng.random((size, self.n)) < marginal).astype(np.uint8)
            return bits, np.arange(size, dtype=np.int64) % chains
        if self.n <= EXACT_LIMIT:
            cumulative = np.cumsum(self.all_probabilities())
            index = np.searchsorted(cumulative, rng.random(size) * cumulative[-1], side="right")
            index = np.minimum(index, cumulative.size - 1)
            return state_bits(self.n, index), np.arange(size, dtype=np.int64) % chains
        return _gibbs(self.h, self.J, size, chains, burn_in, rng)

    def top_k(
        self,
        k: int,
        *,
        method: TopMethod = "auto",
        seed: int = 0,
        samples: int = 200_000,
        chains: int = 1000,
        max_nodes: int = 200_000,
    ) -> TopScenarios:
        """The k most likely scenarios, best first.

        auto: independent events -> exact best-first search; up to EXACT_LIMIT events -> exact
        enumeration; more dependent events -> exact A* search if it finishes within max_nodes
        expansions, else seeded Gibbs sampling (seed, samples, chains) with 95 % intervals.
        """
        k = check_positive_int(k, name="k")
        k = min(k, 2**self.n)
        if method == "auto":
            if self.independent:
                method = "search"
            elif self.n <= EXACT_LIMIT:
                method = "enumerate"
            else:
                found = _best_first(self.h, self.J, k, max_nodes)
                if found is not None:
                    return self._search_result(found)
                method = "montecarlo"
        if method == "enumerate":
            return self._enumerate_top(k)
        if method == "search":
            found = _best_first(self.h, self.J, k, max_nodes)
            if found is None:
                raise InputError(
                    f"best-first search needed more than {max_nodes} expansions; "
                    "raise max_nodes or use method='montecarlo'"
                )
            return self._search_result(found)
        if method == "montecarlo":
            return self._montecarlo_top(k, seed=seed, samples=samples, chains=chains)
        raise InputError(f"unknown top_k method {method!r}")

    def _table(
        self, states: npt.NDArray[np.int64], log_weights: FloatArray, log_z: float | None
    ) -> pd.DataFrame:
        bits = state_bits(self.n, states)
        probability = (
            np.exp(log_weights - log_z) if log_z is not None else np.full(states.size, np.nan)
        )
        relative = np.exp(log_weights - log_weights[0]) if states.size else log_weights
        return pd.DataFrame(
            {
                "rank": np.arange(1, states.size + 1),
                "state": states,
                "label": state_labels(bits),
                "occurring": occurring_events(bits, self.event_keys),
                "log_weight": log_weights,
                "relative": relative,
                "probability": probability,
                "lower": probability.copy(),
                "upper": probability.copy(),
            }
        )

    def _enumerate_top(self, k: int) -> TopScenarios:
        if self.n > HARD_EXACT_LIMIT:
            raise InputError(f"{self.n} events are too many to enumerate; use method='auto'")
        grid = _Grid(self.n)
        best_states = np.zeros(0, dtype=np.int64)
        best_weights = np.zeros(0)
        for first, block in grid.flat_blocks(self.h, self.J):
            take = min(k, block.size)
            local = np.argpartition(-block, take - 1)[:take]
            best_states = np.concatenate([best_states, first + local.astype(np.int64)])
            best_weights = np.concatenate([best_weights, block[local]])
            if best_states.size > 4 * k:
                keep = np.argpartition(-best_weights, k - 1)[:k]
                best_states, best_weights = best_states[keep], best_weights[keep]
        order = np.lexsort((best_states, -np.round(best_weights, 12)))[:k]
        table = self._table(best_states[order], best_weights[order], self._log_z())
        return TopScenarios(table, "enumerate", exact=True)

    def _search_result(self, found: tuple[list[int], list[float], int]) -> TopScenarios:
        states, weights, nodes = found
        log_z: float | None
        if self.independent:
            log_z = _independent_log_partition(self.h)
        elif self.log_partition is not None:
            log_z = self.log_partition
        elif self.n <= EXACT_LIMIT:
            log_z = self._log_z()
        else:
            log_z = None
        table = self._table(np.asarray(states, dtype=np.int64), np.asarray(weights), log_z)
        return TopScenarios(table, "search", exact=log_z is not None, nodes=nodes)

    def _montecarlo_top(self, k: int, *, seed: int, samples: int, chains: int) -> TopScenarios:
        """Rank sampled states by exact weight; probability by a pooled ratio estimator.

        With w_j = exp(log_weight_j) exact, P_j = w_j / Z; over the top set T, sum_T P_j = F is
        estimated by the sampled frequency of T, so P_j = w_j F / sum_T w. The 95 % interval
        scales F by its between-chain standard error (chains are independent).
        """
        bits, chain = self.sample(samples, seed=seed, chains=chains)
        keys = _pack(bits)
        unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        weights = self.log_weights(state_bits(self.n, unique.astype(np.int64)))
        order = np.lexsort((unique, -np.round(weights, 12)))[:k]
        top = np.zeros(unique.size, dtype=bool)
        top[order] = True
        in_top = top[inverse]
        chains_used = int(chain.max()) + 1
        per_chain_hits = np.bincount(chain, weights=in_top, minlength=chains_used)
        per_chain_size = np.bincount(chain, minlength=chains_used)
        share = per_chain_hits / np.maximum(per_chain_size, 1)
        pooled = float(in_top.mean())
        error = float(share.std(ddof=1) / math.sqrt(chains_used)) if chains_used > 1 else math.nan
        chosen_weights = weights[order]
        log_total = float(np.logaddexp.reduce(chosen_weights))
        base = np.exp(chosen_weights - log_total)
        table = self._table(unique[order].astype(np.int64), chosen_weights, None)
        table["probability"] = base * pooled
        table["lower"] = base * max(pooled - Z_95 * error, 0.0)
        table["upper"] = base * min(pooled + Z_95 * error, 1.0)
        table["frequency"] = counts[order] / keys.size
        return TopScenarios(table, "montecarlo", exact=False, seed=seed, samples=int(keys.size))


def _pack(bits: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    weights = np.left_shift(np.int64(1), np.arange(bits.shape[1], dtype=np.int64))
    return np.asarray(bits.astype(np.int64) @ weights, dtype=np.int64)


def _independent_log_partition(h: FloatArray) -> float:
    return float(np.logaddexp(0.0, h).sum())


# ---------------------------------------------------------------------------------------------
# Best-first search


def _best_first(
    h: FloatArray, J: FloatArray, k: int, max_nodes: int
) -> tuple[list[int], list[float], int] | None:
    """Exact k best states by log-weight, or None if more than max_nodes expansions are needed."""
    if not np.any(J):
        return _best_independent(h, k)
    return _astar(h, J, k, max_nodes)


def _best_independent(h: FloatArray, k: int) -> tuple[list[int], list[float], int]:
    """Independent events: flipping event i away from its likelier value costs |h_i|.

    The k cheapest sets of flips come off a heap in order: from a set whose costliest member
    (in ascending cost order) is j, the successors add j+1 or replace j by j+1; every set is
    reached exactly once.
    """
    n = h.size
    best = (h > 0).astype(np.int64)
    best_state = int((best << np.arange(n, dtype=np.int64)).sum())
    best_weight = float(np.maximum(h, 0.0).sum())
    order = np.argsort(np.abs(h), kind="stable")
    costs = np.abs(h)[order].tolist()
    flips = [1 << int(i) for i in order]
    states = [best_state]
    weights = [best_weight]
    heap: list[tuple[float, int, int, int]] = []
    counter = 0
    if n:
        heap.append((costs[0], counter, 0, flips[0]))
    while heap and len(states) < k:
        cost, _, last, mask = heapq.heappop(heap)
        states.append(best_state ^ mask)
        weights.append(best_weight - cost)
        if last + 1 < n:
            following = last + 1
            counter += 1
            heapq.heappush(
                heap, (cost + costs[following], counter, following, mask | flips[following])
            )
            swapped = (mask & ~flips[last]) | flips[following]
            counter += 1
            heapq.heappush(
                heap, (cost - costs[last] + costs[following], counter, following, swapped)
            )
    return states, weights, len(states)


def _astar(
    h: FloatArray, J: FloatArray, k: int, max_nodes: int
) -> tuple[list[int], list[float], int] | None:
    """A* over partial assignments in a fixed event order.

    For unassigned event u with field f_u = h_u + sum_{assigned j} J_uj t_j, any completion adds
    at most sum_u max(0, f_u + R_u), where R_u sums the positive couplings from u to events later
    in the order (each unassigned pair counted once). The bound is admissible, so complete states
    leave the queue in order of their exact log-weight.
    """
    n = h.size
    order = np.argsort(-(np.abs(h) + np.abs(J).sum(axis=1)), kind="stable")
    h_ordered = h[order]
    J_ordered = J[np.ix_(order, order)]
    positive_later = np.triu(np.maximum(J_ordered, 0.0), 1).sum(axis=1)
    bit_of = [1 << int(i) for i in order]
    heap: list[tuple[float, int, int, int, float, FloatArray]] = []
    counter = 0
    root_bound = float(np.maximum(h_ordered + positive_later, 0.0).sum())
    heap.append((-root_bound, counter, 0, 0, 0.0, h_ordered.copy()))
    states: list[int] = []
    weights: list[float] = []
    expanded = 0
    while heap and len(states) < k:
        _, _, depth, state, energy, fields = heapq.heappop(heap)
        if depth == n:
            states.append(state)
            weights.append(energy)
            continue
        expanded += 1
        if expanded > max_nodes:
            return None
        for value in (0, 1):
            if value:
                child_energy = energy + float(fields[depth])
                child_fields = fields + J_ordered[depth]
                child_state = state | bit_of[depth]
            else:
                child_energy = energy
                child_fields = fields
                child_state = state
            rest = child_fields[depth + 1 :] + positive_later[depth + 1 :]
            bound = child_energy + float(np.maximum(rest, 0.0).sum())
            counter += 1
            heapq.heappush(
                heap, (-bound, counter, depth + 1, child_state, child_energy, child_fields)
            )
    return states, weights, expanded


# ---------------------------------------------------------------------------------------------
# Gibbs sampling


def _gibbs(
    h: FloatArray,
    J: FloatArray,
    size: int,
    chains: int,
    burn_in: int,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Systematic-scan Gibbs sampling, vectorised over independent chains."""
    n = h.size
    sweeps = -(-size // chains)
    marginal_guess = 1.0 / (1.0 + np.exp(-h))
    state = (rng.random((chains, n)) < marginal_guess).astype(np.float64)
    kept = np.empty((sweeps, chains, n), dtype=np.uint8)
    for sweep in range(burn_in + sweeps):
        uniforms = rng.random((n, chains))
        for i in range(n):
            field = h[i] + state @ J[:, i]
            state[:, i] = uniforms[i] < 1.0 / (1.0 + np.exp(-field))
        if sweep >= burn_in:
            kept[sweep - burn_in] = state
    bits = kept.reshape(sweeps * chains, n)[:size]
    chain = np.tile(np.arange(chains, dtype=np.int64), sweeps)[:size]
    return bits, chain


# ---------------------------------------------------------------------------------------------
# Fitting


def joint_from_conditionals(p: npt.ArrayLike, p_given: npt.ArrayLike) -> FloatArray:
    """P(i and j) from P(i) and P(i | j) (cell [i, j]): the mean of P(i|j)P(j) and P(j|i)P(i).

    The two products agree for coherent inputs; averaging is the least-squares compromise for
    incoherent ones (run smic first for a fully coherent set). The diagonal holds P(i).
    """
    marginal = check_vector(p, name="p")
    n = marginal.size
    given = check_matrix(p_given, name="p_given", n=n)
    joint = given * marginal[None, :]
    joint = 0.5 * (joint + joint.T)
    np.fill_diagonal(joint, marginal)
    return np.asarray(joint, dtype=np.float64)


def _check_moments(marginal: FloatArray, joint: FloatArray, keys: Sequence[str]) -> None:
    """Targets must be strictly inside the bounds every pair of events obeys (Frechet)."""
    n = marginal.size
    for i in range(n):
        if not 0.0 < marginal[i] < 1.0:
            raise InputError(
                f"p[{keys[i]}] = {float(marginal[i])!r}: the log-linear model needs probabilities "
                "strictly between 0 and 1 (drop certain or impossible events first)"
            )
    rows, cols = pair_indices(n)
    low = np.maximum(0.0, marginal[rows] + marginal[cols] - 1.0)
    high = np.minimum(marginal[rows], marginal[cols])
    values = joint[rows, cols]
    bad = np.flatnonzero((values <= low) | (values >= high))
    if bad.size:
        r = int(bad[0])
        i, j = int(rows[r]), int(cols[r])
        raise InputError(
            f"p_joint[{keys[i]}, {keys[j]}] = {values[r]:.6g} is not strictly between "
            f"{low[r]:.6g} and {high[r]:.6g} (the range P({keys[i]}) = {marginal[i]:.6g} and "
            f"P({keys[j]}) = {marginal[j]:.6g} allow): no joint distribution with all scenarios "
            "possible has it"
        )


def fit_maxent(
    p: npt.ArrayLike,
    p_joint: npt.ArrayLike,
    *,
    event_keys: Sequence[str] | None = None,
    method: Literal["auto", "exact", "montecarlo"] = "auto",
    tolerance: float = 1e-10,
    max_iter: int = 200,
    seed: int = 0,
) -> MaxEntModel:
    """Fit the pairwise max-entropy model to P(i) (p) and P(i and j) (p_joint, symmetric).

    "exact" sums over all 2^n states (up to HARD_EXACT_LIMIT events); "montecarlo" fits by
    seeded stochastic approximation on Gibbs chains, for any number of events, to within a few
    thousandths (the estimated error is reported); "auto" is exact up to EXACT_LIMIT events.
    InputError when the pairwise probabilities are not coherent (no joint distribution with
    every scenario possible has them); smic() makes them coherent.
    """
    marginal = check_vector(p, name="p", keys=provisional_keys(p, event_keys))
    n = marginal.size
    keys = event_keys_for(n, event_keys)
    joint = check_matrix(p_joint, name="p_joint", n=n, keys=keys)
    rows, cols = pair_indices(n)
    asymmetric = np.flatnonzero(np.abs(joint[rows, cols] - joint[cols, rows]) > 1e-9)
    if asymmetric.size:
        i, j = int(rows[asymmetric[0]]), int(cols[asymmetric[0]])
        raise InputError(
            f"p_joint must be symmetric: [{keys[i]}, {keys[j]}] = {joint[i, j]!r} but "
            f"[{keys[j]}, {keys[i]}] = {joint[j, i]!r}"
        )
    _check_moments(marginal, joint, keys)
    if method not in ("auto", "exact", "montecarlo"):
        raise InputError(f"unknown fit method {method!r}; use 'auto', 'exact' or 'montecarlo'")
    if n > MAX_EVENTS:
        raise InputError(f"at most {MAX_EVENTS} events, not {n}")
    if method == "montecarlo" or (method == "auto" and n > EXACT_LIMIT):
        return _fit_montecarlo(marginal, joint, keys, check_seed(seed))
    if n > HARD_EXACT_LIMIT:
        raise InputError(
            f"an exact fit sums over all 2^n scenarios and stops at {HARD_EXACT_LIMIT} events "
            f"({n} given); use method='montecarlo'"
        )
    return _fit_exact(marginal, joint, keys, tolerance, max_iter)


def _spin_targets(marginal: FloatArray, joint: FloatArray) -> tuple[FloatArray, FloatArray]:
    """E[s_i] and E[s_i s_j] (i < j) for s = 2t - 1, from P(i) and P(i and j)."""
    rows, cols = pair_indices(marginal.size)
    first = 2.0 * marginal - 1.0
    pairs = 4.0 * joint[rows, cols] - 2.0 * marginal[rows] - 2.0 * marginal[cols] + 1.0
    return first, pairs


def _natural_from_spin(theta: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    """(h, J) of exp(a . s + sum b_ij s_i s_j) written in t = (s + 1) / 2 (constants dropped)."""
    rows, cols = pair_indices(n)
    spin_pairs = np.zeros((n, n))
    spin_pairs[rows, cols] = theta[n:]
    spin_pairs = spin_pairs + spin_pairs.T
    return 2.0 * theta[:n] - 2.0 * spin_pairs.sum(axis=1), 4.0 * spin_pairs


def _gibbs_sweep(state: FloatArray, h: FloatArray, J: FloatArray, rng: np.random.Generator) -> None:
    """One systematic Gibbs sweep over all events, in place, for every chain (row) at once."""
    uniforms = rng.random((h.size, state.shape[0]))
    for i in range(h.size):
        field = h[i] + state @ J[:, i]
        state[:, i] = uniforms[i] < 1.0 / (1.0 + np.exp(-field))


def _fit_montecarlo(
    marginal: FloatArray,
    joint: FloatArray,
    keys: tuple[str, ...],
    seed: int,
    *,
    chains: int = 2000,
    iterations: int = 400,
    check_samples: int = 100_000,
) -> MaxEntModel:
    """Stochastic approximation (persistent Gibbs chains) of the max-entropy fit.

    Each step runs one Gibbs sweep of every chain under the current parameters and moves each
    spin parameter by step * (target - chain average) / variance (a diagonal Newton step on
    the convex dual), with steps shrinking like 1/t; the answer averages the parameters over
    the second half (Polyak-Ruppert). The moments of the result are then estimated from fresh
    draws, and the largest miss is reported as max_moment_error.
    """
    n = marginal.size
    rng = np.random.default_rng(seed)
    target_first, target_pairs = _spin_targets(marginal, joint)
    scale = 1.0 / np.maximum(1.0 - np.concatenate([target_first, target_pairs]) ** 2, 0.05)
    rows, cols = pair_indices(n)
    theta = np.concatenate([0.5 * np.log(marginal / (1.0 - marginal)), np.zeros(rows.size)])
    state = (rng.random((chains, n)) < marginal).astype(np.float64)
    h, J = _natural_from_spin(theta, n)
    for _ in range(20):  # burn in under the starting (independent) model
        _gibbs_sweep(state, h, J, rng)
    average = np.zeros_like(theta)
    kept = 0
    for step_number in range(iterations):
        _gibbs_sweep(state, h, J, rng)
        spins = 2.0 * state - 1.0
        first = spins.mean(axis=0)
        # einsum, not a BLAS product: threaded BLAS stalls on this shape when cores are busy
        pairs = (np.einsum("ki,kj->ij", spins, spins) / chains)[rows, cols]
        miss = np.concatenate([target_first - first, target_pairs - pairs])
        theta = theta + 0.5 / (1.0 + step_number / 40.0) * miss * scale
        h, J = _natural_from_spin(theta, n)
        if step_number >= iterations // 2:
            average += theta
            kept += 1
    h, J = _natural_from_spin(average / kept, n)
    model = MaxEntModel(event_keys=keys, h=h, J=J, method="montecarlo", iterations=iterations)
    bits, _ = model.sample(check_samples, seed=seed + 1)
    values = bits.astype(np.float64)
    error = max(
        float(np.max(np.abs(values.mean(axis=0) - marginal))),
        float(
            np.max(
                np.abs(
                    np.einsum("ki,kj->ij", values, values)[rows, cols] / values.shape[0]
                    - joint[rows, cols]
                ),
                initial=0.0,
            )
        ),
    )
    log_z = _independent_log_partition(h) if not np.any(J) else None
    return MaxEntModel(
        event_keys=keys,
        h=h,
        J=J,
        log_partition=log_z,
        method="montecarlo",
        iterations=iterations,
        max_moment_error=error,
    )


def _fit_exact(
    marginal: FloatArray,
    joint: FloatArray,
    keys: tuple[str, ...],
    tolerance: float,
    max_iter: int,
) -> MaxEntModel:
    n = marginal.size
    rows, cols = pair_indices(n)
    grid = _Grid(n)
    target_pairs = joint[rows, cols]

    def to_natural(theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        return _natural_from_spin(theta, n)

    def to_spin_gradient(first: FloatArray, pairs: FloatArray) -> FloatArray:
        # transpose of to_natural applied to a gradient in (h, J_upper)
        return np.concatenate([2.0 * first, 4.0 * pairs - 2.0 * first[rows] - 2.0 * first[cols]])

    cache: dict[bytes, tuple[float, _Sums]] = {}

    def evaluate(theta: FloatArray) -> tuple[float, _Sums]:
        key = theta.tobytes()
        if key not in cache:
            cache.clear()
            h, J = to_natural(theta)
            log_z = grid.log_partition(h, J)
            cache[key] = (log_z, grid.sums(h, J, log_z))
        return cache[key]

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        h, J = to_natural(theta)
        log_z, sums = evaluate(theta)
        value = log_z - float(h @ marginal) - float(J[rows, cols] @ target_pairs)
        gradient = to_spin_gradient(sums.first - marginal, sums.second[rows, cols] - target_pairs)
        return value, gradient

    def hessian_times(theta: FloatArray, direction: FloatArray) -> FloatArray:
        h, J = to_natural(theta)
        log_z, sums = evaluate(theta)
        tilt = to_natural(direction)
        tilted = grid.sums(h, J, log_z, tilt=tilt)
        first = tilted.first - sums.first * tilted.total
        pairs = tilted.second[rows, cols] - sums.second[rows, cols] * tilted.total
        return to_spin_gradient(first, pairs)

    start = np.concatenate([0.5 * np.log(marginal / (1.0 - marginal)), np.zeros(rows.size)])
    result = scipy.optimize.minimize(
        objective,
        start,
        jac=True,
        hessp=hessian_times,
        method="trust-ncg",
        options={"gtol": tolerance, "maxiter": max_iter},
    )
    theta = np.asarray(result.x, dtype=np.float64)
    iterations = int(result.nit)
    # Near the optimum the objective's changes fall below rounding, and trust-ncg may stop
    # ("failed to predict improvement") with the gradient still above gtol. The gradient itself
    # is exact there, so a few Newton steps (the Hessian solved by conjugate gradients) finish
    # the fit to the moments' precision.
    for _step in range(4):
        gradient = objective(theta)[1]
        largest = float(np.max(np.abs(gradient)))
        # done, or no optimum nearby (incoherent targets): the error check below says which
        if largest <= tolerance or largest > 1e-6:
            break
        at = theta

        def times(vector: FloatArray, at: FloatArray = at) -> FloatArray:
            return hessian_times(at, np.asarray(vector, dtype=np.float64))

        hessian = scipy.sparse.linalg.LinearOperator(
            (theta.size, theta.size), matvec=times, dtype=np.float64
        )
        step, _info = scipy.sparse.linalg.cg(
            hessian, -gradient, rtol=1e-12, maxiter=10 * theta.size
        )
        theta = theta + step
        iterations += 1
    h, J = to_natural(theta)
    log_z = grid.log_partition(h, J)
    sums = grid.sums(h, J, log_z)
    error = max(
        float(np.max(np.abs(sums.first - marginal))),
        float(np.max(np.abs(sums.second[rows, cols] - target_pairs), initial=0.0)),
    )
    if not error <= 1e-6:
        raise InputError(
            f"no pairwise max-entropy model matches these probabilities (closest misses by "
            f"{error:.3g}): they are not coherent; run smic() first to make them coherent"
        )
    return MaxEntModel(
        event_keys=keys,
        h=h,
        J=J,
        log_partition=log_z,
        method="exact",
        iterations=iterations,
        max_moment_error=error,
    )


def model_from_parameters(
    h: npt.ArrayLike, J: npt.ArrayLike, *, event_keys: Sequence[str] | None = None
) -> MaxEntModel:
    """A model from given h (n,) and symmetric J (n, n); log Z exact when cheap to compute."""
    fields = np.array(h, dtype=np.float64)
    if fields.ndim != 1 or not np.isfinite(fields).all():
        raise InputError("h must be a list of finite numbers, one per event")
    n = fields.size
    if n > MAX_EVENTS:
        raise InputError(f"at most {MAX_EVENTS} events, not {n}")
    keys = event_keys_for(n, event_keys)
    couplings = np.array(J, dtype=np.float64)
    if couplings.shape != (n, n) or not np.isfinite(couplings).all():
        raise InputError(f"J must be a finite {n} x {n} matrix")
    if not np.allclose(couplings, couplings.T, atol=1e-12):
        raise InputError("J must be symmetric")
    np.fill_diagonal(couplings, 0.0)
    log_z: float | None = None
    if not np.any(couplings):
        log_z = _independent_log_partition(fields)
    elif n <= EXACT_LIMIT:
        log_z = _Grid(n).log_partition(fields, couplings)
    return MaxEntModel(event_keys=keys, h=fields, J=couplings, log_partition=log_z)
