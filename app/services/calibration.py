"""Cooke's classical model in the app, and the panel's probabilities pooled three ways.

Experts are scored on the calibration (seed) items that have a realisation (recorded, or the
survey file's true_value) with analysis.cooke: calibration, information, and global
performance weights C x I x [C >= alpha] with alpha optimised as Cooke does. Every pooled
probability of a closed round is then shown under equal weights (the snapshot's own numbers,
recomputed from the same answers in the same order), self-rated expertise, and performance
weights, with analysis.pooling.

Per-pseudonym figures are shown by pseudonym only (never with a group, a name or a date) and
only when at least k experts were scored; under k the page shows panel-level figures alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.cooke import decision_maker, make_data, score_experts
from analysis.errors import InputError
from analysis.pooling import expertise_weights, pool
from analysis.settings import AnalysisSettings
from app.definitions.model import ItemKind, QuestionKind
from app.messages import N_, Message
from app.models import Participation, Round, Study
from app.services import resolutions
from app.services.analysis_settings import settings_of
from app.services.result_inputs import closed_snapshots
from app.services.snapshots import POOLING_EPS, POOLING_METHODS
from app.services.tidy import tidy_answers

#: Cooke's advice: at least 8 seed items (10 or more is better) before weights mean much; the
#: default of the `cooke_min_seeds` analysis setting
MIN_SEEDS = AnalysisSettings().cooke_min_seeds
#: question keys read as an expert's self-rating on an item when the panel has no study-wide one
SELF_RATING_KEYS = ("expertise", "confidence")
#: those questions as the notes name them (in the reader's language, never the key)
SELF_RATING_NAMES = {"expertise": N_("expertise"), "confidence": N_("confidence")}
#: the three weightings, in display order
WEIGHTINGS = ("equal", "self_rated", "performance")


@dataclass(frozen=True)
class ExpertScore:
    """One pseudonym's Cooke scores and normalised global weight."""

    pseudonym: str
    calibration: float
    information: float
    weight: float
    seeds_answered: int


@dataclass(frozen=True)
class CalibrationResult:
    """The panel's Cooke scores on the realised seeds of closed rounds up to `round`."""

    round: int | None
    seeds: tuple[str, ...]
    #: calibration items asked but without any realisation yet
    seeds_pending: tuple[str, ...]
    levels: tuple[float, ...]
    n_scored: int
    #: per pseudonym; empty when fewer than k experts were scored
    experts: tuple[ExpertScore, ...]
    per_expert_shown: bool
    alpha: float | None
    n_effective: int | None
    dm_calibration: float | None
    dm_information: float | None
    notes: tuple[Message, ...]
    #: pseudonym -> normalised weight (used for pooling; never shown when experts are hidden)
    weights: Mapping[str, float] = field(repr=False, default_factory=dict)
    #: the study's `cooke_min_seeds`: fewer realised seeds than this and the weights are flagged
    min_seeds: int = MIN_SEEDS
    #: whether alpha was optimised (Cooke's default) or fixed by the study's settings
    alpha_optimised: bool = True

    @property
    def few_seeds(self) -> bool:
        """Whether fewer than `min_seeds` items carry the weights."""
        return len(self.seeds) < self.min_seeds

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (messages in English; the web layer translates its own)."""
        return {
            "round": self.round,
            "seeds": list(self.seeds),
            "seeds_pending": list(self.seeds_pending),
            "min_seeds": self.min_seeds,
            "few_seeds": self.few_seeds,
            "levels": list(self.levels),
            "n_scored": self.n_scored,
            "per_expert_shown": self.per_expert_shown,
            "alpha": _finite(self.alpha),
            "alpha_optimised": self.alpha_optimised,
            "n_effective": self.n_effective,
            "dm_calibration": _finite(self.dm_calibration),
            "dm_information": _finite(self.dm_information),
            "experts": [
                {
                    "pseudonym": e.pseudonym,
                    "calibration": _finite(e.calibration),
                    "information": _finite(e.information),
                    "weight": _finite(e.weight),
                    "seeds_answered": e.seeds_answered,
                }
                for e in self.experts
            ],
            "notes": [str(n) for n in self.notes],
        }


def _finite(value: float | None) -> float | None:
    """None for None, NaN and infinities; the float otherwise."""
    return None if value is None or not math.isfinite(value) else float(value)


def _closed_rounds(session: Session, study: Study, up_to: int | None) -> list[Round]:
    """The closed rounds (with snapshots) up to `up_to`, oldest first."""
    return [r for r, _data in closed_snapshots(session, study, up_to)]


def _seed_answers(
    frame: pd.DataFrame, seeds: Sequence[str], levels: Sequence[str]
) -> dict[str, dict[str, list[float]]]:
    """pseudonym -> seed item -> quantiles, each from the latest closed round that has all."""
    found: dict[str, dict[str, list[float]]] = {}
    rows = frame[frame["item"].isin(list(seeds)) & frame["value"].notna()]
    if rows.empty or not levels:
        return found
    # one row per (round, expert, item) with a column per quantile level (the last answer
    # of a level wins, as it would in the table), complete rows only
    wide = rows.assign(value=rows["value"].astype(float)).pivot_table(
        index=["round", "expert", "item"], columns="part", values="value", aggfunc="last"
    )
    if not all(level in wide.columns for level in levels):
        return found
    complete = wide[list(levels)].dropna().reset_index()
    # a later round overwrites an earlier answer
    complete = complete.sort_values("round", kind="stable").drop_duplicates(
        ["expert", "item"], keep="last"
    )
    quantiles = complete[list(levels)].to_numpy(dtype=float).tolist()
    for expert, item, values in zip(
        complete["expert"].tolist(), complete["item"].tolist(), quantiles, strict=True
    ):
        found.setdefault(str(expert), {})[str(item)] = values
    return found


def score_panel(session: Session, study: Study, up_to: int | None = None) -> CalibrationResult:
    """Cooke's scores and global weights on the seeds realised so far (closed rounds only)."""
    settings = settings_of(study)
    fixed = settings.cooke_alpha == "fixed"
    rounds = _closed_rounds(session, study, up_to)
    realised = resolutions.current(session, study).realisations
    seed_items = [i for i in study.items if i.kind == ItemKind.CALIBRATION]
    notes: list[Message] = []
    number = rounds[-1].number if rounds else None
    levels: list[str] = []
    for item in seed_items:
        for question in item.questions:
            if question.kind == QuestionKind.QUANTILES and not levels:
                levels = [str(q) for q in question.config.get("quantiles", [])]
    pending = tuple(i.key for i in seed_items if i.key not in realised)
    empty = CalibrationResult(
        round=number,
        seeds=(),
        seeds_pending=pending,
        levels=tuple(float(q) / 100.0 for q in levels),
        n_scored=0,
        experts=(),
        per_expert_shown=False,
        alpha=None,
        n_effective=None,
        dm_calibration=None,
        dm_information=None,
        notes=(),
        min_seeds=settings.cooke_min_seeds,
        alpha_optimised=not fixed,
    )
    if not seed_items:
        return _with(empty, N_("This study asks no calibration items: no performance weights."))
    if not rounds:
        return _with(empty, N_("No round has closed yet: no performance weights."))
    frame = tidy_answers(session, study, rounds, matrices=False)
    keys = [i.key for i in seed_items if i.key in realised]
    answers = _seed_answers(frame, keys, levels)
    seeds = [key for key in keys if any(key in mine for mine in answers.values())]
    if not seeds:
        return _with(
            empty,
            N_("No calibration item has both a realisation and answers: no performance weights."),
        )
    experts = sorted(answers)
    array = np.full((len(experts), len(seeds), len(levels)), np.nan)
    for e, pseudonym in enumerate(experts):
        for s, key in enumerate(seeds):
            if key in answers[pseudonym]:
                array[e, s] = answers[pseudonym][key]
    try:
        data = make_data(
            array,
            [float(realised[key].value or 0.0) for key in seeds],
            [float(q) / 100.0 for q in levels],
            experts=experts,
            items=seeds,
        )
        scores = score_experts(data)
        dm = None
        if not fixed or settings.cooke_fixed_alpha <= float(scores.calibration.max()):
            dm = decision_maker(
                data, weights="global", alpha=settings.cooke_fixed_alpha if fixed else None
            )
    except InputError as error:
        return _with(empty, N_("The seed answers cannot be scored: %(error)s", error=str(error)))
    alpha = dm.alpha if dm is not None else settings.cooke_fixed_alpha
    raw = scores.calibration * scores.information_seed * (scores.calibration >= alpha)
    total = float(raw.sum())
    weights = {
        p: (float(w) / total if total > 0 else 0.0) for p, w in zip(experts, raw, strict=True)
    }
    if dm is None:
        notes.append(
            N_(
                "No expert's calibration reaches the fixed significance level α = %(alpha)s: "
                "every performance weight is 0.",
                alpha=alpha,
            )
        )
    if len(seeds) < settings.cooke_min_seeds:
        notes.append(
            N_(
                "Only %(n)s calibration items have realisations; Cooke's classical model wants "
                "at least %(min)s (10 or more is better). The performance weights rest on few "
                "seeds: read them as a sensitivity analysis, not as a verdict on the experts.",
                n=len(seeds),
                min=settings.cooke_min_seeds,
            )
        )
    notes.append(
        N_(
            "Performance weights measure how well each expert judged the seed items' "
            "uncertainty; they carry over to the events only as far as the seeds resemble them."
        )
    )
    if scores.n_effective < len(seeds):
        notes.append(
            N_(
                "Some experts answered fewer seed items; calibration uses the fewest any "
                "expert answered (N = %(n)s), as Cooke's model does.",
                n=scores.n_effective,
            )
        )
    shown = len(experts) >= study.k
    if not shown:
        notes.append(
            N_(
                "Fewer than k = %(k)s experts were scored: only panel-level figures are shown.",
                k=study.k,
            )
        )
    per_expert = tuple(
        ExpertScore(
            pseudonym=p,
            calibration=float(scores.calibration[e]),
            information=float(scores.information_seed[e]),
            weight=weights[p],
            seeds_answered=int(scores.seeds_answered[e]),
        )
        for e, p in enumerate(experts)
    )
    return CalibrationResult(
        round=number,
        seeds=tuple(seeds),
        seeds_pending=pending,
        levels=tuple(float(q) / 100.0 for q in levels),
        n_scored=len(experts),
        experts=per_expert if shown else (),
        per_expert_shown=shown,
        alpha=alpha,
        n_effective=scores.n_effective,
        dm_calibration=dm.calibration if dm is not None else None,
        dm_information=dm.information_seed if dm is not None else None,
        notes=tuple(notes),
        weights=weights,
        min_seeds=settings.cooke_min_seeds,
        alpha_optimised=not fixed,
    )


def _with(result: CalibrationResult, note: Message) -> CalibrationResult:
    """The result with one more note."""
    return CalibrationResult(**{**result.__dict__, "notes": (*result.notes, note)})


# ---------------------------------------------------------------------------------------------
# Pooling under three weightings


@dataclass(frozen=True)
class WeightedRow:
    """One probability part's pooled value (percent) per weighting and method."""

    item: str
    question: str
    part: str
    n: int
    #: weighting -> method -> percent (None: this weighting has no weights for the part)
    pooled: Mapping[str, Mapping[str, float | None] | None]
    #: weighting -> experts with a positive weight
    counted: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "item": self.item,
            "question": self.question,
            "part": self.part,
            "n": self.n,
            **{w: (dict(v) if v is not None else None) for w, v in self.pooled.items()},
            "counted": dict(self.counted),
        }


@dataclass(frozen=True)
class WeightedPooling:
    """A closed round's pooled probabilities under equal, self-rated and performance weights."""

    round: int
    rows: tuple[WeightedRow, ...]
    calibration: CalibrationResult
    #: where self-ratings come from: "participation", a question key, or None (not asked)
    self_rating_source: str | None
    notes: tuple[Message, ...]
    eps: float = POOLING_EPS

    def row(self, item: str, question: str, part: str) -> WeightedRow | None:
        """The row of one part, if pooled."""
        for row in self.rows:
            if (row.item, row.question, row.part) == (item, question, part):
                return row
        return None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "round": self.round,
            "weightings": list(WEIGHTINGS),
            "methods": list(POOLING_METHODS),
            "eps": self.eps,
            "self_rating_source": self.self_rating_source,
            "rows": [r.as_dict() for r in self.rows],
            "calibration": self.calibration.as_dict(),
            "notes": [str(n) for n in self.notes],
        }


def _pooled(
    values: Sequence[float], weights: Sequence[float] | None, eps: float
) -> dict[str, float | None]:
    """Percent under each reported method (as the snapshot pools, with optional weights)."""
    probabilities = np.asarray(values, dtype=float) / 100.0
    return {
        method: _finite(100.0 * pool(probabilities, method=method, eps=eps, weights=weights).p)
        for method in POOLING_METHODS
    }


def _answered_by_part(frame: pd.DataFrame) -> dict[tuple[str, str, str], list[tuple[str, float]]]:
    """The answered rows of a tidy frame as (expert, value) lists per (item, question, part),
    in the frame's order: one pass instead of a boolean filter per item and question."""
    answered = frame[frame["value"].notna()]
    found: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    for item, question, part, expert, value in zip(
        answered["item"].tolist(),
        answered["question"].tolist(),
        answered["part"].tolist(),
        answered["expert"].tolist(),
        answered["value"].astype(float).tolist(),
        strict=True,
    ):
        found.setdefault((item, question, part), []).append((str(expert), value))
    return found


def _answered_by_question(frame: pd.DataFrame) -> dict[tuple[str, str], list[tuple[str, float]]]:
    """The answered rows of a tidy frame as (expert, value) lists per (item, question)."""
    found: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for (item, question, _part), rows in _answered_by_part(frame).items():
        found.setdefault((item, question), []).extend(rows)
    return found


def _self_ratings(
    session: Session, study: Study, frame: pd.DataFrame
) -> tuple[str | None, dict[str, float], dict[tuple[str, str], float], dict[str, float]]:
    """(source, study-wide ratings, (item, pseudonym) ratings, item -> scale low end)."""
    wide = {
        p: float(e or 0)
        for p, e in session.execute(
            select(Participation.pseudonym, Participation.expertise).where(
                Participation.study_id == study.id, Participation.expertise.is_not(None)
            )
        ).tuples()
    }
    if wide:
        return "participation", wide, {}, {}
    per_item: dict[tuple[str, str], float] = {}
    lows: dict[str, float] = {}
    source: str | None = None
    answered = _answered_by_question(frame)
    for item in study.items:
        for question in item.questions:
            if question.kind == QuestionKind.LIKERT and question.key in SELF_RATING_KEYS:
                source = question.key
                lows[item.key] = float(
                    question.scale.min if question.scale and question.scale.min is not None else 1.0
                )
                for expert, value in answered.get((item.key, question.key), ()):
                    per_item[(item.key, expert)] = value
    return source, {}, per_item, lows


def weighted_pooling(session: Session, study: Study, round_: Round) -> WeightedPooling:
    """Every pooled probability of a closed round under the three weightings, side by side."""
    calibration = score_panel(session, study, round_.number)
    snapshot = round_.snapshot
    # the eps the snapshot pooled with, so that equal weights reproduce its numbers exactly
    eps = snapshot.content.pooling.eps if snapshot is not None else settings_of(study).pooling_eps
    frame = tidy_answers(session, study, [round_], matrices=False)
    source, wide, per_item, lows = _self_ratings(session, study, frame)
    notes: list[Message] = []
    if source is None:
        notes.append(
            N_(
                "This study asks no self-rated expertise (no study-wide rating and no "
                "expertise or confidence question): there is no self-rated weighting."
            )
        )
    elif source != "participation":
        notes.append(
            N_(
                "Self-rated weights use each expert's answer to the item's %(key)s question "
                "(a sensitivity analysis, not a measure of performance); experts who left it "
                "blank are not counted in that column.",
                key=SELF_RATING_NAMES.get(source, source),
            )
        )
    rows: list[WeightedRow] = []
    items = snapshot.content.items if snapshot is not None else {}
    by_part = _answered_by_part(frame)
    for key, entry in items.items():
        for question_key, question in entry.questions.items():
            for part, summary in question.parts.items():
                if summary.pooled is None or summary.n is None:
                    continue
                answered = by_part.get((key, question_key, part))
                if not answered:
                    continue
                experts = [expert for expert, _value in answered]
                values = [value for _expert, value in answered]
                pooled: dict[str, Mapping[str, float | None] | None] = {
                    "equal": _pooled(values, None, eps)
                }
                counted = {"equal": len(values)}
                # self-rated: experts without a rating count for nothing in this column
                ratings = [
                    wide.get(e) if source == "participation" else per_item.get((key, e))
                    for e in experts
                ]
                rated = [i for i, r in enumerate(ratings) if r is not None]
                if source is not None and rated:
                    low = 1.0 if source == "participation" else lows.get(key, 1.0)
                    w = np.zeros(len(values))
                    w[rated] = expertise_weights([float(ratings[i] or 0) for i in rated], low=low)
                    pooled["self_rated"] = _pooled(values, w.tolist(), eps)
                else:
                    pooled["self_rated"] = None
                counted["self_rated"] = len(rated)
                performance = [calibration.weights.get(e, 0.0) for e in experts]
                positive = sum(1 for w_ in performance if w_ > 0)
                pooled["performance"] = _pooled(values, performance, eps) if positive else None
                counted["performance"] = positive
                rows.append(
                    WeightedRow(
                        item=key,
                        question=question_key,
                        part=part,
                        n=len(values),
                        pooled=pooled,
                        counted=counted,
                    )
                )
    return WeightedPooling(
        round=round_.number,
        rows=tuple(rows),
        calibration=calibration,
        self_rating_source=source,
        notes=tuple(notes),
        eps=eps,
    )
