"""The frozen snapshot of a closed round: every statistic later views, feedback and reports read.

Computed once, at close, inside the closing transaction, from the answers current at that
moment; the set of answers it used is recorded by count and digest. Statistics come from
analysis/. Aggregates over fewer than k answers are never stored: a small cell keeps only
`{"suppressed": true}`.

The content is typed: `analysis/snapshot.py` defines it as frozen dataclasses (`SnapshotData`,
`ItemSummary`, `QuestionSummary`, `PartSummary`, `Verdict`...), built here and stored as their
`to_dict()`; readers use `Snapshot.content`, never string keys. `Snapshot.data` looks like this (PART is "" for single-valued questions, else e.g. "5",
"2030", "E08|given" or "i_max"):

    {"format": 1, "round", "k", "k_comments", "quantile_method", "consensus_rule",
     "stability_rule", "compare_presets", "pooling", "wilcoxon", "previous_round", "respondents",
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
from dataclasses import replace
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
from analysis.snapshot import (
    SNAPSHOT_FORMAT,
    Bin,
    Consensus,
    ItemSummary,
    PartSummary,
    Pooled,
    PoolingOptions,
    QuestionSummary,
    SnapshotData,
    Stability,
    Verdict,
    WilcoxonOptions,
)
from analysis.stability import compare_rounds, stopping_verdict
from app.definitions.model import QuestionKind, ScaleKind
from app.models import Answer, Item, Round, RoundState, Scale, Snapshot, Study
from app.services.analysis_settings import settings_of
from app.services.tidy import Part, is_probability_part, question_parts, reasons, tidy_answers

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


#: a part or group with fewer than k answers: nothing but that fact is stored
SUPPRESSED = PartSummary(n=None, suppressed=True)


def _distribution(values: Sequence[float], spec: ScaleSpec, method: str) -> PartSummary:
    """Statistics and histogram of one set of answers."""
    array = np.asarray(values, dtype=float)
    stats = describe(array, spec, quantile_method=method)
    return PartSummary(
        n=len(values),
        suppressed=False,
        stats={k: _clean(v) for k, v in stats.as_dict().items()},
        histogram=tuple(
            Bin(low=_clean(b.low), high=_clean(b.high), label=b.label, count=int(b.count))
            for b in histogram(array, spec)
        ),
    )


@functools.lru_cache(maxsize=256)
def _rule(text: str) -> Expression:
    """A parsed consensus rule (rules repeat across every item of a study)."""
    return parse_rule(text).expression


@functools.lru_cache(maxsize=64)
def _preset_rule(name: str, kind: str) -> Expression:
    """A preset's rule for a scale kind."""
    return PRESETS[name].rule(kind).expression


def _consensus(study: Study, scale: Scale | None, stats: Mapping[str, Any]) -> Consensus:
    """The study's rule and the comparison presets, each reached: True, False or None."""
    rule_text = (scale.consensus if scale is not None else None) or study.consensus_rule
    kind = scale.kind if scale is not None else "likert"
    presets = {
        name: _preset_rule(name, kind).evaluate(stats)
        for name in study.compare_presets
        if name in PRESETS
    }
    return Consensus(rule=rule_text, reached=_rule(rule_text).evaluate(stats), presets=presets)


def suppressed_groups(counts: Mapping[str, int], k: int) -> set[str]:
    """Groups to hide: those under k, then the smallest shown ones until the hidden groups
    hold at least k answers together (else the total minus the shown groups would be an
    aggregate of fewer than k answers, e.g. its histogram)."""
    hidden = {group for group, n in counts.items() if n < k}
    shown = sorted((n, group) for group, n in counts.items() if group not in hidden)
    while hidden and shown and sum(counts[group] for group in hidden) < k:
        hidden.add(shown.pop(0)[1])
    return hidden


def _pooled(values: Sequence[float], eps: float) -> Pooled:
    """Pooled probability (in percent) under each reported method, equal weights."""
    probabilities = np.asarray(values, dtype=float) / 100.0
    result = {
        method: _clean(100.0 * pool(probabilities, method=method, eps=eps).p)
        for method in POOLING_METHODS
    }
    return Pooled(eps=eps, weights="equal", **result)


def _summarise_part(
    study: Study,
    round_: Round,
    part: Part,
    rows: pd.DataFrame,
    before: pd.DataFrame,
    settings: AnalysisSettings,
) -> PartSummary:
    """Overall and per-group statistics for one part, k-suppressed, with stability and pooling."""
    k = study.k
    answered = rows[(rows["part"] == part.part) & rows["value"].notna()]
    if len(answered) < k:
        return SUPPRESSED
    spec = scale_spec(part)
    values = answered["value"].astype(float).tolist()
    summary = _distribution(values, spec, study.quantile_method)
    stats = summary.stats or {}
    consensus = _consensus(study, part.scale, stats) if part.kind in _CONSENSUS_KINDS else None
    pooled = _pooled(values, settings.pooling_eps) if is_probability_part(part) else None
    groups: dict[str, PartSummary] | None = None
    counts = {str(g): int(n) for g, n in answered.groupby("group")["value"].count().items()}
    if len(counts) > 1:
        hidden = suppressed_groups(counts, k)
        groups = {
            group: (
                SUPPRESSED
                if group in hidden
                else _distribution(
                    answered.loc[answered["group"] == group, "value"].astype(float).tolist(),
                    spec,
                    study.quantile_method,
                )
            )
            for group in sorted(counts)
        }
    stability: Stability | None = None
    verdict: Verdict | None = None
    earlier = before[(before["part"] == part.part) & before["value"].notna()]
    # stability needs a notion of agreement, which estimates and impact profiles lack
    if len(earlier) >= k and part.kind in _CONSENSUS_KINDS:
        compared = compare_rounds(
            dict(zip(earlier["expert"], earlier["value"].astype(float), strict=True)),
            dict(zip(answered["expert"], answered["value"].astype(float), strict=True)),
            spec,
            quantile_method=study.quantile_method,
            wilcoxon=settings.wilcoxon,
            wilcoxon_exact_up_to=settings.wilcoxon_exact_up_to,
        )
        stability = Stability(
            figures={key: _clean(v) for key, v in compared.as_dict().items()},
            # which computation gave wilcoxon_p: "exact", "normal" or "none" (no change at all)
            wilcoxon_method=compared.wilcoxon_method,
        )
        if consensus is not None:
            stop = stopping_verdict(
                consensus.reached,
                compared,
                study.stability_rule,
                round_limit_reached=round_.number >= study.round_limit,
            )
            verdict = Verdict(
                decision=stop.decision,
                label=stop.label,
                stable=stop.stable,
                reasons=tuple(stop.reasons),
            )
    return replace(
        summary,
        consensus=consensus,
        pooled=pooled,
        groups=groups,
        stability=stability,
        verdict=verdict,
    )


def compute_snapshot(
    session: Session, study: Study, round_: Round, *, rng: random.Random | None = None
) -> SnapshotData:
    """The snapshot's typed content for a round (a pure read; nothing is written)."""
    shuffler = rng or random.SystemRandom()
    settings = settings_of(study)
    previous = previous_closed_round(session, round_)
    frame = tidy_answers(session, study, [round_] + ([previous] if previous else []))
    current = frame[frame["round"] == round_.number]
    before = frame[frame["round"] == previous.number] if previous else frame.iloc[0:0]
    free_text = reasons(session, study, [round_])
    items: dict[str, ItemSummary] = {}
    for round_item in round_.items:
        item: Item = round_item.item
        item_rows = current[current["item"] == item.key]
        item_before = before[before["item"] == item.key]
        respondents = int(item_rows["expert"].nunique())
        questions: dict[str, QuestionSummary] = {}
        for question in item.questions_in(round_.number):
            if question.kind == QuestionKind.TEXT:
                continue
            q_rows = item_rows[item_rows["question"] == question.key]
            no_answer = int(q_rows.loc[q_rows["no_answer"].astype(bool), "expert"].nunique())
            questions[question.key] = QuestionSummary(
                kind=question.kind,
                scale=question.scale.key if question.scale else None,
                # how many said "outside my expertise": a count, so k-suppressed like the rest
                no_answer=no_answer if no_answer == 0 or no_answer >= study.k else None,
                parts={
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
            )
        texts = list(free_text.get((round_.number, item.key), []))
        shuffler.shuffle(texts)
        enough_for_reasons = respondents >= study.k_comments
        items[item.key] = ItemSummary(
            item_id=item.id,
            kind=item.kind,
            version=round_item.version.number,
            respondents=respondents if respondents >= study.k else None,
            questions=questions,
            reasons=tuple(texts) if enough_for_reasons else (),
            reasons_withheld=bool(texts) and not enough_for_reasons,
        )
    return SnapshotData(
        format=SNAPSHOT_FORMAT,
        round=round_.number,
        k=study.k,
        k_comments=study.k_comments,
        quantile_method=study.quantile_method,
        consensus_rule=study.consensus_rule,
        stability_rule=study.stability_rule,
        compare_presets=tuple(study.compare_presets),
        pooling=PoolingOptions(methods=POOLING_METHODS, eps=settings.pooling_eps, weights="equal"),
        # every setting the study's analyses ran with, so a reader can rerun them
        analysis=settings.as_dict(),
        # how the stability figures' Wilcoxon p-values were computed (also in "analysis")
        wilcoxon=WilcoxonOptions(
            method=settings.wilcoxon, exact_up_to=settings.wilcoxon_exact_up_to
        ),
        previous_round=previous.number if previous else None,
        respondents=int(current["expert"].nunique()),
        items=items,
    )


def compute_snapshot_data(
    session: Session, study: Study, round_: Round, *, rng: random.Random | None = None
) -> dict[str, Any]:
    """The snapshot's content for a round as stored (a pure read; nothing is written)."""
    return compute_snapshot(session, study, round_, rng=rng).to_dict()


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
