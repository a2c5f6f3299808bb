"""The linkage model (docs/anonymity.md), tested as an attacker with a facilitator account would.

1. The linkage test: for every export and API read of an anonymous study, the pseudonyms it
   shows fall in classes over the fields also visible next to names (group, language, status,
   rounds taken part in, days); no class with data may hold fewer than k pseudonyms.
2. The attacks of issue 12: progress diffed against exports (1), the archive joined with the
   panel (2), an archive edited to k = 1 (4).
3. The pure rule itself: classes of at least k, and a fixed point (so archives round-trip).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Answer, Study, User
from app.services import exports, personal_data
from app.services.linkage import equivalence_classes, protect
from tests.conftest import NOW, csrf_from, enter_link
from tests.reliability.linkage import (
    LinkageWorld,
    Seen,
    api,
    api_export,
    build_linkage_world,
    facilitator_browser,
    seen_in_archive,
    seen_in_csv,
    seen_in_rows,
    seen_in_text,
    seen_in_xlsx,
    small_classes,
    web_export,
)


@pytest.fixture
def linkage(session: Session, example_study: Study, facilitator_user: User) -> LinkageWorld:
    """The anonymous example study with the linkage panel (see tests/reliability/linkage.py)."""
    return build_linkage_world(session, example_study, facilitator_user)


Reader = Callable[[FlaskClient, LinkageWorld], dict[str, Seen]]


def _results_and_report(client: FlaskClient, world: LinkageWorld) -> dict[str, Seen]:
    """Every results read of the API and the report: aggregates only, closed rounds only."""
    texts = []
    for number in (1, 2):
        for what in ("results", "consensus", "stability", "pooled"):
            response = api(client, world, "GET", f"/rounds/{number}/{what}")
            assert response.status_code == 200, (number, what)
            texts.append(response.get_data(as_text=True))
    for what in ("results", "consensus", "stability", "pooled"):
        # the open round has no results: nothing of it can be read before it closes
        assert api(client, world, "GET", f"/rounds/3/{what}").status_code == 409
    for path in ("/scenarios", "/tia", "/panel", "/rounds"):
        texts.append(api(client, world, "GET", path).get_data(as_text=True))
    report = client.get(f"/f/studies/{world.study.id}/results/report.html")
    assert report.status_code == 200
    texts.append(report.get_data(as_text=True))
    return seen_in_text("\n".join(texts), world.pseudonyms())


READS: dict[str, Reader] = {
    "web-csv": lambda c, w: seen_in_csv(web_export(c, w, "csv").decode()),
    "web-xlsx": lambda c, w: seen_in_xlsx(web_export(c, w, "xlsx"), w.pseudonyms()),
    "web-archive": lambda c, w: seen_in_archive(web_export(c, w, "json")),
    "api-csv": lambda c, w: seen_in_csv(api_export(c, w, "answers.csv").decode()),
    "api-json-rows": lambda c, w: seen_in_rows(
        json.loads(api_export(c, w, "answers.json"))["rows"]
    ),
    "api-archive": lambda c, w: seen_in_archive(api_export(c, w, "archive.json")),
    "api-results-and-report": _results_and_report,
}


@pytest.mark.parametrize("read", list(READS))
def test_every_class_of_pseudonyms_in_every_export_holds_k(
    client: FlaskClient, linkage: LinkageWorld, read: str
) -> None:
    facilitator_browser(client)
    seen = READS[read](client, linkage)
    assert small_classes(seen, linkage.k) == {}


def test_the_cli_archive_is_the_same_cut(app: Flask, linkage: LinkageWorld, tmp_path: Path) -> None:
    out = tmp_path / "archive.json"
    result = app.test_cli_runner().invoke(
        args=["report", linkage.study.key, "--format", "json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert small_classes(seen_in_archive(out.read_bytes()), linkage.k) == {}


def test_exports_still_carry_the_closed_rounds(client: FlaskClient, linkage: LinkageWorld) -> None:
    """The cut is not everything: closed rounds' answers leave, by pseudonym, in shown groups."""
    facilitator_browser(client)
    seen = seen_in_csv(web_export(client, linkage, "csv").decode())
    rounds = {number for entry in seen.values() for number in entry.rounds}
    assert rounds == {1, 2}
    assert len(seen) >= 15
    assert {"Academia", "Government"} & {g for e in seen.values() for g in e.groups}
    # the two who skipped round 2 and the late joiner share their rounds with fewer than k
    assert len(seen) == len(linkage.members) - 3
    page = client.get(f"/f/studies/{linkage.study.id}/results").get_data(as_text=True)
    assert "For 3 pseudonyms some rounds are left out" in page


# --- the attacks of issue 12 ----------------------------------------------------------------------


def test_attack_1_progress_diffed_against_exports_links_nobody(
    app: Flask, client: FlaskClient, linkage: LinkageWorld
) -> None:
    """Round 3 is open and one expert has started: the panel (page and API) must not say who,
    and no export may show round 3 (nor change while experts answer it)."""
    facilitator_browser(client)
    starter = linkage.members["Academia Person 1"]
    members = api(client, linkage, "GET", "/panel").get_json()
    assert all(m["progress"] is None for m in members)
    assert all(m["last_entered_at"] is None and m["links_active"] is None for m in members)
    page = client.get(f"/f/studies/{linkage.study.id}/panel").get_data(as_text=True)
    assert "badge-started" not in page and "badge-submitted" not in page
    before = {
        "csv": web_export(client, linkage, "csv"),
        "archive": web_export(client, linkage, "json"),
        "rows": api_export(client, linkage, "answers.json"),
    }
    assert all(3 not in e.rounds for e in seen_in_archive(before["archive"]).values())
    assert all(3 not in e.rounds for e in seen_in_csv(before["csv"].decode()).values())
    assert starter.pseudonym not in {  # not singled out in the open round's rows either
        p for p, e in seen_in_csv(before["csv"].decode()).items() if e.rounds == {3}
    }
    # a second expert starts (through the API, as a client would): nothing a facilitator can
    # download changes
    saved = app.test_client().put(
        "/api/v1/expert/round/items/E01",
        json={"answers": {"probability": {"value": 55}}},
        headers={"X-Expert-Token": linkage.tokens["Government Person 2"]},
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert web_export(client, linkage, "csv") == before["csv"]
    assert web_export(client, linkage, "json") == before["archive"]
    assert api_export(client, linkage, "answers.json") == before["rows"]


def test_attack_2_archive_joined_with_the_panel_links_nobody(
    client: FlaskClient, linkage: LinkageWorld
) -> None:
    """Join the archive's pseudonyms with the named panel on every attribute both show: each
    pseudonym with answers must stay consistent with at least k named people."""
    facilitator_browser(client)
    named = api(client, linkage, "GET", "/panel").get_json()
    archive = json.loads(web_export(client, linkage, "json"))["study"]
    with_answers = {a["expert"] for r in archive["rounds"] for a in r["answers"]}

    def consistent(member: dict[str, object], person: dict[str, object]) -> bool:
        consent = person["consented_at"]
        pairs = (
            (member.get("group"), person["group"]),
            (member.get("language"), person["language"]),
            (member.get("status"), person["status"]),
            (member.get("consent"), str(consent)[:10] if consent else None),
        )
        return all(mine in (None, "") or mine == theirs for mine, theirs in pairs)

    for member in archive["panel"]:
        if member["pseudonym"] in with_answers:
            candidates = [p["name"] for p in named if consistent(member, p)]
            assert len(candidates) >= linkage.k, (member, candidates)
    # and nothing in it is dated by the expert's side
    assert all(a["date"] is None for r in archive["rounds"] for a in r["answers"])
    assert all(r["progress"] == [] for r in archive["rounds"])


def _edited(raw: bytes, change: Callable[[dict[str, object]], None]) -> bytes:
    """An archive edited and resealed with a matching checksum."""
    envelope = json.loads(raw)
    change(envelope["study"])
    envelope["sha256"] = hashlib.sha256(exports.canonical_json(envelope["study"])).hexdigest()
    return exports.canonical_json(envelope)


def _weaken(study: dict[str, object]) -> None:
    """What the attacker of issue 12 did: k = 1 and k_comments = 1, in the study and its survey."""
    study["k"] = study["k_comments"] = 1
    definition = study["definition"]
    assert isinstance(definition, dict)
    definition["study"]["k"] = definition["study"]["k_comments"] = 1
    study["key"] = "weakened-copy"


def test_attack_4_an_archive_edited_to_k_1_is_refused_everywhere(
    app: Flask, client: FlaskClient, session: Session, linkage: LinkageWorld, tmp_path: Path
) -> None:
    facilitator_browser(client)
    weakened = _edited(web_export(client, linkage, "json"), _weaken)
    studies_before = session.scalar(select(func.count()).select_from(Study))

    with pytest.raises(exports.ArchiveError) as refused:
        exports.import_archive(session, weakened, actor=None, now=NOW)
    session.rollback()
    problems = refused.value.problems
    for field in ("study.k:", "study.k_comments:", "study.definition.study.k:"):
        assert any(line.startswith(field) for line in problems), (field, problems)

    page = client.get("/f/archives/import")
    response = client.post(
        "/f/archives/import",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "archive": (io.BytesIO(weakened), "archive.json"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing was imported" in html and "study.k_comments" in html

    path = tmp_path / "weakened.json"
    path.write_bytes(weakened)
    result = app.test_cli_runner().invoke(args=["archive", "import", str(path)])
    assert result.exit_code == 1 and "study.k:" in result.output

    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Study)) == studies_before


def test_attack_4_a_snapshot_edited_to_show_a_small_cell_is_refused(
    client: FlaskClient, session: Session, linkage: LinkageWorld
) -> None:
    facilitator_browser(client)

    def reveal(study: dict[str, object]) -> None:
        rounds = study["rounds"]
        assert isinstance(rounds, list)
        items = rounds[0]["snapshot"]["data"]["items"]
        part = items["E01"]["questions"]["probability"]["parts"][""]
        part.update(suppressed=False, n=1, stats={"median": 42})
        items["E01"]["reasons"] = ["one expert's exact reason"]
        items["E01"]["respondents"] = 2
        study["key"] = "revealing-copy"

    edited = _edited(web_export(client, linkage, "json"), reveal)
    with pytest.raises(exports.ArchiveError) as refused:
        exports.import_archive(session, edited, actor=None, now=NOW)
    text = "\n".join(refused.value.problems)
    assert "parts..n" in text and ".reasons" in text and ".respondents" in text


# --- data-subject rights against the linkage test ---------------------------------------------------


def test_an_expert_erasing_and_withdrawing_keeps_every_class_at_k(
    app: Flask, client: FlaskClient, session: Session, linkage: LinkageWorld
) -> None:
    expert = app.test_client()
    enter_link(expert, linkage.tokens["Government Person 3"])
    pseudonym = linkage.members["Government Person 3"].pseudonym
    page = expert.get("/e/my-data")
    assert page.status_code == 200
    token = csrf_from(page.get_data(as_text=True))
    download = expert.post("/e/my-data/export", data={"csrf_token": token})
    mine = json.loads(download.get_data())
    assert mine["person"]["email"] == "government3@linkage.example.org"
    assert mine["panels"][0]["pseudonym"] == pseudonym and mine["panels"][0]["answers"]
    erased = expert.post(
        "/e/my-data/erase", data={"csrf_token": token, "confirm": "y", "withdraw": "y"}
    )
    assert erased.status_code == 303
    assert expert.get("/e/").status_code == 302  # signed out, and the link no longer works
    session.expire_all()
    participation = linkage.members["Government Person 3"]
    assert participation.name == personal_data.ERASED_NAME
    assert "government3" not in participation.expert.email
    assert (
        session.scalar(
            select(func.count())
            .select_from(Answer)
            .where(Answer.participation_id == participation.id)
        )
        == 0
    )
    facilitator_browser(client)
    for read in ("web-csv", "web-archive", "api-json-rows"):
        seen = READS[read](client, linkage)
        assert small_classes(seen, linkage.k) == {}, read
        assert pseudonym not in seen or not seen[pseudonym].rounds, read  # no answers left
    report = client.get(f"/f/studies/{linkage.study.id}/results/report.html")
    assert "1 expert withdrew their answers" in report.get_data(as_text=True)
    audit = client.get(f"/f/studies/{linkage.study.id}/audit").get_data(as_text=True)
    assert pseudonym not in audit and "government3@" not in audit


# --- the rule ---------------------------------------------------------------------------------------

patterns_strategy = st.dictionaries(
    st.integers(1, 40),
    st.tuples(
        st.sampled_from(["", "A", "B", "C", "D"]),
        st.frozensets(st.integers(1, 4), max_size=4),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(panel=patterns_strategy, k=st.integers(3, 6))
def test_protect_leaves_classes_of_at_least_k_and_is_a_fixed_point(
    panel: dict[int, tuple[str, frozenset[int]]], k: int
) -> None:
    groups = {p: g for p, (g, _r) in panel.items()}
    patterns = {p: r for p, (_g, r) in panel.items()}
    shown, kept = protect(groups, patterns, k)
    assert all(len(members) >= k for members in equivalence_classes(shown, kept).values())
    assert all(kept[p] <= patterns[p] for p in panel)  # rounds are only ever left out
    assert all(shown[p] in ("", groups[p]) for p in panel)  # groups only ever blanked
    assert protect(shown, kept, k) == (shown, kept)  # what an imported archive exports again
