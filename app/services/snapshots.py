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
import os
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from analysis.consensus import PRESETS, parse_rule
from analysis.describe import ItemStats, ScaleSpec, chart_histogram, describe, describe_many
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
from app.collector import full_collections_held
from app.definitions.model import QuestionKind, ScaleKind
from app.models import (
    Answer,
    Item,
    Round,
    RoundState,
    Scale,
    Snapshot,
    Study,
)
from app.services.analysis_settings import settings_of
from app.services.snapshot_numbers import (
    NO_NUMBERS,
    Numbers,
    Panel,
    RoundNumbers,
    read_panel,
    round_numbers,
)
from app.services.tidy import Part, is_probability_part, question_parts, reasons

#: the default clipping of probabilities to [EPS, 1 - EPS] before log-odds pooling (a study
#: may set its own: `pooling_eps` in its analysis settings)
POOLING_EPS = AnalysisSettings().pooling_eps
#: pooling methods reported for every probability question (log-odds first: the default)
POOLING_METHODS = ("logodds", "linear", "median")
#: question kinds whose parts get a consensus verdict (estimates and profiles do not)
_CONSENSUS_KINDS = (QuestionKind.PROBABILITY, QuestionKind.LIKERT, QuestionKind.CONDITIONAL)


#: the rating range of each structural matrix row's cells (they have no scale of their own);
#: a range reaching below zero is bipolar, where the coefficient of variation means nothing
_ROW_RANGES = {
    QuestionKind.INFLUENCE: (0.0, 3.0),
    QuestionKind.ACTOR_INFLUENCE: (0.0, 4.0),
    QuestionKind.POSITIONS: (-4.0, 4.0),
    QuestionKind.CROSS_IMPACT: (-3.0, 3.0),
}


def scale_spec(part: Part) -> ScaleSpec:
    """The analysis view of a question part's scale."""
    scale = part.scale
    if scale is None:
        low, high = _ROW_RANGES.get(QuestionKind(part.kind), (None, None))
        bipolar = low is not None and low < 0
        return ScaleSpec(kind="continuous", low=low, high=high, bipolar=bipolar)
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
    """JSON-safe: numpy scalars to Python, NaN and infinities to None, -0.0 to 0.0 (the
    database's JSON keeps no sign on zero: a stored snapshot must read back as computed)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value == 0.0:
            return 0.0
    return value


#: a part or group with fewer than k answers: nothing but that fact is stored
SUPPRESSED = PartSummary(n=None, suppressed=True)


def _distribution(
    values: npt.ArrayLike, spec: ScaleSpec, method: str, stats: ItemStats | None = None
) -> PartSummary:
    """Statistics and histogram of one set of answers (`stats`: already described)."""
    array = np.asarray(values, dtype=float)
    if stats is None:
        stats = describe(array, spec, quantile_method=method)
    return PartSummary(
        n=len(array),
        suppressed=False,
        stats={k: _clean(v) for k, v in stats.as_dict().items()},
        histogram=tuple(
            Bin(low=_clean(b.low), high=_clean(b.high), label=b.label, count=int(b.count))
            for b in chart_histogram(array, spec)
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


def _pooled(values: npt.ArrayLike, eps: float) -> Pooled:
    """Pooled probability (in percent) under each reported method, equal weights."""
    probabilities = np.asarray(values, dtype=float) / 100.0
    result = {
        method: _clean(100.0 * pool(probabilities, method=method, eps=eps).p)
        for method in POOLING_METHODS
    }
    return Pooled(eps=eps, weights="equal", **result)


def _group_split(
    numbers: Numbers, panel: Panel, k: int
) -> tuple[npt.NDArray[np.int64], list[tuple[int, str, bool]]] | None:
    """Each answer's group code, and the part's groups as (code, name, shown) in name order;
    None when the answers fall in fewer than two groups (no split is shown)."""
    of_group = panel.group_codes[numbers.ranks]
    # experts without a group (code -1) are in no group's figures
    tally = np.bincount(of_group[of_group >= 0], minlength=len(panel.group_names))
    counts = {panel.group_names[c]: int(n) for c, n in enumerate(tally.tolist()) if n}
    if len(counts) < 2:
        return None
    hidden = suppressed_groups(counts, k)
    shown = [
        (code, group, group not in hidden)
        for code, group in enumerate(panel.group_names)
        if group in counts
    ]
    return of_group, shown


def _describe_round(
    study: Study, round_: Round, current: RoundNumbers, panel: Panel
) -> dict[tuple[str, str, str], dict[str | None, ItemStats]]:
    """The statistics of every part the snapshot shows, and of its shown groups, described in
    one vectorised pass (keyed by item, question and part, then group; None: the whole part)."""
    keys: list[tuple[tuple[str, str, str], str | None]] = []
    answer_sets: list[npt.NDArray[np.float64]] = []
    scales: list[ScaleSpec] = []
    for round_item in round_.items:
        item: Item = round_item.item
        for question in item.questions_in(round_.number):
            if question.kind == QuestionKind.TEXT:
                continue
            for part in question_parts(question):
                key = (item.key, question.key, part.part)
                numbers = current.parts.get(key, NO_NUMBERS)
                if len(numbers.values) < study.k:
                    continue
                spec = scale_spec(part)
                keys.append((key, None))
                answer_sets.append(numbers.values)
                scales.append(spec)
                split = _group_split(numbers, panel, study.k)
                if split is None:
                    continue
                of_group, shown = split
                for code, name, visible in shown:
                    if visible:
                        keys.append((key, name))
                        answer_sets.append(numbers.values[of_group == code])
                        scales.append(spec)
    described: dict[tuple[str, str, str], dict[str | None, ItemStats]] = defaultdict(dict)
    # a few hundred thousand answers at a time: one pass's temporary arrays are several times
    # its answers, and a panel of thousands gives millions in a round
    start, held = 0, 0
    for end, answers in enumerate(answer_sets, start=1):
        held += len(answers)
        if held < _DESCRIBED_AT_ONCE and end < len(answer_sets):
            continue
        stats = describe_many(
            answer_sets[start:end], scales[start:end], quantile_method=study.quantile_method
        )
        for (part_key, group), found in zip(keys[start:end], stats, strict=True):
            described[part_key][group] = found
        start, held = end, 0
    return described


#: how many answers `_describe_round` describes in one vectorised pass
_DESCRIBED_AT_ONCE = 200_000


def _summarise_part(
    study: Study,
    round_: Round,
    part: Part,
    numbers: Numbers,
    before: Numbers,
    panel: Panel,
    settings: AnalysisSettings,
    described: Mapping[str | None, ItemStats],
) -> PartSummary:
    """Overall and per-group statistics for one part, k-suppressed, with stability and pooling
    (`described`: its statistics and its groups', already computed)."""
    k = study.k
    if len(numbers.values) < k:
        return SUPPRESSED
    spec = scale_spec(part)
    values = numbers.values
    summary = _distribution(values, spec, study.quantile_method, described.get(None))
    stats = summary.stats or {}
    consensus = _consensus(study, part.scale, stats) if part.kind in _CONSENSUS_KINDS else None
    pooled = _pooled(values, settings.pooling_eps) if is_probability_part(part) else None
    groups: dict[str, PartSummary] | None = None
    split = _group_split(numbers, panel, k)
    if split is not None:
        of_group, shown = split
        groups = {
            group: (
                _distribution(
                    numbers.values[of_group == code],
                    spec,
                    study.quantile_method,
                    described.get(group),
                )
                if visible
                else SUPPRESSED
            )
            for code, group, visible in shown
        }
    stability: Stability | None = None
    verdict: Verdict | None = None
    # stability needs a notion of agreement, which estimates and impact profiles lack
    if len(before.values) >= k and part.kind in _CONSENSUS_KINDS:
        names = panel.pseudonyms
        compared = compare_rounds(
            {
                names[r]: v
                for r, v in zip(before.ranks.tolist(), before.values.tolist(), strict=True)
            },
            {names[r]: v for r, v in zip(numbers.ranks.tolist(), values.tolist(), strict=True)},
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


def _shuffled(texts: Sequence[str], rng: random.Random | None) -> list[str]:
    """The reasons in an order that says nothing of who wrote them: `rng`'s shuffle when given
    (tests), else sorted by random keys from the operating system's generator, read in one
    call (a large panel's thousands of reasons cost a system call each through SystemRandom)."""
    if rng is not None:
        shuffled = list(texts)
        rng.shuffle(shuffled)
        return shuffled
    keys = np.frombuffer(os.urandom(8 * len(texts)), dtype=np.uint64)
    return [texts[i] for i in np.argsort(keys, kind="stable").tolist()]


def compute_snapshot(
    session: Session, study: Study, round_: Round, *, rng: random.Random | None = None
) -> SnapshotData:
    """The snapshot's typed content for a round (a pure read; nothing is written)."""
    settings = settings_of(study)
    previous = previous_closed_round(session, round_)
    panel = read_panel(session, study)
    by_round = round_numbers(session, study, [round_] + ([previous] if previous else []), panel)
    current = by_round[round_.id]
    before = by_round[previous.id] if previous else RoundNumbers()
    free_text = reasons(session, study, [round_])
    described = _describe_round(study, round_, current, panel)
    items: dict[str, ItemSummary] = {}
    for round_item in round_.items:
        item: Item = round_item.item
        respondents = len(current.respondents.get(item.key, ()))
        questions: dict[str, QuestionSummary] = {}
        for question in item.questions_in(round_.number):
            if question.kind == QuestionKind.TEXT:
                continue
            no_answer = len(current.no_answer.get((item.key, question.key), ()))
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
                        current.parts.get((item.key, question.key, part.part), NO_NUMBERS),
                        before.parts.get((item.key, question.key, part.part), NO_NUMBERS),
                        panel,
                        settings,
                        described.get((item.key, question.key, part.part), {}),
                    )
                    for part in question_parts(question)
                },
            )
        texts = _shuffled(free_text.get((round_.number, item.key), []), rng)
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
        respondents=len(current.everyone),
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
    mine = (Answer.round_id == round_.id, Answer.is_current.is_(True))
    if session.get_bind().dialect.name == "postgresql":
        # the same digest computed by the server: a million pairs need not travel
        pairs = func.string_agg(
            func.concat(Answer.id, ":", Answer.revision),
            aggregate_order_by(literal(","), Answer.id),
        )
        count, digest = session.execute(
            select(
                func.count(),
                func.encode(func.sha256(func.convert_to(func.coalesce(pairs, ""), "UTF8")), "hex"),
            ).where(*mine)
        ).one()
        return int(count), str(digest)
    rows = session.execute(
        select(Answer.id, Answer.revision).where(*mine).order_by(Answer.id)
    ).all()
    digest = hashlib.sha256(",".join(f"{i}:{r}" for i, r in rows).encode()).hexdigest()
    return len(rows), digest


def build_snapshot(session: Session, round_: Round, *, now: datetime) -> Snapshot:
    """Compute and store the round's snapshot (the round must be closed)."""
    study = session.get_one(Study, round_.study_id)
    count, digest = answers_digest(session, round_)
    # a large panel's close holds hundreds of thousands of objects until the snapshot is
    # stored: no full collection walks them again and again meanwhile (app/collector.py)
    with full_collections_held():
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
