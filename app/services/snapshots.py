"""The frozen snapshot of a closed round: every statistic later views, feedback and reports read.

Computed once, at close, inside the closing transaction, from the answers current at that
moment; the set of answers it used is recorded by count and digest. Statistics come from
analysis/. Aggregates over fewer than k answers are never stored: a small cell keeps only
`{"suppressed": true}`.

`Snapshot.data` looks like this (PART is "" for single-valued questions, else e.g. "5",
"2030", "E08|given" or "i_max"):

    {"format": 1, "round", "k", "k_comments", "quantile_method", "consensus_rule",
     "stability_rule", "previous_round", "respondents",
     "items": {ITEM: {"item_id", "kind", "version", "respondents", "reasons", "reasons_withheld",
        "questions": {QUESTION: {"kind", "scale", "no_answer",
            "parts": {PART: {"n", "suppressed", "stats", "histogram", "consensus", "pooled",
                             "groups", "stability", "verdict"}}}}}}}
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.consensus import PRESETS, parse_rule
from analysis.describe import ScaleSpec, describe, histogram
from analysis.expressions import Expression
from analysis.pooling import pool
from analysis.settings import AnalysisSettings
from analysis.stability import compare_rounds, stopping_verdict
from app.definitions.model import QuestionKind, ScaleKind
from app.models import Answer, Item, Round, RoundState, Scale, Snapshot, Study
from app.services.analysis_settings import settings_of
from app.services.tidy import Part, is_probability_part, question_parts, reasons, tidy_answers

SNAPSHOT_FORMAT = 1
#: the default clipping of probabilities to [EPS, 1 - EPS] before log-odds pooling (a study
#: may set its own: `pooling_eps` in its analysis settings)
POOLING_EPS = AnalysisSettings().pooling_eps
#: pooling methods reported for every probability question (log-odds first: the default)
POOLING_METHODS = ("logodds", "linear", "median")
#: question kinds whose parts get a consensus verdict (estimates and profiles do not)
_CONSENSUS_KINDS = (QuestionKind.PROBABILITY, QuestionKind.LIKERT, QuestionKind.CONDITIONAL)


def scale_spec(part: Part) -> ScaleSpec:
    """The analysis view of a question part's scale."""
    scale = part.scale
    if scale is None:
        return ScaleSpec(kind="continuous")
    if scale.kind == ScaleKind.PROBABILITY:
        return ScaleSpec(kind="probability")
    if scale.kind == ScaleKind.LIKERT and part.kind == QuestionKind.LIKERT:
        region = scale.agree_region
        return ScaleSpec(
            kind="likert",
            low=scale.min,
            high=scale.max,
            step=scale.step,
            bipolar=scale.bipolar,
            agree_region=(float(region[0]), float(region[1])) if region else None,
            agree_within=scale.agree_within,
        )
    return ScaleSpec(kind="continuous", low=scale.min, high=scale.max)


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _distribution(values: Sequence[float], spec: ScaleSpec, method: str) -> dict[str, Any]:
    """Statistics and histogram of one set of answers."""
    array = np.asarray(values, dtype=float)
    stats = describe(array, spec, quantile_method=method)
    return {
        "n": len(values),
        "suppressed": False,
        "stats": {k: _clean(v) for k, v in stats.as_dict().items()},
        "histogram": [
            {"low": _clean(b.low), "high": _clean(b.high), "label": b.label, "count": int(b.count)}
            for b in histogram(array, spec)
        ],
    }


@functools.lru_cache(maxsize=256)
def _rule(text: str) -> Expression:
    """A parsed consensus rule (rules repeat across every item of a study)."""
    return parse_rule(text).expression


@functools.lru_cache(maxsize=64)
def _preset_rule(name: str, kind: str) -> Expression:
    """A preset's rule for a scale kind."""
    return PRESETS[name].rule(kind).expression


def _consensus(study: Study, scale: Scale | None, stats: Mapping[str, Any]) -> dict[str, Any]:
    """The study's rule and the comparison presets, each reached: True, False or None."""
    rule_text = (scale.consensus if scale is not None else None) or study.consensus_rule
    kind = scale.kind if scale is not None else "likert"
    presets = {
        name: PRESETS[name].rule(kind).expression.evaluate(stats)
        for name in study.compare_presets
        if name in PRESETS
    }
    return {
        "rule": rule_text,
        "reached": parse_rule(rule_text).expression.evaluate(stats),
        "presets": presets,
    }


def suppressed_groups(counts: Mapping[str, int], k: int) -> set[str]:
    """Groups to hide: those under k, then the smallest shown ones until the hidden groups
    hold at least k answers together (else the total minus the shown groups would be an
    aggregate of fewer than k answers, e.g. its histogram)."""
    hidden = {group for group, n in counts.items() if n < k}
    shown = sorted((n, group) for group, n in counts.items() if group not in hidden)
    while hidden and shown and sum(counts[group] for group in hidden) < k:
        hidden.add(shown.pop(0)[1])
    return hidden


def _pooled(values: Sequence[float], eps: float) -> dict[str, Any]:
    """Pooled probability (in percent) under each reported method, equal weights."""
    probabilities = np.asarray(values, dtype=float) / 100.0
    result: dict[str, Any] = {"eps": eps, "weights": "equal"}
    for method in POOLING_METHODS:
        result[method] = _clean(100.0 * pool(probabilities, method=method, eps=eps).p)
    return result


def _summarise_part(
    study: Study,
    round_: Round,
    part: Part,
    rows: pd.DataFrame,
    before: pd.DataFrame,
    settings: AnalysisSettings,
) -> dict[str, Any]:
    """Overall and per-group statistics for one part, k-suppressed, with stability and pooling."""
    k = study.k
    answered = rows[(rows["part"] == part.part) & rows["value"].notna()]
    if len(answered) < k:
        return {"n": None, "suppressed": True}
    spec = scale_spec(part)
    values = answered["value"].astype(float).tolist()
    summary = _distribution(values, spec, study.quantile_method)
    if part.kind in _CONSENSUS_KINDS:
        summary["consensus"] = _consensus(study, part.scale, summary["stats"])
    if is_probability_part(part):
        summary["pooled"] = _pooled(values, settings.pooling_eps)
    counts = {str(g): int(n) for g, n in answered.groupby("group")["value"].count().items()}
    if len(counts) > 1:
        hidden = suppressed_groups(counts, k)
        summary["groups"] = {
            group: (
                {"n": None, "suppressed": True}
                if group in hidden
                else _distribution(
                    answered.loc[answered["group"] == group, "value"].astype(float).tolist(),
                    spec,
                    study.quantile_method,
                )
            )
            for group in sorted(counts)
        }
    earlier = before[(before["part"] == part.part) & before["value"].notna()]
    # stability needs a notion of agreement, which estimates and impact profiles lack
    if len(earlier) >= k and part.kind in _CONSENSUS_KINDS:
        stability = compare_rounds(
            dict(zip(earlier["expert"], earlier["value"].astype(float), strict=True)),
            dict(zip(answered["expert"], answered["value"].astype(float), strict=True)),
            spec,
            quantile_method=study.quantile_method,
        )
        summary["stability"] = {key: _clean(v) for key, v in stability.as_dict().items()}
        if "consensus" in summary:
            verdict = stopping_verdict(
                summary["consensus"]["reached"],
                stability,
                study.stability_rule,
                round_limit_reached=round_.number >= study.round_limit,
            )
            summary["verdict"] = {
                "decision": verdict.decision,
                "label": verdict.label,
                "stable": verdict.stable,
                "reasons": list(verdict.reasons),
            }
    return summary


def compute_snapshot_data(
    session: Session, study: Study, round_: Round, *, rng: random.Random | None = None
) -> dict[str, Any]:
    """The snapshot's content for a round (a pure read; nothing is written)."""
    shuffler = rng or random.SystemRandom()
    settings = settings_of(study)
    previous = previous_closed_round(session, round_)
    frame = tidy_answers(session, study, [round_] + ([previous] if previous else []))
    current = frame[frame["round"] == round_.number]
    before = frame[frame["round"] == previous.number] if previous else frame.iloc[0:0]
    free_text = reasons(session, study, [round_])
    items: dict[str, Any] = {}
    for round_item in round_.items:
        item: Item = round_item.item
        item_rows = current[current["item"] == item.key]
        item_before = before[before["item"] == item.key]
        respondents = int(item_rows["expert"].nunique())
        questions: dict[str, Any] = {}
        for question in item.questions_in(round_.number):
            if question.kind == QuestionKind.TEXT:
                continue
            q_rows = item_rows[item_rows["question"] == question.key]
            no_answer = int(q_rows.loc[q_rows["no_answer"].astype(bool), "expert"].nunique())
            questions[question.key] = {
                "kind": question.kind,
                "scale": question.scale.key if question.scale else None,
                # how many said "outside my expertise": a count, so k-suppressed like the rest
                "no_answer": no_answer if no_answer == 0 or no_answer >= study.k else None,
                "parts": {
                    part.part: _summarise_part(
                        study,
                        round_,
                        part,
                        q_rows,
                        item_before[item_before["question"] == question.key],
                        settings,
                    )
                    for part in question_parts(question)
                },
            }
        texts = list(free_text.get((round_.number, item.key), []))
        shuffler.shuffle(texts)
        enough_for_reasons = respondents >= study.k_comments
        items[item.key] = {
            "item_id": item.id,
            "kind": item.kind,
            "version": round_item.version.number,
            "respondents": respondents if respondents >= study.k else None,
            "questions": questions,
            "reasons": texts if enough_for_reasons else [],
            "reasons_withheld": bool(texts) and not enough_for_reasons,
        }
    return {
        "format": SNAPSHOT_FORMAT,
        "round": round_.number,
        "k": study.k,
        "k_comments": study.k_comments,
        "quantile_method": study.quantile_method,
        "consensus_rule": study.consensus_rule,
        "stability_rule": study.stability_rule,
        "compare_presets": list(study.compare_presets),
        "pooling": {
            "methods": list(POOLING_METHODS),
            "eps": settings.pooling_eps,
            "weights": "equal",
        },
        # every setting the study's analyses ran with, so a reader can rerun them
        "analysis": settings.as_dict(),
        "previous_round": previous.number if previous else None,
        "respondents": int(current["expert"].nunique()),
        "items": items,
    }


def previous_closed_round(session: Session, round_: Round) -> Round | None:
    """The closed round just before this one (whose snapshot is this round's feedback)."""
    return session.scalar(
        select(Round).where(
            Round.study_id == round_.study_id,
            Round.number == round_.number - 1,
            Round.state == RoundState.CLOSED,
        )
    )


def answers_digest(session: Session, round_: Round) -> tuple[int, str]:
    """How many current answers a round has, and a sha256 over their (id, revision) pairs."""
    rows = session.execute(
        select(Answer.id, Answer.revision)
        .where(Answer.round_id == round_.id, Answer.is_current.is_(True))
        .order_by(Answer.id)
    ).all()
    digest = hashlib.sha256(",".join(f"{i}:{r}" for i, r in rows).encode()).hexdigest()
    return len(rows), digest


def build_snapshot(session: Session, round_: Round, *, now: datetime) -> Snapshot:
    """Compute and store the round's snapshot (the round must be closed)."""
    study = session.get_one(Study, round_.study_id)
    count, digest = answers_digest(session, round_)
    snapshot = Snapshot(
        round=round_,  # sets round_.snapshot too, so this session never sees a stale None
        created_at=now,
        data=compute_snapshot_data(session, study, round_),
        answer_count=count,
        answers_digest=digest,
    )
    session.add(snapshot)
    session.flush()
    return snapshot


def snapshot_of(session: Session, round_: Round) -> Snapshot | None:
    """The frozen snapshot of a closed round, if any."""
    return session.scalar(select(Snapshot).where(Snapshot.round_id == round_.id))
