"""The sample exports convert to the panel they were made from: `python -m analysis.examples.check_exports`.

Each sample under exports/ (LimeSurvey, Qualtrics, REDCap, wide CSV and XLSX) is imported with
its mapping; the same experts must take part in each round, and describe (by group) and stability (rounds 2 to 3, experts paired across files by
their respondent id) must give exactly the numbers they give on panel.csv.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from analysis.describe import ScaleSpec, describe_long
from analysis.stability import stability_long
from analysis.wide import read_mapping, to_long

HERE = Path(__file__).resolve().parent
EXPORTS = HERE / "exports"
SCALES = {
    "impact": ScaleSpec("likert", 1, 9, agree_region=(7, 9)),
    "likely": ScaleSpec("probability", 0, 100),
}
#: sample -> (export files, mapping)
SAMPLES: dict[str, tuple[tuple[str, ...], str]] = {
    "limesurvey": (
        ("limesurvey_round1.csv", "limesurvey_round2.csv", "limesurvey_round3.csv"),
        "limesurvey.json",
    ),
    "qualtrics": (
        ("qualtrics_round1.csv", "qualtrics_round2.csv", "qualtrics_round3.csv"),
        "qualtrics.json",
    ),
    "redcap": (("redcap.csv",), "redcap.json"),
    "wide": (("wide.csv",), "wide.json"),
    "xlsx": (("wide.xlsx",), "wide_xlsx.json"),
}


def imported(sample: str) -> pd.DataFrame:
    """The long table converted from one sample export."""
    files, mapping = SAMPLES[sample]
    return to_long([str(EXPORTS / f) for f in files], read_mapping(str(EXPORTS / mapping)))


def figures(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """describe by group (every cell shown) and stability between rounds 2 and 3."""
    stats = describe_long(frame, SCALES, group="group", k=1)
    stability = stability_long(frame, SCALES, 2, 3)
    return stats.reset_index(drop=True), stability.reset_index(drop=True)


def participation(frame: pd.DataFrame) -> list[tuple[int, int, int]]:
    """Per round: how many experts took part, and how many of them also took part in the
    round before (the ids must match across files for the second count to hold)."""
    experts = {
        int(r): set(frame.loc[frame["round"] == r, "expert"]) for r in frame["round"].unique()
    }
    return [
        (r, len(ids), len(ids & experts.get(r - 1, set()))) for r, ids in sorted(experts.items())
    ]


def main() -> int:
    """Check every sample; print one line each, and exit 1 on the first difference."""
    panel = pd.read_csv(HERE / "panel.csv", dtype={"expert": str, "item": str, "group": str})
    expected = figures(panel)
    for sample in SAMPLES:
        for want, got in zip(expected, figures(imported(sample)), strict=True):
            try:
                pd.testing.assert_frame_equal(want, got, check_dtype=False)
            except AssertionError as error:
                print(f"{sample}: differs from panel.csv: {error}")
                return 1
        if participation(imported(sample)) != participation(panel):
            print(f"{sample}: other experts by round than panel.csv")
            return 1
        print(f"{sample}: same experts by round, describe and stability figures as panel.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
