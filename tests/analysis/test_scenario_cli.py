"""The smic, maxent, crossimpact and tia subcommands: example files in, JSON or CSV out."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import InputError
from analysis.scenarios.cli import register

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "analysis" / "examples"
EVENTS = str(EXAMPLES / "smic_events.csv")
GIVEN = str(EXAMPLES / "smic_given.csv")
GIVEN_NOT = str(EXAMPLES / "smic_given_not.csv")
SCENARIOS = str(EXAMPLES / "scenarios.csv")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser(prog="analysis")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_smic_prints_coherent_probabilities_and_named_scenarios(capsys) -> None:
    out = run(capsys, "smic", "--events", EVENTS, "--given", GIVEN, "--given-not", GIVEN_NOT,
              "--scenarios", SCENARIOS, "--top", "5")  # fmt: skip
    document = json.loads(out)
    assert document["method"] == "smic"
    assert [e["key"] for e in document["events"]] == ["E01", "E06", "E21", "E22", "E23", "E25"]
    assert document["p_given_star"]["E01"]["E01"] is None  # NaN diagonal becomes null
    assert len(document["scenarios"]) == 5
    best = document["scenarios"][0]
    assert best["lower"] <= best["probability"] <= best["upper"]
    names = [row["name"] for row in document["named_scenarios"]]
    assert names == [
        "S1 formal alliance",
        "S3 divergence after a US deal",
        "S4 Iran-Russia-China bloc",
    ]


def test_smic_as_csv_lists_every_scenario(capsys) -> None:
    out = run(capsys, "smic", "--events", EVENTS, "--given", GIVEN, "--given-not", GIVEN_NOT,
              "--top", "0", "--bounds", "all", "--format", "csv")  # fmt: skip
    table = pd.read_csv(io.StringIO(out), dtype={"label": str})
    assert len(table) == 64
    assert table["probability"].sum() == pytest.approx(1.0, abs=1e-4)
    assert table["upper"].notna().all()


def test_maxent_after_smic_ranks_like_smic(capsys) -> None:
    smic_table = pd.read_csv(io.StringIO(run(capsys, "smic", "--events", EVENTS, "--given", GIVEN,
                             "--given-not", GIVEN_NOT, "--top", "5", "--format", "csv")), dtype={"label": str})  # fmt: skip
    out = run(capsys, "maxent", "--events", EVENTS, "--given", GIVEN, "--given-not", GIVEN_NOT,
              "--top", "5", "--format", "csv")  # fmt: skip
    table = pd.read_csv(io.StringIO(out), dtype={"label": str})
    # SMIC's optimum here is interior, so its max-entropy pi is the fitted log-linear model
    assert table["label"].tolist() == smic_table["label"].tolist()
    assert table["probability"].to_numpy() == pytest.approx(
        smic_table["probability"].to_numpy(), abs=1e-5
    )


def test_maxent_with_averaged_pairs_and_named_scenarios(capsys) -> None:
    document = json.loads(
        run(capsys, "maxent", "--events", EVENTS, "--given", GIVEN, "--scenarios", SCENARIOS)
    )
    assert document["pairs_from"].startswith("mean of")
    assert document["top"]["exact"] is True
    assert len(document["scenarios"]) == 10
    assert {row["method"] for row in document["named_scenarios"]} == {"maxent"}


def test_crossimpact_is_seeded(capsys) -> None:
    argv = ("crossimpact", "--events", EVENTS, "--impacts", str(EXAMPLES / "crossimpact_given.csv"),
            "--plays", "20000", "--seed", "3", "--scenarios", SCENARIOS)  # fmt: skip
    first = json.loads(run(capsys, *argv))
    again = json.loads(run(capsys, *argv))
    assert first == again
    assert first["seed"] == 3 and first["calibrated"] is True
    for event in first["events"]:
        assert abs(event["frequency"] - event["p"]) <= first["calibration_error"] + 1e-12


def test_tia_prints_the_forecast(capsys) -> None:
    out = run(
        capsys,
        "tia",
        "--spec",
        str(EXAMPLES / "tia_spec.json"),
        "--runs",
        "2000",
        "--format",
        "csv",
    )
    table = pd.read_csv(io.StringIO(out))
    assert table["year"].tolist() == list(range(2025, 2036))
    assert (table["p10"] <= table["p90"]).all()
    document = json.loads(
        run(
            capsys, "tia", "--spec", str(EXAMPLES / "tia_spec.json"), "--runs", "500", "--seed", "9"
        )
    )
    assert document["seed"] == 9 and document["runs"] == 500 and document["cross_impacts"] is True


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_input_problems_name_the_file_line_and_column(tmp_path: Path, capsys) -> None:
    events = write(tmp_path, "events.csv", "key,p\nA,0.5\nB,0.4\n")
    bad_events = write(tmp_path, "bad.csv", "key,p\nA,0.5\nB,1.4\n")
    matrix = write(tmp_path, "m.csv", "event,A,B\nA,,0.5\nB,0.6,\n")
    wrong_cell = write(tmp_path, "w.csv", "event,A,B\nA,,x\nB,0.6,\n")
    unknown = write(tmp_path, "u.csv", "event,A,C\nA,,0.5\nC,0.6,\n")
    cases = [
        (
            ["--events", bad_events, "--given", matrix, "--given-not", matrix],
            r"bad.csv, line 3, p: 1.4 is not",
        ),
        (
            ["--events", events, "--given", wrong_cell, "--given-not", matrix],
            r"w.csv, line 2, column B: 'x' is not a number",
        ),
        (
            ["--events", events, "--given", unknown, "--given-not", matrix],
            r"u.csv: column 'C' is not an event",
        ),
        (
            ["--events", str(tmp_path / "missing.csv"), "--given", matrix, "--given-not", matrix],
            "cannot read",
        ),
    ]
    for arguments, message in cases:
        with pytest.raises(InputError, match=message):
            run(capsys, "smic", *arguments)
    spec = write(tmp_path, "spec.json", '{"start_year": 2025,')
    with pytest.raises(InputError, match=r"spec.json, line 1, column \d+"):
        run(capsys, "tia", "--spec", spec)


def test_every_subcommand_has_help(capsys) -> None:
    parser = argparse.ArgumentParser(prog="analysis")
    register(parser.add_subparsers(dest="command", required=True))
    for command in ("smic", "maxent", "crossimpact", "tia"):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args([command, "--help"])
        assert stop.value.code == 0
        assert "--format" in capsys.readouterr().out


def entry_point_ready() -> bool:
    cli = ROOT / "analysis" / "cli.py"
    return cli.exists() and "scenarios" in cli.read_text(encoding="utf-8")


@pytest.mark.skipif(
    not entry_point_ready(), reason="python -m analysis does not register these yet"
)
def test_python_dash_m_analysis_end_to_end(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "analysis", "smic", "--events", EVENTS, "--given", GIVEN,
         "--given-not", GIVEN_NOT, "--top", "3", "--format", "csv"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0].startswith("rank,state,label")
    bad = write(tmp_path, "bad.csv", "key,p\nA,2\nB,0.5\n")
    failed = subprocess.run(
        [sys.executable, "-m", "analysis", "smic", "--events", bad, "--given", GIVEN, "--given-not", GIVEN_NOT],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert failed.returncode == 2
    assert "bad.csv, line 2, p: 2 is not a probability" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
