"""Trend impact analysis at a generous study size (`python -m tests.benchmarks tia`)."""

from __future__ import annotations

import numpy as np

from analysis.tia import CrossImpact, ImpactProfile, TiaResult, TrendEvent, trend_impact
from tests.benchmarks.harness import Case


def study(cross: bool) -> dict[str, object]:
    """20 events over 30 years, absolute impacts of both signs, 10 cross-impacts if asked."""
    rng = np.random.default_rng(3)
    events = []
    for i in range(20):
        t1 = float(rng.integers(0, 3))
        t2 = t1 + float(rng.integers(0, 4))
        t3 = t2 + float(rng.integers(0, 6))
        peak = float(rng.normal(0, 8))
        p2035, p2055 = sorted(rng.uniform(0.05, 0.9, 2))
        profile = ImpactProfile(t1, t2, t3, peak, peak * 0.6, "absolute")
        events.append(TrendEvent(f"E{i + 1:02d}", ((2035, p2035), (2055, p2055)), profile))
    pairs = (
        [CrossImpact(f"E{i + 1:02d}", f"E{i + 2:02d}", 0.9) for i in range(0, 20, 2)]
        if cross
        else []
    )
    return {"events": events, "cross_impacts": pairs}


def run(data: dict[str, object]) -> dict[str, str]:
    """10,000 seeded runs; reports the 2055 band."""
    result: TiaResult = trend_impact(
        {2025: 50.0, 2055: 65.0},
        data["events"],  # type: ignore[arg-type]
        start_year=2025,
        end_year=2055,
        seed=1,
        runs=10_000,
        cross_impacts=data["cross_impacts"],  # type: ignore[arg-type]
    )
    last = result.forecast.iloc[-1]
    return {"2055 p10/p50/p90": f"{last['p10']:.1f} / {last['p50']:.1f} / {last['p90']:.1f}"}


def with_profiles() -> dict[str, object]:
    """The 20-event study where every event carries 24 experts' own profiles."""
    data = study(False)
    rng = np.random.default_rng(4)
    events = []
    for event in data["events"]:  # type: ignore[attr-defined]
        base = event.impact
        profiles = tuple(
            ImpactProfile(
                base.t1,
                base.t2,
                base.t3,
                base.i_max + float(rng.normal(0, 3)),
                base.i_ss + float(rng.normal(0, 2)),
                "absolute",
            )
            for _ in range(24)
        )
        events.append(TrendEvent(event.key, event.probabilities, base, profiles=profiles))
    return {"events": events, "cross_impacts": []}


CASES = [
    Case("tia: 20 events, 31 years, 10,000 runs", 2.0, run, setup=lambda: study(False)),
    Case("tia: same with 10 cross-impacts", 2.0, run, setup=lambda: study(True)),
    Case(
        "tia: 20 events, each run draws one of 24 experts' profiles", 2.0, run, setup=with_profiles
    ),
]
