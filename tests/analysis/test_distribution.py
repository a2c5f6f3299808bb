"""The analysis package as its own distribution: imports, version, worked example, importers, SPSS/R."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

import analysis
from analysis.cli import main
from analysis.errors import InputError
from analysis.examples import check_exports, worked_example
from analysis.wide import parse_mapping, propose_mapping, read_mapping, to_long

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "analysis" / "examples"
EXPORTS = EXAMPLES / "exports"
SCALES = ["--scale", "impact=likert:1:9:agree=7..9", "--scale", "likely=probability"]
#: what the analysis distribution may import at module level besides the standard library;
#: openpyxl and pyreadstat (its extras) only inside the functions that need them
ALLOWED = {"analysis", "numpy", "pandas", "scipy"}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_package_needs_only_numpy_pandas_and_scipy() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            _top_level_imports(path) - ALLOWED - set(sys.stdlib_module_names)
        )
        for path in (ROOT / "analysis").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    project = tomllib.loads((ROOT / "analysis" / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0] for d in project["dependencies"]) == ["numpy", "pandas", "scipy"]
    assert project["scripts"] == {"delphi-analysis": "analysis.cli:main"}


def test_every_subpackage_and_example_file_goes_into_the_wheel() -> None:
    """The distribution lists its packages by hand (the folder is the package): keep it whole."""
    config = tomllib.loads((ROOT / "analysis" / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(("analysis", *path.parent.relative_to(ROOT / "analysis").parts)).rstrip(".")
        for path in (ROOT / "analysis").rglob("__init__.py")
        if "build" not in path.relative_to(ROOT / "analysis").parts
    }
    assert sorted(config["packages"]) == sorted(found)
    patterns = config["package-data"]["analysis.examples"]
    shipped = {
        path.relative_to(EXAMPLES).as_posix()
        for pattern in patterns
        for path in EXAMPLES.glob(pattern)
    }
    data = {
        path.relative_to(EXAMPLES).as_posix()
        for path in EXAMPLES.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
    }
    assert data <= shipped


def test_the_version_is_single_sourced_and_the_platform_depends_on_it() -> None:
    assert importlib.metadata.version("delphi-analysis") == analysis.__version__
    platform = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("delphi-analysis") for d in platform["dependencies"])
    out = subprocess.run(
        [sys.executable, "-m", "analysis", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"delphi-analysis {analysis.__version__}"


def test_the_worked_example_prints_what_its_transcript_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert worked_example.main(["--check"]) == 0
    transcript = worked_example.EXPECTED.read_text(encoding="utf-8")
    # the numbers the README quotes from it
    assert " E01    likely  9  65.000  60.000  70.000  10.000      0.889        yes" in transcript
    assert "   1      1001        E01 + E04        0.205  0.120  0.298" in transcript
    readme = (ROOT / "analysis" / "README.md").read_text(encoding="utf-8")
    assert "E01 + E04        0.205  0.120  0.298" in readme


@pytest.mark.parametrize("sample", list(check_exports.SAMPLES))
def test_each_sample_export_gives_the_numbers_of_its_long_file(sample: str) -> None:
    panel = pd.read_csv(EXAMPLES / "panel.csv", dtype={"expert": str, "item": str, "group": str})
    want = check_exports.figures(panel)
    converted = check_exports.imported(sample)
    assert check_exports.participation(converted) == check_exports.participation(panel)
    assert len(converted) == len(panel) == 232
    got = check_exports.figures(converted)
    for expected, actual in zip(want, got, strict=True):
        pd.testing.assert_frame_equal(expected, actual, check_dtype=False)


def test_import_writes_long_csv_and_describe_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "long.csv"
    files = [str(EXPORTS / f"qualtrics_round{r}.csv") for r in (1, 2, 3)]
    assert (
        main(["import", *files, "--mapping", str(EXPORTS / "qualtrics.json"), "-o", str(out)]) == 0
    )
    assert "10 respondents, 231 answers in 3 round(s)" in capsys.readouterr().err
    assert out.read_text().splitlines()[:2] == [
        "round,expert,item,question,value,group",
        "1,x01,E01,impact,9,academia",
    ]
    assert main(["describe", str(out), *SCALES, "--format", "csv"]) == 0
    converted = capsys.readouterr().out
    assert main(["describe", str(EXAMPLES / "panel.csv"), *SCALES, "--format", "csv"]) == 0
    assert converted == capsys.readouterr().out


def test_pseudonyms_replace_the_ids_consistently_across_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "long.csv"
    files = [str(EXPORTS / f"limesurvey_round{r}.csv") for r in (1, 2, 3)]
    mapping = str(EXPORTS / "limesurvey.json")
    assert main(["import", *files, "--mapping", mapping, "--pseudonyms", "-o", str(out)]) == 0
    frame = pd.read_csv(out)
    assert sorted(frame["expert"].unique()) == [f"e{i:03d}" for i in range(1, 11)]
    assert not any("tok" in str(v) for v in frame["expert"])
    assert frame.groupby("round")["expert"].nunique().tolist() == [10, 10, 9]


def test_propose_reads_the_headers_of_each_tool() -> None:
    lime = propose_mapping([str(EXPORTS / "limesurvey_round1.csv")])
    assert lime["format"] == "limesurvey" and lime["id"] == "token"
    assert lime["columns"]["impact[E02]"] == {"item": "E02", "question": "impact"}
    assert lime["codes"]["impact"]["A7"] == 7
    assert "comment" in lime["notes"][-1]
    qualtrics = propose_mapping([str(EXPORTS / "qualtrics_round1.csv")])
    assert qualtrics["format"] == "qualtrics" and qualtrics["id"] == "ExternalReference"
    assert "ResponseId" not in qualtrics["columns"]
    redcap = propose_mapping([str(EXPORTS / "redcap.csv")])
    assert redcap["round_values"] == {f"round_{r}_arm_1": r for r in (1, 2, 3)}
    assert redcap["columns"]["e03_likely"] == {"item": "e03", "question": "likely"}
    # the generic wide file's proposal works as it is
    wide = propose_mapping([str(EXPORTS / "wide.csv")])
    assert wide["scales"] == {"impact": "likert:1:9", "likely": "probability"}
    proposed = to_long([str(EXPORTS / "wide.csv")], parse_mapping(wide))
    pd.testing.assert_frame_equal(proposed, check_exports.imported("wide"))


def _broken(tmp_path: Path, name: str, old: str, new: str) -> str:
    path = tmp_path / name
    path.write_text((EXPORTS / name).read_text(encoding="utf-8-sig").replace(old, new, 1))
    return str(path)


def test_errors_name_the_file_row_and_column(tmp_path: Path) -> None:
    lime = read_mapping(str(EXPORTS / "limesurvey.json"))
    path = _broken(tmp_path, "limesurvey_round1.csv", '"A4"', '"A44"')
    with pytest.raises(
        InputError,
        match=r"limesurvey_round1.csv: row 2, column 'impact\[E02\]': 'A44' is not a number",
    ):
        to_long([path], lime)
    qualtrics = read_mapping(str(EXPORTS / "qualtrics.json"))
    path = _broken(tmp_path, "qualtrics_round1.csv", ",x03,", ",,")
    with pytest.raises(
        InputError,
        match=r"qualtrics_round1.csv: row 6, column 'ExternalReference': no respondent id",
    ):
        to_long([path], qualtrics)
    path = _broken(tmp_path, "qualtrics_round2.csv", ",x05,", ",x04,")
    with pytest.raises(
        InputError,
        match=r"row 8, column 'impact_1': respondent x04 answered E01 impact of round 1 already \(.*row 7",
    ):
        to_long([path], qualtrics, [1])
    no_import_ids = tmp_path / "plain.csv"
    no_import_ids.write_text("ExternalReference,impact_1\nx01,5\n")
    with pytest.raises(InputError, match=r"plain\.csv: not a Qualtrics CSV export"):
        to_long([str(no_import_ids)], qualtrics)
    wide = read_mapping(str(EXPORTS / "wide.json"))
    path = _broken(tmp_path, "wide.csv", "x02,industry,8,", "x02,industry,12,")
    with pytest.raises(
        InputError,
        match=r"wide.csv: row 3, column 'r1_E01_impact': 12 is off the scale of impact \(1 to 9\)",
    ):
        to_long([path], wide)
    with pytest.raises(
        InputError, match=r"redcap.csv: no column 'expert' in the header \(25 more missing\)"
    ):
        to_long([str(EXPORTS / "redcap.csv")], wide)
    with pytest.raises(InputError, match="needs an 'item' and a 'question'"):
        parse_mapping({"id": "expert", "columns": {"q1": {"item": "E01"}}}, "m.json")


def test_the_cli_reports_import_errors_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    wide = str(EXPORTS / "wide.csv")
    assert main(["import", wide, "--mapping", str(EXPORTS / "redcap.json")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["import", wide]) == 2
    assert "--propose" in capsys.readouterr().err


def test_export_writes_labelled_sav_and_a_data_package_for_r(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    panel = str(EXAMPLES / "panel.csv")
    assert main(["export", panel, *SCALES, "--group", "group", "--out", str(tmp_path)]) == 0
    results, meta = pyreadstat.read_sav(str(tmp_path / "results.sav"))
    assert meta.column_names_to_labels["iqr"] == "Interquartile range"
    assert meta.variable_value_labels["round"] == {1.0: "Round 1", 2.0: "Round 2", 3.0: "Round 3"}
    assert meta.variable_value_labels["consensus_percent_iqr"] == {
        0.0: "no consensus",
        1.0: "consensus",
    }
    assert meta.variable_value_labels["dissensus"] == {0.0: "no", 1.0: "yes"}
    answers, answer_meta = pyreadstat.read_sav(str(tmp_path / "answers.sav"))
    assert answer_meta.column_names_to_labels["expert"] == "Expert (pseudonym)"
    assert len(answers) == 232 and answers["value"].isna().sum() == 1
    # the same numbers in the CSV an R user reads, described by the data package
    csv = pd.read_csv(tmp_path / "results.csv")
    pd.testing.assert_series_equal(csv["median"], results["median"], check_names=False)
    both = csv["consensus_grade"].notna()
    assert (
        csv.loc[both, "consensus_grade"].astype(float) == results.loc[both, "consensus_grade"]
    ).all()
    package = json.loads((tmp_path / "datapackage.json").read_text())
    fields = {f["name"]: f for f in package["resources"][1]["schema"]["fields"]}
    assert fields["round"]["categories"][0] == {"value": 1, "label": "Round 1"}
    assert fields["dissensus"]["type"] == "boolean" and fields["n"]["type"] == "integer"
    assert [r["path"] for r in package["resources"]] == ["answers.csv", "results.csv"]
