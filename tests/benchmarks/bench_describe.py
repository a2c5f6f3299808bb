"""Item statistics for a large panel: 1,000 experts x 200 items x 3 questions x 4 rounds.

2.4 million answers (synthetic, seeded), with string pseudonyms and item codes as a CSV or a
database snapshot would give them: a probability question (0-100), a bipolar impact question
(-3..+3) and a 1-5 confidence question with an agree region.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.describe import ScaleSpec, describe_long
from tests.benchmarks.harness import Case

EXPERTS, ITEMS, QUESTIONS, ROUNDS = 1000, 200, 3, 4
SEED = 20240601
SCALES = {
    "likely": ScaleSpec("probability"),
    "impact": ScaleSpec("likert", -3, 3, bipolar=True),
    "confidence": ScaleSpec("likert", 1, 5, agree_region=(4, 5)),
}


def make_answers(seed: int = SEED) -> pd.DataFrame:
    """The synthetic long data (rows in round, expert, item, question order)."""
    rng = np.random.default_rng(seed)
    shape = (ROUNDS, EXPERTS, ITEMS, QUESTIONS)
    rounds, experts, items, questions = (a.ravel() for a in np.indices(shape))
    n = rounds.size
    values = np.select(
        [questions == 0, questions == 1],
        [rng.integers(0, 101, n), rng.integers(-3, 4, n)],
        rng.integers(1, 6, n),
    ).astype(float)
    names = np.array(list(SCALES))
    return pd.DataFrame(
        {
            "round": rounds + 1,
            "expert": np.array([f"x{e:04d}" for e in range(EXPERTS)], dtype=object)[experts],
            "item": np.array([f"E{i:03d}" for i in range(ITEMS)], dtype=object)[items],
            "question": names.astype(object)[questions],
            "value": values,
        }
    )


def run(answers: pd.DataFrame) -> dict[str, Any]:
    """describe_long over every (round, item, question)."""
    table = describe_long(answers, SCALES)
    return {"cells": len(table), "answers": len(answers)}


CASES = [
    Case(
        name="describe: item statistics, 2.4M answers (1000x200x3x4)",
        target_seconds=2.0,
        run=run,
        setup=make_answers,
        repeat=3,
        note="2,400 cells of 1,000 answers; dip test off",
    )
]
