"""Per-expert inputs for the bootstrap and for trend bands: the answers behind the pooled figures.

The results service pools the panel's answers from the closed rounds' snapshots; the bootstrap
(analysis/bootstrap.py) needs the answers themselves, expert by expert, from the same rounds: for
each item, the round whose snapshot gave its estimate. Pseudonyms identify an expert across
items, so a resample of experts keeps each expert's answers together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.orm import Session

from analysis.bootstrap import (
    SCENARIO_MAX_EVENTS,
    Interval,
    PooledIntervals,
    ScenarioIntervals,
    pooled_intervals,
    scenario_intervals,
)
from analysis.pooling import METHODS
from analysis.tia import ImpactProfile
from app.models import Round, Study
from app.services.tidy import tidy_answers

FloatArray = npt.NDArray[np.float64]


def closed_tidy(session: Session, study: Study, rounds: Sequence[Round]) -> pd.DataFrame:
    """The answers of the given (closed) rounds as a tidy frame with float values, answered only."""
    frame = tidy_answers(session, study, list(rounds), matrices=False)
    frame = frame[frame["value"].notna() & ~frame["no_answer"].astype(bool)].copy()
    frame["value"] = frame["value"].astype(float)
    return frame


def _cells(
    frame: pd.DataFrame, cells: Sequence[tuple[str, int, str, str]], experts: Sequence[str]
) -> FloatArray:
    """experts x cells of values (NaN: no answer); a cell is (item, round, question, part)."""
    if frame.empty or not cells:
        return np.full((len(experts), len(cells)), np.nan)
    wide = frame.attrs.get("wide")
    if wide is None:
        # one pivot per frame: item/round/question/part x expert
        wide = frame.pivot_table(
            index=["item", "round", "question", "part"],
            columns="expert",
            values="value",
            aggfunc="first",
        )
        frame.attrs["wide"] = wide
    table = wide.reindex(index=pd.MultiIndex.from_tuples(list(cells)), columns=list(experts))
    return np.asarray(table.to_numpy(dtype=np.float64).T, dtype=np.float64)


def pooled_probability_intervals(
    frame: pd.DataFrame,
    cells: Mapping[str, tuple[str, int, str, str]],
    *,
    resamples: int,
    seed: int,
    eps: float,
) -> tuple[PooledIntervals, dict[str, dict[str, Interval]]]:
    """Bootstrap intervals (0-1) of each event's pooled probability under every pooling method."""
    experts = sorted(frame["expert"].unique())
    keys = list(cells)
    values = _cells(frame, [cells[k] for k in keys], experts) / 100.0
    result = pooled_intervals(values, methods=METHODS, eps=eps, resamples=resamples, seed=seed)
    by_key = {k: {m: result.intervals[m][i] for m in METHODS} for i, k in enumerate(keys)}
    return result, by_key


def scenario_bootstrap(
    frame: pd.DataFrame,
    events: Sequence[str],
    probability_cells: Mapping[str, tuple[str, int, str, str]],
    conditional_cells: Mapping[tuple[str, str], tuple[tuple[str, int, str, str], ...]],
    expressions: Mapping[str, str],
    *,
    resamples: int,
    seed: int,
    top: int,
) -> ScenarioIntervals | None:
    """The fast scenario bootstrap over the scenario events (at most SCENARIO_MAX_EVENTS)."""
    chosen = [e for e in events if e in probability_cells][:SCENARIO_MAX_EVENTS]
    if not chosen:
        return None
    experts = sorted(frame["expert"].unique())
    n = len(chosen)
    p = _cells(frame, [probability_cells[k] for k in chosen], experts) / 100.0
    given = np.full((len(experts), n, n), np.nan)
    given_not = np.full((len(experts), n, n), np.nan)
    for i, a in enumerate(chosen):
        for j, b in enumerate(chosen):
            pair = conditional_cells.get((a, b))
            if i == j or pair is None:
                continue
            yes, no = _cells(frame, pair, experts).T / 100.0
            given[:, i, j] = yes
            given_not[:, i, j] = no
    usable = {name: text for name, text in expressions.items() if _names_within(text, chosen)}
    return scenario_intervals(
        p,
        given,
        given_not,
        event_keys=chosen,
        expressions=usable,
        top=top,
        resamples=resamples,
        seed=seed,
    )


def _names_within(expression: str, keys: Sequence[str]) -> bool:
    from analysis.expressions import parse_expression

    return set(parse_expression(expression).names) <= set(keys)


def expert_profiles(
    frame: pd.DataFrame,
    item: str,
    round_number: int,
    question: str,
    kind: Literal["relative", "absolute"],
) -> tuple[ImpactProfile, ...]:
    """Each expert's complete impact profile of one event on one trend (times made monotone)."""
    return tuple(expert_profile_map(frame, item, round_number, question, kind).values())


def expert_profile_map(
    frame: pd.DataFrame,
    item: str,
    round_number: int,
    question: str,
    kind: Literal["relative", "absolute"],
) -> dict[str, ImpactProfile]:
    """Pseudonym -> complete impact profile, in pseudonym order (incomplete answers left out)."""
    rows = frame[
        (frame["item"] == item) & (frame["round"] == round_number) & (frame["question"] == question)
    ]
    profiles: dict[str, ImpactProfile] = {}
    for expert, answers in rows.groupby("expert", sort=True):
        values = dict(zip(answers["part"], answers["value"], strict=True))
        if not {"t1", "t2", "t3", "i_max", "i_ss"} <= set(values):
            continue
        t1 = max(0.0, float(values["t1"]))
        t2 = max(t1, float(values["t2"]))
        t3 = max(t2, float(values["t3"]))
        profiles[str(expert)] = ImpactProfile(
            t1=t1, t2=t2, t3=t3, i_max=float(values["i_max"]), i_ss=float(values["i_ss"]), kind=kind
        )
    return profiles
