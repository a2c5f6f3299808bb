"""The command line: every subcommand on the committed examples, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import build_parser, main, parse_scale
from analysis.describe import ScaleSpec
from analysis.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "analysis" / "examples" / "answers.csv")
COOKE = ROOT / "tests" / "analysis" / "data" / "cooke"
SCALES = ["--scale", "impact=likert:1:9:agree=7..9", "--scale", "likely=probability"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_parse_scale() -> None:
    assert parse_scale("impact=likert:1:9:agree=7..9") == (
        "impact",
        ScaleSpec("likert", 1, 9, agree_region=(7, 9)),
    )
    assert parse_scale("e=likert:-3:3:bipolar:within=0.5")[1] == ScaleSpec(
        "likert", -3, 3, bipolar=True, agree_within=0.5
    )
    assert parse_scale("p=probability")[1] == ScaleSpec("probability")
    with pytest.raises(InputError, match="give both ends"):
        parse_scale("x=likert:1")
    with pytest.raises(InputError, match="unknown option 'colour=red'"):
        parse_scale("x=likert:1:5:colour=red")


def test_describe_json_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "describe", EXAMPLE, *SCALES)
    assert status == 0 and err == ""
    records = json.loads(out)
    assert len(records) == 12
    first = records[0]
    assert (first["round"], first["item"], first["question"], first["n"]) == (1, "E01", "impact", 8)
    assert first["median"] == 8.0 and first["logit_median"] is None
    status, out, _ = run(
        capsys, "describe", EXAMPLE, *SCALES, "--format", "csv", "--group", "group", "--k", "5"
    )
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert status == 0 and table["suppressed"].all()  # 4 experts per group < k


def test_consensus_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "consensus", EXAMPLE, *SCALES, "--rule", "strict=pct_agree >= 0.9")
    records = json.loads(out)
    assert status == 0 and set(records[0]) == {"round", "item", "question", "strict"}
    status, out, _ = run(capsys, "consensus", EXAMPLE, *SCALES)
    assert {"percent_iqr", "grade", "rand_ucla", "cv"} <= set(json.loads(out)[0])
    status, out, _ = run(capsys, "consensus", EXAMPLE, *SCALES, "--rule", "n==8")
    assert status == 0 and all(r["rule1"] for r in json.loads(out))


def test_kendall(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "kendall", EXAMPLE, "--question", "impact", "--round", "1")
    result = json.loads(out)
    assert status == 0 and result["raters"] == 8 and result["items"] == 3
    assert 0 <= result["kendall_w"] <= 1


def test_stability_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "stability", EXAMPLE, *SCALES, "--rounds", "1", "2")
    records = {(r["item"], r["question"]): r for r in json.loads(out)}
    assert status == 0
    assert records[("E03", "likely")]["decision"] == "stop_consensus"
    assert records[("E02", "impact")]["decision"] == "stop_dissensus"
    assert records[("E01", "likely")]["decision"] == "continue"


def test_pool_long_and_direct(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "pool", EXAMPLE, "--question", "likely", "--method", "linear")
    records = json.loads(out)
    answers = pd.read_csv(EXAMPLE)
    cell = answers[
        (answers["round"] == 2) & (answers["item"] == "E01") & (answers["question"] == "likely")
    ]
    assert status == 0 and records[0]["p"] == pytest.approx(cell["value"].mean() / 100)
    weights = str(ROOT / "analysis" / "examples" / "expertise.csv")
    status, out, _ = run(capsys, "pool", EXAMPLE, "--question", "likely", "--weights", weights)
    assert status == 0 and json.loads(out)[0]["weights"] == "given"
    status, out, _ = run(capsys, "pool", "--p", "0.2", "0.4")
    assert status == 0 and json.loads(out)["method"] == "logodds"


def test_cooke(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "cooke", str(COOKE / "CoveringKids.dtt"), str(COOKE / "CoveringKids.rls")
    )
    result = json.loads(out)
    assert status == 0
    assert result["decision_maker"]["calibration"] == pytest.approx(0.720411499553663, abs=1e-9)
    assert [e["expert"] for e in result["experts"]] == ["Ex1", "Ex2", "Ex3", "Ex4", "Ex5"]
    status, out, _ = run(
        capsys, "cooke", str(COOKE / "Arkansas.dtt"), str(COOKE / "Arkansas.rls"), "--format", "csv"
    )
    assert status == 0 and out.splitlines()[-1].startswith("DM,")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["describe", "missing.csv", "--scale", "q=probability"], "error: cannot read missing.csv"),
        (
            ["describe", EXAMPLE, "--scale", "impact=likert:1:5"],
            "error: no --scale for question likely",
        ),
        (
            ["describe", EXAMPLE, "--scale", "impact=likert:1:5", "--scale", "likely=probability"],
            "error: row 2: 8 is off the likert scale 1..5",
        ),
        (["pool", "--p", "0.2", "1.5"], "error: probability 1 is 1.5: must be in [0, 1]"),
        (
            ["consensus", EXAMPLE, *SCALES, "--rule", "iqr <== 1"],
            "error: unexpected '=' at column 7",
        ),
        (
            ["consensus", EXAMPLE, *SCALES, "--preset", "unanimity"],
            "error: unknown preset 'unanimity'",
        ),
        (
            ["kendall", EXAMPLE],
            "error: several questions (impact, likely): choose one with --question",
        ),
        (
            ["cooke", str(COOKE / "Arkansas.rls"), str(COOKE / "Arkansas.rls")],
            "error: Arkansas.rls, line 1: expected 'NQ= n QU= levels'",
        ),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.startswith(message), err
    assert err.count("\n") == 1


def test_bad_csv_columns_and_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    no_value = tmp_path / "no_value.csv"
    no_value.write_text("round,expert,item,question\n1,a,E1,q\n")
    status, _, err = run(capsys, "describe", str(no_value), "--scale", "q=probability")
    assert status == 2 and err == "error: missing column: value\n"
    words = tmp_path / "words.csv"
    words.write_text("round,expert,item,question,value\n1,a,E1,q,40\n1,b,E1,q,high\n")
    status, _, err = run(capsys, "describe", str(words), "--scale", "q=probability")
    assert status == 2 and err == "error: row 3: value 'high' is not a number\n"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    status, _, err = run(capsys, "describe", str(empty), "--scale", "q=probability")
    assert status == 2 and err.startswith("error: cannot read the CSV")


def test_module_entry_point_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "pool", "--p", "0.5", "-0.1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == "error: probability 1 is -0.1: must be in [0, 1]\n"
    help_text = build_parser().format_help()
    for command in ("describe", "consensus", "kendall", "stability", "pool", "cooke"):
        assert command in help_text
