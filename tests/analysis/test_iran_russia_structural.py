"""The first study's structural model (MICMAC, MACTOR, CIB drafts): the CLI reads each file and
the results stay what surveys/iran_russia_us.md says they are."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from analysis.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "analysis" / "examples"
MICMAC = EXAMPLES / "iran_russia_micmac.csv"
MID = EXAMPLES / "iran_russia_mactor_mid.csv"
MAO = EXAMPLES / "iran_russia_mactor_mao.csv"
CIB = EXAMPLES / "iran_russia_cib.csv"
GUIDE = ROOT / "surveys" / "iran_russia_us.md"

ACTORS = ["US", "IRN", "RUS", "CHN", "ISR", "GULF"]
QUADRANTS = {"influential", "relay", "dependent", "autonomous"}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    """Run `python -m analysis ...` in-process and decode its JSON."""
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def header(path: Path) -> list[str]:
    """A labelled CSV's column labels."""
    with path.open(encoding="utf-8") as handle:
        return next(csv.reader(handle))[1:]


def documented_keys() -> dict[str, tuple[str, str]]:
    """Key -> (Persian, Russian) from the guide's table of wordings."""
    text = GUIDE.read_text(encoding="utf-8")
    table = text.split("### Wordings in Persian and Russian", 1)[1].split("\n## ", 1)[0]
    keys = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([^`]+)`( \(descriptor\))?", cells[0]) if cells else None
        if match and len(cells) == 4:
            keys[match.group(1)] = (cells[2], cells[3])
    return keys


def test_micmac_draft_has_stable_quadrants(capsys) -> None:
    result = cli(capsys, "micmac", str(MICMAC))
    variables = [row["variable"] for row in result["direct"]]
    assert 8 <= len(variables) <= 14
    direct = {row["variable"]: row["quadrant"] for row in result["direct"]}
    indirect = {row["variable"]: row["quadrant"] for row in result["indirect"]}
    assert set(direct.values()) == QUADRANTS
    # the readings the guide reports
    assert direct == indirect
    assert {v for v, q in direct.items() if q == "influential"} == {"SECU", "STRUCT"}
    assert {v for v, q in direct.items() if q == "dependent"} == {"ECON", "MULTI"}
    assert direct["ALLY"] == "relay" and direct["USRU"] == "relay"
    top = {row["variable"]: row["influence_rank"] for row in result["indirect"]}
    assert top["USRU"] == 1
    assert 2 <= result["power"] <= 30
    # the one potential cell (ECON -> SANC) gives a second, potential reading
    assert result["potential"] is not None
    shares = sum(row["influence_per_mille"] for row in result["indirect"])
    assert shares == pytest.approx(1000)


def test_mactor_draft_balance_of_power_and_convergences(capsys) -> None:
    result = cli(capsys, "mactor", str(MID), str(MAO))
    assert result["actors"] == ACTORS
    assert 4 <= len(result["objectives"]) <= 6
    power = dict(zip(ACTORS, result["power"], strict=True))
    assert sum(power.values()) / len(power) == pytest.approx(1)
    assert sorted(power, key=power.__getitem__, reverse=True) == [
        "US",
        "RUS",
        "CHN",
        "IRN",
        "ISR",
        "GULF",
    ]
    iran, russia, us, israel = (ACTORS.index(a) for a in ("IRN", "RUS", "US", "ISR"))
    normal = result["objectives"].index("NORMAL")
    assert result["caa1"][iran][russia] == 5 and result["mao2"][russia][normal] == 0
    assert result["daa1"][us][iran] == len(result["objectives"])
    assert result["caa1"][us][israel] == len(result["objectives"])
    alliance = result["objectives"].index("ALLIANCE")
    assert min(result["disagreement"]) == result["disagreement"][alliance]


def test_cib_draft_has_the_papers_scenario(capsys) -> None:
    result = cli(capsys, "cib", str(CIB))
    descriptors = result["model"]["descriptors"]
    assert 6 <= len(descriptors) <= 10
    assert all(2 <= len(d["variants"]) <= 4 for d in descriptors)
    assert result["count"] == 4
    scenarios = [s["scenario"] for s in result["scenarios"]]
    papers = {
        "USP": "intensified",
        "USRU": "confrontation",
        "LEAD": "distrustful",
        "ECON": "growing",
        "PESS": "fades",
        "REG": "advances",
        "REL": "alliance",
    }
    # the paper's own scenario is consistent and the strongest (highest total impact score)
    assert scenarios[0] == papers
    assert any(s["REL"] == "drift" and s["USP"] == "eased" for s in scenarios)
    assert sum(s["REL"] == "partnership" for s in scenarios) == 2
    assert all(s["inconsistency"] == 0 for s in result["scenarios"])


def test_cib_draft_is_robust_to_small_disagreements(capsys) -> None:
    result = cli(capsys, "cib", str(CIB), "--noise", "40", "--seed", "5")
    ensemble = result["ensemble"]
    top = ensemble["scenarios"][0]
    assert top["scenario"]["REL"] == "alliance" and top["share"] >= 0.9


def test_every_key_has_persian_and_russian_wordings() -> None:
    keys = documented_keys()
    needed = set(header(MICMAC)) | set(ACTORS) | set(header(MAO))
    for label in header(CIB):
        descriptor, variant = label.split(":")
        needed |= {descriptor, variant}
    missing = needed - keys.keys()
    assert not missing, f"no fa/ru wording for {sorted(missing)}"
    for key in needed:
        persian, russian = keys[key]
        assert re.search("[\u0600-\u06ff]", persian), key
        assert re.search("[\u0400-\u04ff]", russian), key
        # Persian text uses Persian letters, not their Arabic look-alikes
        assert "ي" not in persian and "ك" not in persian, key
