"""What SMIC reads, and SMIC run for each expert on their own judgements (LIPSOR's way).

Two ways to get one set of scenario probabilities from a panel (methods.md section 4):

- "inputs": pool each P(i), P(i | j), P(i | not j) across experts, then make the pooled set
  coherent with one SMIC run. Cells are pooled one by one, so the pooled set can be incoherent
  although every expert was coherent, and SMIC repairs what nobody said.
- "experts": make each expert coherent on their own (one SMIC run on the expert's judgements:
  the nearest coherent distribution to what they said), then average the experts' scenario
  probabilities with equal weights, as LIPSOR's SMIC-Prob-Expert does. The average of coherent
  distributions is coherent. The [min, max] of a scenario under the average is the average of
  the experts' [min, max]: the experts' optimal sets vary independently, so the extremes of the
  average are the averages of the extremes.

Unasked pairs: a cell P(i | j) nobody was asked is unknown (`unasked="unknown"`, the default):
no constraint at all, so SMIC's bounds cover every value it could take. `"independent"` fills
it with P(i | j) = P(i | not j) = P(i), the older reading, which narrows the bounds with a
judgement the panel never made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.errors import InputError
from analysis.expert_coherence import Judgements
from analysis.scenarios._common import FloatArray, occurring_events, state_bits, state_labels
from analysis.scenarios._lp import moment_features
from analysis.scenarios.smic import SmicResult, smic

UnaskedPairs = Literal["unknown", "independent"]
ScenarioPooling = Literal["inputs", "experts", "both"]
UNASKED_CHOICES: tuple[str, ...] = ("unknown", "independent")
POOLING_CHOICES: tuple[str, ...] = ("inputs", "experts", "both")

Pair = tuple[str, str]


@dataclass(frozen=True, eq=False)
class SmicInputs:
    """The arrays SMIC reads over `keys`, and which cells were asked."""

    keys: tuple[str, ...]
    p: FloatArray
    given: FloatArray
    given_not: FloatArray
    #: [i, j] True when P(i | j) and P(i | not j) were judged
    asked_cells: npt.NDArray[np.bool_]
    #: cells not judged: filled as independent, or left unknown
    unasked: tuple[Pair, ...]
    mode: UnaskedPairs

    @property
    def asked(self) -> npt.NDArray[np.bool_] | None:
        """The mask SMIC gets: None (every cell is a constraint) when unasked cells are filled."""
        return None if self.mode == "independent" else self.asked_cells


def pairwise_moments(probabilities: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    """(P(i), P(i and j) matrix with P(i) on the diagonal) of a distribution over 2^n scenarios."""
    moments = moment_features(state_bits(n)) @ probabilities
    rows, cols = np.triu_indices(n, 1)
    joint = np.zeros((n, n))
    joint[rows, cols] = moments[n:]
    joint = joint + joint.T
    np.fill_diagonal(joint, moments[:n])
    return np.asarray(moments[:n], dtype=np.float64), joint


def check_choice(value: str, choices: Sequence[str], name: str) -> str:
    """value if it is one of choices, else InputError naming the setting."""
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def smic_inputs(
    keys: Sequence[str], judgements: Judgements, *, unasked: UnaskedPairs = "unknown"
) -> SmicInputs:
    """P, P(i | j), P(i | not j) over keys with the asked mask; unasked cells hold P(i)."""
    check_choice(unasked, UNASKED_CHOICES, "unasked_pairs")
    n = len(keys)
    missing = [k for k in keys if k not in judgements.p]
    if missing:
        raise InputError(f"no probability for {', '.join(missing)}")
    p = np.array([float(judgements.p[k]) for k in keys], dtype=np.float64)
    given = np.tile(p[:, None], (1, n))
    given_not = given.copy()
    asked = np.zeros((n, n), dtype=bool)
    unasked_cells: list[Pair] = []
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            if i == j:
                continue
            if (a, b) in judgements.given and (a, b) in judgements.given_not:
                given[i, j] = judgements.given[(a, b)]
                given_not[i, j] = judgements.given_not[(a, b)]
                asked[i, j] = True
            else:
                unasked_cells.append((a, b))
    return SmicInputs(
        keys=tuple(keys),
        p=p,
        given=given,
        given_not=given_not,
        asked_cells=asked,
        unasked=tuple(unasked_cells),
        mode=unasked,
    )


def run_smic(inputs: SmicInputs, *, bounds_for: int | Sequence[int] = 0) -> SmicResult:
    """SMIC on these inputs (unasked cells as the inputs' mode says)."""
    return smic(
        inputs.p,
        inputs.given,
        inputs.given_not,
        event_keys=inputs.keys,
        bounds_for=bounds_for,
        asked=inputs.asked,
    )


@dataclass(frozen=True)
class ExpertFit:
    """How far one expert's own judgements are from the nearest coherent distribution."""

    expert: str
    #: SMIC's minimised sum of squares on the expert's judgements (0: coherent)
    objective: float
    #: conditional cells the expert judged, among the events in SMIC
    cells: int
    #: events whose P(i) the expert did not give (the panel's pooled value stood in)
    borrowed: tuple[str, ...]
    #: the expert's coherent P*(i)
    p_star: dict[str, float]


@dataclass(frozen=True, eq=False)
class ExpertPooling:
    """The experts' coherent scenario distributions and their equal-weight average."""

    event_keys: tuple[str, ...]
    experts: tuple[ExpertFit, ...]
    results: tuple[SmicResult, ...]
    #: the average of the experts' max-entropy optimal pi, by state index
    probabilities: FloatArray
    #: one row per listed scenario, best first: rank, state, label, occurring, probability,
    #: lower, upper (the averages of the experts' [min, max])
    scenarios: pd.DataFrame

    @property
    def p_star(self) -> FloatArray:
        """P(i) under the averaged distribution."""
        bits = state_bits(len(self.event_keys)).astype(np.float64)
        return np.asarray(bits.T @ self.probabilities, dtype=np.float64)

    def bounds_of(self, mask: npt.ArrayLike) -> tuple[float, float]:
        """[min, max] total probability of the scenarios in mask: the experts' averaged."""
        pairs = [result.bounds_of(mask) for result in self.results]
        return float(np.mean([lo for lo, _ in pairs])), float(np.mean([hi for _, hi in pairs]))


def pool_experts(
    keys: Sequence[str],
    experts: Mapping[str, Judgements],
    *,
    fallback_p: Mapping[str, float],
    unasked: UnaskedPairs = "unknown",
    top: int = 10,
) -> ExpertPooling:
    """SMIC per expert on their own judgements, then the average of their scenario probabilities.

    An expert who did not give some P(i) gets the panel's pooled value there (`fallback_p`), so
    that every expert's distribution covers the same events; the fit says which were borrowed.
    """
    if not experts:
        raise InputError("no expert has judgements on these events")
    if top < 0:
        raise InputError(f"top must be >= 0, not {top}")
    fits: list[ExpertFit] = []
    results: list[SmicResult] = []
    for name in sorted(experts):
        own = experts[name]
        borrowed = tuple(k for k in keys if k not in own.p)
        p = {k: (own.p[k] if k in own.p else fallback_p[k]) for k in keys}
        inputs = smic_inputs(keys, Judgements(p, own.given, own.given_not), unasked=unasked)
        result = run_smic(inputs)
        results.append(result)
        fits.append(
            ExpertFit(
                expert=name,
                objective=float(result.objective),
                cells=int(inputs.asked_cells.sum()),
                borrowed=borrowed,
                p_star=dict(zip(keys, (float(v) for v in result.p_star), strict=True)),
            )
        )
    n = len(keys)
    probabilities = np.mean([r.probabilities for r in results], axis=0)
    order = np.lexsort((np.arange(2**n), -np.round(probabilities, 12))).astype(np.int64)
    chosen = order[: min(top, 2**n)]
    lower = np.zeros(chosen.size)
    upper = np.zeros(chosen.size)
    for result in results:
        low, high = result.state_bounds(chosen.tolist())
        lower += low
        upper += high
    lower /= len(results)
    upper /= len(results)
    bits = state_bits(n, chosen)
    scenarios = pd.DataFrame(
        {
            "rank": np.arange(1, chosen.size + 1),
            "state": chosen,
            "label": state_labels(bits),
            "occurring": occurring_events(bits, keys),
            "probability": probabilities[chosen],
            "lower": np.minimum(lower, probabilities[chosen]),
            "upper": np.maximum(upper, probabilities[chosen]),
        }
    )
    return ExpertPooling(
        event_keys=tuple(keys),
        experts=tuple(fits),
        results=tuple(results),
        probabilities=np.asarray(probabilities, dtype=np.float64),
        scenarios=scenarios,
    )
