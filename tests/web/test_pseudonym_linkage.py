"""Anonymity: facilitators see names (to run the panel) and pseudonyms (in data exports), but
never the two together, so they cannot tell whose answers are whose."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.models import Study
from app.services import exports, panel, rounds
from tests.conftest import NOW, csrf_from, login


def test_no_facilitator_page_or_audit_entry_pairs_a_name_with_a_pseudonym(
    client: FlaskClient, session: Session, example_study: Study
) -> None:
    members = [
        panel.add_expert(
            session,
            example_study,
            name=f"Person {i}",
            email=f"p{i}@example.org",
            group="Solo" if i == 0 else "Many",
            language="en",
            actor=None,
            now=NOW,
        )
        for i in range(6)
    ]
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    session.commit()
    login(client)
    base = f"/f/studies/{example_study.id}"
    token = csrf_from(client.get(f"{base}/panel").get_data(as_text=True))
    target = members[0].participation.id
    for action in ("revoke", "reissue", "withdraw", "reinstate"):
        client.post(f"{base}/panel/{target}/{action}", data={"csrf_token": token})
    pages = [
        client.get(f"{base}{path}", follow_redirects=True).get_data(as_text=True)
        for path in ("", "/panel", "/audit", "/rounds", "/mail")
    ]
    text = "\n".join(pages)
    for member in members:
        assert member.participation.pseudonym not in text


def test_anonymous_exports_blank_groups_smaller_than_k_and_carry_no_times(
    session: Session, example_study: Study
) -> None:
    from app.services import answers

    people = [("Solo", 1), ("Pair", 2), ("Many", 6)]
    made = []
    for group, count in people:
        for i in range(count):
            member = panel.add_expert(
                session,
                example_study,
                name=f"{group}{i}",
                email=f"{group.lower()}{i}@example.org",
                group=group,
                language="en",
                actor=None,
                now=NOW,
            )
            panel.record_consent(session, member.participation, language="en", now=NOW)
            made.append(member.participation)
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    e01 = next(i for i in example_study.items if i.key == "E01")
    for participation in made:
        answers.save_item(
            session,
            participation,
            round_,
            e01,
            {"probability": {"value": 50}},
            idempotency_key=None,
            now=NOW,
        )
    rounds.close_round(session, round_, actor=None, now=NOW)
    rows = exports.answer_rows(session, example_study)
    groups = {row["group"] for row in rows}
    # Solo (1) and Pair (2) are under k = 5 and together still under it: Many goes blank too
    assert groups == {""}
    assert all("date" not in row for row in rows)
