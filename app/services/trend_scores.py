"""Scoring the panel's trend estimates once realised values are recorded.

A trend item asks its quantiles question (e.g. 5 / 50 / 95 %) about the study's horizon year,
so a realised value recorded for that year scores it; values recorded for other years are kept
but score nothing (no estimate refers to them). The estimates are those of the latest closed
round, up to the one asked about, that asked the trend. Each estimate gets the quantile
(pinball) loss averaged over its levels, in the trend's own units (lower is better), and a hit
when the realised value lies within its outermost quantiles (a 5-95 % interval should hold
the truth about 90 % of the time). The panel's estimate is the snapshot's median of the
experts' answers at each level, so a part frozen as suppressed (fewer than k answers) leaves
the panel unscored on that trend. Per-pseudonym scores are shown only when at least k experts
were scored, and by pseudonym only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from analysis.scoring import inside_interval, pinball
from analysis.snapshot import QuestionSummary, SnapshotData
from app.definitions.model import ItemKind, QuestionKind
from app.messages import N_, Message
from app.models import Round, Study
from app.services import resolutions
from app.services.result_inputs import closed_snapshots
from app.services.tidy import tidy_answers


@dataclass(frozen=True)
class TrendTarget:
    """One trend question with a realised value for the year it asked about."""

    item: str
    question: str
    #: the closed round whose estimates are scored
    round: int
    year: int
    realised: float
    #: quantile levels in (0, 1), e.g. (0.05, 0.5, 0.95)
    levels: tuple[float, ...]
    #: experts whose complete estimate was scored
    n: int
    #: the panel's quantiles (median of the experts at each level); None when suppressed
    panel: tuple[float, ...] | None
    pinball: float | None
    inside: bool | None

    @property
    def coverage(self) -> float:
        """The nominal probability of the central interval (0.9 for 5-95 %)."""
        return self.levels[-1] - self.levels[0]


@dataclass(frozen=True)
class ExpertTrendScore:
    """One pseudonym's trend scores: pinball loss per trend, and interval hits."""

    pseudonym: str
    #: trend item -> mean pinball loss in the trend's units
    pinball: Mapping[str, float]
    hits: int

    @property
    def n(self) -> int:
        """Trends scored."""
        return len(self.pinball)

    @property
    def hit_rate(self) -> float:
        """Share of the scored trends whose realised value fell inside the interval."""
        return self.hits / self.n if self.n else 0.0


@dataclass(frozen=True)
class TrendScores:
    """Pinball loss and interval hits of the panel and (k or more) pseudonyms on trends."""

    round: int
    year: int
    targets: tuple[TrendTarget, ...]
    experts: tuple[ExpertTrendScore, ...]
    per_expert_shown: bool
    notes: tuple[Message, ...]

    @property
    def panel_hits(self) -> tuple[int, int]:
        """(hits, trends scored) of the panel's estimates."""
        scored = [t.inside for t in self.targets if t.inside is not None]
        return sum(1 for hit in scored if hit), len(scored)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (messages in English; the web layer translates its own)."""
        hits, scored = self.panel_hits
        return {
            "round": self.round,
            "year": self.year,
            "targets": [
                {
                    "item": t.item,
                    "question": t.question,
                    "round": t.round,
                    "year": t.year,
                    "realised": t.realised,
                    "levels": list(t.levels),
                    "coverage": t.coverage,
                    "n": t.n,
                    "panel": list(t.panel) if t.panel is not None else None,
                    "pinball": t.pinball,
                    "inside": t.inside,
                }
                for t in self.targets
            ],
            "panel": {
                "hits": hits,
                "n": scored,
                "hit_rate": hits / scored if scored else None,
            },
            "per_expert_shown": self.per_expert_shown,
            "experts": [
                {
                    "pseudonym": e.pseudonym,
                    "n": e.n,
                    "hits": e.hits,
                    "hit_rate": e.hit_rate,
                    "pinball": dict(e.pinball),
                }
                for e in self.experts
            ],
            "notes": [str(n) for n in self.notes],
        }


def _latest_asking(
    snapshots: Sequence[tuple[Round, SnapshotData]], item: str, question: str
) -> tuple[Round, QuestionSummary] | None:
    """The latest closed round (and its question's frozen entry) that asked this question."""
    for round_, data in reversed(snapshots):
        entry = data.item(item)
        asked = entry.questions.get(question) if entry is not None else None
        if asked is not None:
            return round_, asked
    return None


def _panel_quantiles(frozen: QuestionSummary, parts: Sequence[str]) -> tuple[float, ...] | None:
    """The snapshot's median at each level, or None if any level is missing or suppressed."""
    found = []
    for part in parts:
        entry = frozen.part(part)
        median = entry.median if entry is not None else None
        if median is None:
            return None
        found.append(median)
    return tuple(found)


def score_trends(session: Session, study: Study, round_: Round) -> TrendScores:
    """Pinball loss and interval hits of the trend estimates against realised values."""
    recorded = resolutions.current(session, study).trend_values
    snapshots = closed_snapshots(session, study, round_.number)
    year = study.horizon
    targets: list[TrendTarget] = []
    per_expert: dict[str, tuple[dict[str, float], list[bool]]] = {}
    other_years = False
    frames: dict[int, pd.DataFrame] = {}  # round number -> tidy answers, read once per round
    for item in study.items:
        if item.kind != ItemKind.TREND:
            continue
        by_year = recorded.get(item.key, {})
        other_years = other_years or any(y != year for y in by_year)
        value = by_year.get(year)
        if value is None or value.value is None:
            continue
        for question in item.questions:
            if question.kind != QuestionKind.QUANTILES:
                continue
            parts = [str(q) for q in question.config.get("quantiles", [])]
            found = _latest_asking(snapshots, item.key, question.key)
            if found is None or len(parts) < 2:
                continue
            asked_in, frozen = found
            levels = [float(q) / 100.0 for q in parts]
            realised = float(value.value)
            if asked_in.number not in frames:
                frames[asked_in.number] = tidy_answers(session, study, [asked_in], matrices=False)
            frame = frames[asked_in.number]
            rows = frame[
                (frame["item"] == item.key)
                & (frame["question"] == question.key)
                & frame["value"].notna()
            ]
            scored = 0
            for expert, group in rows.groupby("expert", sort=True):
                answer = dict(zip(group["part"], group["value"].astype(float), strict=True))
                if not all(part in answer for part in parts):
                    continue  # an incomplete estimate has no interval to score
                quantiles = [answer[part] for part in parts]
                losses, hits = per_expert.setdefault(str(expert), ({}, []))
                losses[item.key] = pinball(quantiles, levels, realised)
                hits.append(inside_interval(quantiles, realised))
                scored += 1
            panel = _panel_quantiles(frozen, parts)
            targets.append(
                TrendTarget(
                    item=item.key,
                    question=question.key,
                    round=asked_in.number,
                    year=year,
                    realised=realised,
                    levels=tuple(levels),
                    n=scored,
                    panel=panel,
                    pinball=pinball(panel, levels, realised) if panel is not None else None,
                    inside=inside_interval(panel, realised) if panel is not None else None,
                )
            )
    notes: list[Message] = []
    if not targets:
        notes.append(
            N_(
                "No trend has a realised value for %(year)s, the year its estimates are about: "
                "nothing to score.",
                year=year,
            )
        )
    if other_years:
        notes.append(
            N_(
                "Realised values for years other than %(year)s are kept but score nothing: "
                "the trend questions ask about %(year)s.",
                year=year,
            )
        )
    if any(t.panel is None for t in targets):
        notes.append(
            N_(
                "Where fewer than k = %(k)s experts answered, the panel's estimate was not "
                "frozen and is not scored.",
                k=study.k,
            )
        )
    shown = len(per_expert) >= study.k
    if per_expert and not shown:
        notes.append(
            N_(
                "Fewer than k = %(k)s experts made scored trend estimates: only the panel's "
                "scores are shown.",
                k=study.k,
            )
        )
    experts = tuple(
        ExpertTrendScore(pseudonym=p, pinball=losses, hits=sum(1 for h in hits if h))
        for p, (losses, hits) in sorted(per_expert.items())
    )
    return TrendScores(
        round=round_.number,
        year=year,
        targets=tuple(targets),
        experts=experts if shown else (),
        per_expert_shown=shown,
        notes=tuple(notes),
    )
