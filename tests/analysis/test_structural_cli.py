"""`python -m analysis cib|micmac|mactor|fleiss`: JSON on the committed examples, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "analysis" / "examples"
DATA = ROOT / "tests" / "analysis" / "data" / "cib"
SOMEWHERELAND = str(EXAMPLES / "cib_somewhereland.csv")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cib_lists_the_consistent_scenarios(capsys) -> None:
    status, out, _ = run(capsys, "cib", SOMEWHERELAND)
    result = json.loads(out)
    assert status == 0 and result["count"] == 10
    best = result["scenarios"][0]
    assert best["scenario"] == {"A": "A1", "B": "B3", "C": "C1", "D": "D2", "E": "E3", "F": "F3"}
    assert best["inconsistency"] == 0 and best["total_impact_score"] == 21
    assert result["model"]["configurations"] == 486


def test_cib_tolerance_balances_and_succession(capsys) -> None:
    _, out, _ = run(capsys, "cib", SOMEWHERELAND, "--tolerance", "1")
    assert json.loads(out)["count"] > 10
    _, out, _ = run(capsys, "cib", SOMEWHERELAND, "--balances", "A2,B1,C3,D1,E1,F1")
    sheet = json.loads(out)["balances"]
    assert sheet["inconsistency"] == 14
    assert sheet["descriptors"][3]["balances"] == [-7, 7]
    _, out, _ = run(
        capsys, "cib", SOMEWHERELAND, "--start", "1,1,1,1,1,1", "--succession", "adjacent"
    )
    path = json.loads(out)["succession"]
    assert path["path"][0]["A"] == "A1" and (path["end"] or path["cycle"])


def test_cib_reads_and_writes_scenariowizard_files(capsys, tmp_path: Path) -> None:
    written = tmp_path / "somewhereland.scw"
    run(capsys, "cib", SOMEWHERELAND, "--write-scw", str(written))
    _, out, _ = run(capsys, "cib", str(written))
    assert json.loads(out)["count"] == 10
    _, out, _ = run(capsys, "cib", str(DATA / "CIB_nested.scw"))
    assert json.loads(out)["count"] == 20


def test_cib_ensembles(capsys) -> None:
    _, out, _ = run(capsys, "cib", SOMEWHERELAND, "--panel", SOMEWHERELAND, SOMEWHERELAND)
    ensemble = json.loads(out)["ensemble"]
    assert ensemble["members"] == 2 and len(ensemble["scenarios"]) == 10
    assert all(s["consistent_in"] == 2 and s["in_sum"] for s in ensemble["scenarios"])
    _, out, _ = run(capsys, "cib", SOMEWHERELAND, "--noise", "25", "--seed", "3")
    first = json.loads(out)["ensemble"]
    _, out, _ = run(capsys, "cib", SOMEWHERELAND, "--noise", "25", "--seed", "3")
    assert json.loads(out)["ensemble"] == first
    assert first["members"] == 25 and first["scenarios"][0]["share"] <= 1


def test_micmac_mactor_and_fleiss(capsys) -> None:
    _, out, _ = run(capsys, "micmac", str(EXAMPLES / "micmac.csv"))
    result = json.loads(out)
    assert result["direct"][0]["quadrant"] == "influential"
    assert result["potential"]["direct"][3]["influence"] == 4
    _, out, _ = run(
        capsys, "mactor", str(EXAMPLES / "mactor_mid.csv"), str(EXAMPLES / "mactor_mao.csv")
    )
    result = json.loads(out)
    assert result["midi"][0] == [1, 5, 3]
    assert sum(result["power"]) == pytest.approx(3)
    _, out, _ = run(
        capsys, "fleiss", str(EXAMPLES / "answers.csv"), "--question", "impact", "--round", "1"
    )
    assert json.loads(out)["raters"] == 8


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cib", "missing.scw"], "error: cannot read missing.scw"),
        (["cib", SOMEWHERELAND, "--balances", "A9,B1,C1,D1,E1,F1"], "has no variant 'A9'"),
        (["cib", SOMEWHERELAND, "--tolerance", "-1"], "tolerance must be a number >= 0"),
        (["micmac", SOMEWHERELAND], "influences are >= 0, not -2"),
        (["mactor", str(EXAMPLES / "mactor_mid.csv"), SOMEWHERELAND], "must list the actors"),
        (["fleiss", str(EXAMPLES / "answers.csv"), "--question", "nope"], "no ratings"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv: list[str], message: str) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_the_module_runs_as_a_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "cib", SOMEWHERELAND],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0 and json.loads(done.stdout)["count"] == 10
