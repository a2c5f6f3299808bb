"""The frozen snapshot of a closed round: every statistic later views, feedback and reports read.

Computed once, at close, inside the closing transaction, from the answers current at that
moment; the set of answers it used is recorded by digest. Statistics come from analysis/.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from analysis.consensus import PRESETS, parse_rule
from analysis.describe import ScaleSpec, describe, histogram
from analysis.pooling import pool
from analysis.stability import compare_rounds
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.model import QuestionKind, ScaleKind
from app.models import Answer, Item, Round, Scale, Snapshot, Study
from app.services.rounds import previous_closed_round, questions_asked
from app.services.tidy import Part, is_probability_part, question_parts, reasons, tidy_answers

SNAPSHOT_FORMAT = 1
#: clip probabilities to [EPS, 1 - EPS] before any log-odds pooling
POOLING_EPS = 1e-3
#: pooling methods reported for every probability question
POOLING_METHODS = ("logodds", "linear", "median")


def scale_spec(scale: Scale | None, part: Part) -> ScaleSpec:
    """The analysis view of a question part's scale."""
    if scale is None or (
        part.kind in (QuestionKind.TREND_IMPACT, QuestionKind.QUANTILES)
        and (scale.kind != ScaleKind.PROBABILITY)
    ):
        low = scale.min if scale is not None else None
        high = scale.max if scale is not None else None
        return ScaleSpec(kind="continuous", low=low, high=high)
    region = tuple(scale.agree_region) if scale.agree_region else None
    return ScaleSpec(
        kind="probability"
        if scale.kind == ScaleKind.PROBABILITY
        else "likert"
        if scale.kind == ScaleKind.LIKERT
        else "continuous",
        low=scale.min,
        high=scale.max,
        step=scale.step,
        bipolar=scale.bipolar,
        agree_region=(float(region[0]), float(region[1])) if region else None,
        agree_within=scale.agree_within,
    )


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _stats_dict(stats: Any) -> dict[str, Any]:
    """ItemStats as a JSON-safe dict."""
    return {k: _clean(v) for k, v in stats.as_dict().items()}


def _describe_part(values: Sequence[float], spec: ScaleSpec, method: str) -> dict[str, Any]:
    """Statistics and histogram for one question part's values."""
    stats = describe(np.asarray(values, dtype=float), spec, quantile_method=method)
    bins = histogram(np.asarray(values, dtype=float), spec)
    return {
        "stats": _stats_dict(stats),
        "histogram": [
            {"low": _clean(b.low), "high": _clean(b.high), "label": b.label, "count": int(b.count)}
            for b in bins
        ],
    }


def _consensus(study: Study, scale: Scale | None, stats: Mapping[str, Any]) -> dict[str, Any]:
    """The study's rule and the comparison presets, each: reached (True/False/None)."""
    rule_text = (scale.consensus if scale is not None and scale.consensus else None) or (
        study.consensus_rule
    )
    rule = parse_rule(rule_text)
    presets: dict[str, bool | None] = {}
    for name in study.compare_presets:
        preset = PRESETS.get(name)
        if preset is not None:
            presets[name] = (
                parse_rule(preset.rule_for(scale_kind=scale.kind if scale else None)).evaluate(
                    stats
                )
                if hasattr(preset, "rule_for")
                else parse_rule(preset.rule).evaluate(stats)
            )
    return {"rule": rule_text, "reached": rule.evaluate(stats), "presets": presets}


def _suppress_groups(counts: Mapping[str, int], k: int) -> set[str]:
    """Groups to hide: those under k, plus the next smallest when only one would be hidden
    (otherwise it could be recovered by subtracting the shown groups from the total)."""
    hidden = {g for g, n in counts.items() if n < k}
    shown = sorted((n, g) for g, n in counts.items() if g not in hidden)
    if len(hidden) == 1 and shown:
        hidden.add(shown[0][1])
    return hidden


def _pooled(values: Sequence[float]) -> dict[str, Any]:
    """Pooled probability (in percent) under each reported method."""
    probabilities = np.clip(np.asarray(values, dtype=float) / 100.0, 0.0, 1.0)
    result: dict[str, Any] = {"eps": POOLING_EPS}
    for method in POOLING_METHODS:
        pooled = pool(probabilities, method=method, eps=POOLING_EPS)
        result[method] = _clean(100.0 * float(pooled.p))
    return result


def compute_snapshot_data(
    session: Session, study: Study, round_: Round, *, rng: random.Random | None = None
) -> dict[str, Any]:
    """The snapshot's content for a round (pure read; nothing is written)."""
    shuffle = rng or random.SystemRandom()
    previous = previous_closed_round(session, round_)
    frame = tidy_answers(session, study, [round_] + ([previous] if previous else []))
    current = frame[frame["round"] == round_.number]
    before = frame[frame["round"] == previous.number] if previous else frame.iloc[0:0]
    free_text = reasons(session, study, [round_])
    k = study.k
    items: dict[str, Any] = {}
    answered_experts: set[str] = set()
    for round_item in round_.items:
        item: Item = round_item.item
        item_rows = current[current["item"] == item.key]
        answered_experts.update(item_rows["expert"].unique().tolist())
        questions: dict[str, Any] = {}
        for question in questions_asked(item, round_.number):
            if question.kind == QuestionKind.TEXT:
                continue
            q_rows = item_rows[item_rows["question"] == question.key]
            no_answer = (
                int(
                    q_rows.loc[
                        q_rows["part"].isin(["", q_rows["part"].min()]) if len(q_rows) else [],
                        "no_answer",
                    ].sum()
                )
                if len(q_rows)
                else 0
            )
            parts: dict[str, Any] = {}
            for part in question_parts(question):
                parts[part.part] = _summarise_part(
                    study,
                    part,
                    q_rows,
                    before[(before["item"] == item.key) & (before["question"] == question.key)],
                    k,
                )
            questions[question.key] = {
                "kind": question.kind,
                "scale": question.scale.key if question.scale else None,
                "no_answer": no_answer if no_answer >= k or no_answer == 0 else None,
                "parts": parts,
            }
        item_experts = item_rows["expert"].nunique()
        texts = list(free_text.get((round_.number, item.key), []))
        shuffle.shuffle(texts)
        items[item.key] = {
            "item_id": item.id,
            "version": round_item.version.number,
            "respondents": int(item_experts) if item_experts >= k else None,
            "questions": questions,
            "reasons": texts if item_experts >= study.k_comments else [],
            "reasons_withheld": bool(texts) and item_experts < study.k_comments,
        }
    return {
        "format": SNAPSHOT_FORMAT,
        "round": round_.number,
        "k": k,
        "k_comments": study.k_comments,
        "quantile_method": study.quantile_method,
        "consensus_rule": study.consensus_rule,
        "stability_rule": study.stability_rule,
        "previous_round": previous.number if previous else None,
        "respondents": len(answered_experts),
        "items": items,
    }


def _summarise_part(
    study: Study, part: Part, rows: pd.DataFrame, before: pd.DataFrame, k: int
) -> dict[str, Any]:
    """Overall and per-group statistics for one part, k-suppressed, with stability and pooling."""
    rows = rows[(rows["part"] == part.part) & rows["value"].notna()]
    values = rows["value"].astype(float).tolist()
    spec = scale_spec(part.scale, part)
    summary: dict[str, Any] = {"n": len(values) if len(values) >= k else None}
    if len(values) < k:
        summary["suppressed"] = True
        return summary
    summary["suppressed"] = False
    summary.update(_describe_part(values, spec, study.quantile_method))
    if part.kind != QuestionKind.TREND_IMPACT and part.kind != QuestionKind.QUANTILES:
        summary["consensus"] = _consensus(study, part.scale, summary["stats"])
    if is_probability_part(part):
        summary["pooled"] = _pooled(values)
    counts = rows.groupby("group")["value"].count().to_dict()
    hidden = _suppress_groups({str(g): int(n) for g, n in counts.items()}, k)
    groups: dict[str, Any] = {}
    for group, group_rows in rows.groupby("group"):
        name = str(group)
        if name in hidden:
            groups[name] = {"suppressed": True, "n": None}
        else:
            entry = _describe_part(
                group_rows["value"].astype(float).tolist(), spec, study.quantile_method
            )
            entry.update({"suppressed": False, "n": len(group_rows)})
            groups[name] = entry
    if len(groups) > 1:
        summary["groups"] = groups
    previous_rows = before[(before["part"] == part.part) & before["value"].notna()]
    if len(previous_rows) >= k:
        stability = compare_rounds(
            dict(zip(previous_rows["expert"], previous_rows["value"].astype(float), strict=True)),
            dict(zip(rows["expert"], rows["value"].astype(float), strict=True)),
            spec,
        )
        summary["stability"] = {key: _clean(value) for key, value in stability.as_dict().items()}
    return summary


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
        round_id=round_.id,
        created_at=now,
        data=compute_snapshot_data(session, study, round_),
        answer_count=count,
        answers_digest=digest,
    )
    session.add(snapshot)
    session.flush()
    return snapshot
