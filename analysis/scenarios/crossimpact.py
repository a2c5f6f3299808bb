"""Cross-impact Monte Carlo (Gordon & Hayward 1968; the Futures Group form).

Inputs: P(j) for each event and a matrix whose cell [i, j] is P(j | i occurs) (row = the event
that occurs, column = the event it affects; the diagonal is ignored).

One play: the events are decided one at a time in a random order, each against its current
probability. When event i occurs, the odds of every event not yet decided are multiplied by
odds(P(j | i)) / odds(P(j)), i.e. its log-odds grows by logit P(j | i) - logit P(j). Convention
for non-occurrence: by default nothing changes when an event does not occur (the original
Gordon-Hayward rule: only occurrences propagate); pass `p_given_not` (cell [i, j] = P(j | i does
not occur)) to also apply odds(P(j | not i)) / odds(P(j)) when i fails to occur. Probabilities
are clipped to [eps, 1 - eps] before taking log-odds.

Calibration: with cross-impacts, the plays' event frequencies drift away from the panel's P(j).
The calibration pass searches for starting probabilities p0 (in log-odds, by the fixed-point
update logit p0 += logit P - logit f) for which the plays reproduce P(j), using common random
numbers on a calibration sample; the multipliers still use the panel's P(j). The main run then
uses fresh random numbers, so its frequencies match P(j) up to Monte Carlo error.

Plays are vectorised (numpy over plays, a loop over the n decision steps) in fixed-size chunks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.errors import InputError
from analysis.scenarios._common import (
    FloatArray,
    check_matrix,
    check_positive_int,
    check_seed,
    check_vector,
    event_keys_for,
    logit,
    occurring_events,
    provisional_keys,
    state_bits,
    state_labels,
    wilson_interval,
)

#: plays simulated together; part of the definition of a seeded run (changing it changes draws)
CHUNK = 1 << 14
MAX_EVENTS = 62
DEFAULT_EPS = 1e-6


@dataclass(frozen=True, eq=False)
class CrossImpactResult:
    """Frequencies from a seeded cross-impact simulation, with Monte Carlo errors."""

    event_keys: tuple[str, ...]
    plays: int
    seed: int
    eps: float
    #: panel P(j)
    p: FloatArray
    #: starting probabilities actually used (calibrated when calibrate=True)
    start_probabilities: FloatArray
    calibrated: bool
    calibration_iterations: int
    calibration_plays: int
    #: largest |frequency - P(j)| on the calibration sample at the end of calibration
    calibration_error: float
    #: share of plays in which each event occurred, its standard error and 95 % Wilson interval
    frequency: FloatArray
    standard_error: FloatArray
    lower: FloatArray
    upper: FloatArray
    #: [i, j] = share of plays where both occurred (diagonal = frequency)
    co_occurrence: FloatArray
    #: every observed scenario (state index) and how many plays ended in it, most frequent first
    state_indices: npt.NDArray[np.int64]
    state_counts: npt.NDArray[np.int64]

    @property
    def conditional(self) -> FloatArray:
        """Simulated P(j | i occurs) in cell [i, j] (NaN where i never occurred)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.co_occurrence / self.frequency[:, None]
        out[self.frequency == 0] = np.nan
        np.fill_diagonal(out, np.nan)
        return np.asarray(out, dtype=np.float64)

    def events_table(self) -> pd.DataFrame:
        """One row per event: panel P, starting probability, frequency, SE and interval."""
        return pd.DataFrame(
            {
                "event": list(self.event_keys),
                "p": self.p,
                "start": self.start_probabilities,
                "frequency": self.frequency,
                "standard_error": self.standard_error,
                "lower": self.lower,
                "upper": self.upper,
            }
        )

    def scenarios(self, k: int = 20) -> pd.DataFrame:
        """The k most frequent scenarios with standard errors and 95 % Wilson intervals."""
        k = check_positive_int(k, name="k")
        states = self.state_indices[:k]
        counts = self.state_counts[:k]
        bits = state_bits(len(self.event_keys), states)
        share = counts / self.plays
        lower, upper = wilson_interval(counts, self.plays)
        return pd.DataFrame(
            {
                "rank": np.arange(1, states.size + 1),
                "state": states,
                "label": state_labels(bits),
                "occurring": occurring_events(bits, self.event_keys),
                "frequency": share,
                "standard_error": np.sqrt(share * (1.0 - share) / self.plays),
                "lower": lower,
                "upper": upper,
            }
        )


def impacts_from_asked(
    p: npt.ArrayLike,
    p_given: npt.ArrayLike,
    p_given_not: npt.ArrayLike,
    asked: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """cross_impact's p_given and p_given_not from the judged cells, read in the asked direction.

    p_given[i, j] = P(i | j) as item i's question asked it: the impact of j on i. So cell [j, i]
    of the result (row = the event that occurs) is P(i | j) where asked[i, j], and P(i) (no
    impact) where not. A conditional is never read backwards: a coherent (symmetric) joint
    table would turn "B makes A likely" into "A makes B likely", a causal claim nobody made.
    """
    marginal = check_vector(p, name="p", keys=None)
    n = marginal.size
    given = check_matrix(p_given, name="p_given", n=n, keys=event_keys_for(n, None))
    given_not = check_matrix(p_given_not, name="p_given_not", n=n, keys=event_keys_for(n, None))
    mask = np.asarray(asked)
    if mask.shape != (n, n) or mask.dtype != np.bool_:
        raise InputError(f"asked must be an {n} x {n} array of booleans, not {mask.shape}")
    mask = mask & ~np.eye(n, dtype=bool)
    no_impact = np.tile(marginal[None, :], (n, 1))
    yes = np.where(mask.T, given.T, no_impact)
    no = np.where(mask.T, given_not.T, no_impact)
    return np.asarray(yes, dtype=np.float64), np.asarray(no, dtype=np.float64)


def _simulate(
    start_logits: npt.NDArray[np.float32],
    impact_yes: npt.NDArray[np.float32],
    impact_no: npt.NDArray[np.float32] | None,
    plays: int,
    rng: np.random.Generator,
    *,
    keep_states: bool,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64] | None]:
    """(event counts, co-occurrence counts, packed final states or None) over `plays` plays."""
    n = start_logits.size
    counts = np.zeros(n, dtype=np.int64)
    co_occurrence = np.zeros((n, n))
    states = np.empty(plays, dtype=np.int64) if keep_states else None
    shifts = np.arange(n, dtype=np.int64)
    # row n is all zeros: plays whose event did not occur add it (a dense add beats a masked one)
    on_yes = np.vstack([impact_yes, np.zeros((1, n), dtype=np.float32)])
    on_no = (
        None if impact_no is None else np.vstack([impact_no, np.zeros((1, n), dtype=np.float32)])
    )
    for first in range(0, plays, CHUNK):
        size = min(CHUNK, plays - first)
        order = np.argsort(rng.random((size, n), dtype=np.float32), axis=1)
        uniforms = rng.random((size, n), dtype=np.float32)
        # a play decides "occurs" when a logistic variate falls below the current log-odds;
        # a uniform of exactly 0 gives -inf, which correctly means "occurs"
        with np.errstate(divide="ignore"):
            thresholds = np.log(uniforms) - np.log1p(-uniforms)
        logits = np.broadcast_to(start_logits, (size, n)).copy()
        flat_logits = logits.reshape(-1)
        row_offsets = np.arange(size, dtype=np.int64) * n
        packed = np.zeros(size, dtype=np.int64)
        for step in range(n):
            event = order[:, step]
            occurs = thresholds[:, step] < np.take(flat_logits, row_offsets + event)
            packed |= occurs.astype(np.int64) << event
            logits += np.take(on_yes, np.where(occurs, event, n), axis=0)
            if on_no is not None:
                logits += np.take(on_no, np.where(occurs, n, event), axis=0)
        occurred = ((packed[:, None] >> shifts) & 1).astype(np.float32)
        counts += occurred.sum(axis=0, dtype=np.float64).astype(np.int64)
        co_occurrence += (occurred.T @ occurred).astype(np.float64)
        if states is not None:
            states[first : first + size] = packed
    return counts, co_occurrence, states


Simulation = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64] | None]


@dataclass
class _Broyden:
    """Broyden's method for starting log-odds x with simulated frequencies f(x) = target.

    The residual is logit f - logit P. The Jacobian starts as the identity (the plain
    fixed-point step x += logit P - logit f) and gets rank-one secant updates; a step that makes
    the largest miss worse is replaced by the plain step and the Jacobian restarts.
    """

    target: FloatArray
    x: FloatArray
    jacobian: FloatArray
    iterations: int = 0

    def solve(
        self,
        simulate: Callable[[FloatArray], Simulation],
        size: int,
        tolerance: float,
        max_iterations: int,
    ) -> tuple[Simulation, float]:
        """Iterate until the largest |f - P| <= tolerance; the accepted simulation and its miss."""
        floor = 0.5 / size
        goal = logit(np.clip(self.target, floor, 1.0 - floor))

        def residual(x: FloatArray) -> tuple[FloatArray, float, Simulation]:
            result = simulate(x)
            share = np.clip(result[0] / size, floor, 1.0 - floor)
            return (
                logit(share) - goal,
                float(np.max(np.abs(result[0] / size - self.target))),
                result,
            )

        f, error, result = residual(self.x)
        self.iterations += 1
        budget = self.iterations + max_iterations - 1
        while error > tolerance and self.iterations < budget:
            try:
                step = -np.linalg.solve(self.jacobian, f)
            except np.linalg.LinAlgError:
                self.jacobian = np.eye(self.x.size)
                step = -f
            x_new = np.clip(self.x + step, -40.0, 40.0)
            f_new, error_new, result_new = residual(x_new)
            self.iterations += 1
            if error_new > error:
                self.jacobian = np.eye(self.x.size)
                x_new = np.clip(self.x - f, -40.0, 40.0)
                f_new, error_new, result_new = residual(x_new)
                self.iterations += 1
            else:
                dx, df = x_new - self.x, f_new - f
                denominator = float(dx @ dx)
                if denominator > 0.0:
                    self.jacobian += np.outer(df - self.jacobian @ dx, dx) / denominator
            self.x, f, error, result = x_new, f_new, error_new, result_new
        return result, error


def cross_impact(
    p: npt.ArrayLike,
    p_given: npt.ArrayLike,
    *,
    plays: int,
    seed: int,
    calibrate: bool = True,
    p_given_not: npt.ArrayLike | None = None,
    event_keys: Sequence[str] | None = None,
    eps: float = DEFAULT_EPS,
    calibration_plays: int = 100_000,
    calibration_tolerance: float | None = None,
    max_calibration_iterations: int = 50,
) -> CrossImpactResult:
    """Seeded cross-impact simulation: event and scenario frequencies with Monte Carlo errors.

    p[j] = P(j); p_given[i, j] = P(j | i occurs); optional p_given_not[i, j] = P(j | i does not
    occur). With calibrate, starting probabilities are tuned so that the plays reproduce p to
    within calibration_tolerance (default: half the largest Monte Carlo standard error of an
    event frequency, 0.25 / sqrt(plays), but at least 1e-4).
    """
    marginal = check_vector(p, name="p", keys=provisional_keys(p, event_keys))
    n = marginal.size
    keys = event_keys_for(n, event_keys)
    if n > MAX_EVENTS:
        raise InputError(f"at most {MAX_EVENTS} events, not {n}")
    plays = check_positive_int(plays, name="plays")
    seed = check_seed(seed)
    if not 0.0 < eps < 0.5:
        raise InputError(f"eps must be between 0 and 0.5, not {eps!r}")
    given = check_matrix(p_given, name="p_given", n=n, keys=keys)
    clipped = np.clip(marginal, eps, 1.0 - eps)
    base = logit(clipped)
    impact_yes = logit(np.clip(given, eps, 1.0 - eps)) - base[None, :]
    np.fill_diagonal(impact_yes, 0.0)
    impact_no: FloatArray | None = None
    if p_given_not is not None:
        given_not = check_matrix(p_given_not, name="p_given_not", n=n, keys=keys)
        impact_no = logit(np.clip(given_not, eps, 1.0 - eps)) - base[None, :]
        np.fill_diagonal(impact_no, 0.0)
    yes32 = impact_yes.astype(np.float32)
    no32 = impact_no.astype(np.float32) if impact_no is not None else None

    calibration_stream, main_stream = np.random.SeedSequence(seed).spawn(2)

    def simulate_with(
        stream: np.random.SeedSequence, size: int, keep: bool
    ) -> Callable[[FloatArray], Simulation]:
        # a fresh generator from the same stream every call: common random numbers
        return lambda x: _simulate(
            x.astype(np.float32), yes32, no32, size, np.random.default_rng(stream), keep_states=keep
        )

    tolerance = (
        max(1e-4, 0.25 / math.sqrt(plays))
        if calibration_tolerance is None
        else calibration_tolerance
    )
    has_impacts = bool(np.any(impact_yes)) or (impact_no is not None and bool(np.any(impact_no)))
    calibration_error = 0.0
    sample_size = 0
    solver = _Broyden(target=marginal, x=base.copy(), jacobian=np.eye(n))
    if calibrate and has_impacts:
        check_positive_int(calibration_plays, name="calibration_plays")
        sample_size = min(plays, calibration_plays)
        if sample_size < plays:
            # cheap first stage on a sample; the full run then needs only a step or two
            solver.solve(
                simulate_with(calibration_stream, sample_size, False),
                sample_size,
                tolerance,
                max_calibration_iterations,
            )
        simulation, calibration_error = solver.solve(
            simulate_with(main_stream, plays, True),
            plays,
            tolerance,
            max_calibration_iterations,
        )
    else:
        simulation = simulate_with(main_stream, plays, True)(base)
        if has_impacts:
            calibration_error = float(np.max(np.abs(simulation[0] / plays - marginal)))
    start = solver.x
    iterations = solver.iterations
    counts, co_counts, states = simulation
    if states is None:
        raise RuntimeError("the main run kept no scenarios")
    unique, state_counts = np.unique(states, return_counts=True)
    order = np.lexsort((unique, -state_counts))
    frequency = counts / plays
    lower, upper = wilson_interval(counts, plays)
    return CrossImpactResult(
        event_keys=keys,
        plays=plays,
        seed=seed,
        eps=eps,
        p=marginal,
        start_probabilities=1.0 / (1.0 + np.exp(-start)),
        calibrated=calibrate,
        calibration_iterations=iterations,
        calibration_plays=sample_size,
        calibration_error=calibration_error,
        frequency=frequency,
        standard_error=np.sqrt(frequency * (1.0 - frequency) / plays),
        lower=lower,
        upper=upper,
        co_occurrence=co_counts / plays,
        state_indices=unique[order].astype(np.int64),
        state_counts=state_counts[order].astype(np.int64),
    )
