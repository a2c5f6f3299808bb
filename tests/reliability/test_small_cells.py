"""R8: no aggregate of fewer than k answers anywhere: in snapshots, the API, exports and the
experts' feedback, for random small panels split into random groups. Hidden groups are never
recoverable by subtraction: when any group is hidden, the hidden ones hold at least k answers
together (or every group is hidden)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition
from app.models import Round, Study, User
from app.services import api_keys, exports, feedback, panel, rounds, studies
from app.services.snapshots import suppressed_groups
from tests.conftest import NOW
from tests.load.harness import ItemSpec, item_fields, question_spec
from tests.reliability.world import autosave, expert_browser, page_token

#: statistics that must never describe fewer than k answers
STATISTICS = ("stats", "histogram", "pooled", "consensus", "median", "q1", "q3", "mean", "iqr")


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object inside a value, with its path."""
    if isinstance(value, dict):
        yield path, value
        for key, inner in value.items():
            yield from _walk(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _walk(inner, f"{path}[{index}]")


def small_cells(document: Any, k: int) -> list[str]:
    """Where a document shows statistics of fewer than k answers, or lets hidden groups be
    recovered by subtraction."""
    problems = []
    for path, entry in _walk(document):
        if "n" not in entry and "suppressed" not in entry:
            continue  # not a cell (e.g. the pooled estimates inside one)
        n = entry.get("n")
        has_figures = any(entry.get(name) not in (None, [], {}) for name in STATISTICS)
        if has_figures and (not isinstance(n, int) or n < k):
            problems.append(f"{path}: statistics of n={n}")
        groups = entry.get("groups")
        if isinstance(groups, Mapping) and groups:
            hidden = [g for g, e in groups.items() if e is None or e.get("suppressed")]
            shown = [g for g in groups if g not in hidden]
            if hidden and shown and isinstance(n, int):
                hidden_total = n - sum(int(groups[g]["n"]) for g in shown)
                if hidden_total < k:
                    problems.append(
                        f"{path}: hidden groups {hidden} hold only {hidden_total} answers, "
                        "recoverable as the total minus the shown groups"
                    )
        if isinstance(groups, list):
            for group in groups:
                if isinstance(group, dict) and group.get("suppressed") and group.get("stats"):
                    problems.append(f"{path}: a suppressed group with statistics")
    return problems


@pytest.mark.parametrize(
    ("counts", "k", "hidden"),
    [
        ({"A": 6, "B": 2, "C": 2}, 5, {"A", "B", "C"}),  # B and C alone would be total - A
        ({"A": 6, "B": 7, "C": 2}, 5, {"A", "C"}),
        ({"A": 6, "B": 7, "C": 3, "D": 3}, 5, {"C", "D"}),
        ({"A": 6, "B": 7}, 5, set()),
        ({"A": 4, "B": 1}, 5, {"A", "B"}),
    ],
)
def test_R8_hidden_groups_together_hold_at_least_k_answers(
    counts: dict[str, int], k: int, hidden: set[str]
) -> None:
    assert suppressed_groups(counts, k) == hidden


def _panel_study(
    session: Session, definition: SurveyDefinition, owner: User, key: str
) -> tuple[Study, Round]:
    """The example survey under a new key, round 1 open."""
    import dataclasses

    changed = dataclasses.replace(definition, study=dataclasses.replace(definition.study, key=key))
    study = studies.import_study(session, changed, actor=owner, now=NOW)
    round_ = rounds.create_round(session, study, actor=owner, now=NOW)
    rounds.open_round(session, round_, actor=owner, now=NOW)
    return study, round_


@pytest.mark.slow
def test_R8_random_small_panels_never_show_small_cells(
    app: Flask,
    session: Session,
    facilitator_user: User,
    example_definition: SurveyDefinition,
) -> None:
    rng = random.Random(8)
    key = api_keys.create_key(session, facilitator_user, name="r8", study_ids=None, now=NOW)
    session.commit()
    headers = {"Authorization": f"Bearer {key.secret}"}
    client = app.test_client()
    for trial in range(4):
        study, round_ = _panel_study(
            session, example_definition, facilitator_user, f"small-cells-{trial}"
        )
        if trial == 0:  # two small groups beside a large one: together still under k
            groups = ["Academia"] * 6 + ["Government"] * 2 + ["Industry"] * 2
        else:
            size = rng.randint(3, 10)
            groups = [rng.choice(("Academia", "Government", "Industry")[: rng.randint(1, 3)])
                      for _ in range(size)]  # fmt: skip
        members = [
            panel.add_expert(
                session,
                study,
                name=f"E{n}",
                email=f"e{trial}-{n}@example.org",
                group=group,
                language="en",
                actor=None,
                now=NOW,
            )
            for n, group in enumerate(groups)
        ]
        for member in members:
            panel.record_consent(session, member.participation, language="en", now=NOW)
        session.commit()
        specs = [
            ItemSpec(ri.item_id, ri.item.key, tuple(question_spec(q) for q in ri.item.questions
                                                    if q.from_round <= 1))
            for ri in round_.items
        ]  # fmt: skip
        for member in members:
            browser = expert_browser(app, member.token)
            token = page_token(browser, specs[0].key)
            for spec in specs:
                if rng.random() < 0.25:
                    continue  # not everyone answers everything
                saved = autosave(browser, spec.key, item_fields(spec, rng), token)
                assert saved.status_code == 200, saved.get_data(as_text=True)
                states = {q["state"] for q in saved.get_json()["questions"].values()}
                assert states == {"saved"}, saved.get_json()  # answers, not drafts
        snapshot = rounds.close_round(session, round_, actor=None, now=NOW)
        session.commit()
        k = study.k
        assert small_cells(snapshot.data, k) == [], f"panel {groups}"
        for item in snapshot.data["items"].values():
            shown = item.get("reasons") or []
            assert not shown or len(shown) >= study.k_comments
        for path in ("results", "consensus", "pooled", "stability"):
            response = client.get(f"/api/v1/studies/{study.id}/rounds/1/{path}", headers=headers)
            assert response.status_code == 200
            assert small_cells(response.get_json(), k) == [], f"API {path}, panel {groups}"
        tables = [(1, snapshot.content)]
        for row in exports.snapshot_rows(tables, study.compare_presets):
            assert row["median"] is None or (row["n"] or 0) >= k, row
        for row in exports.group_rows(tables):
            assert row["median"] is None or (isinstance(row["n"], int) and row["n"] >= k), row
        for participation in (m.participation for m in members):
            for item in feedback.feedback_of_round(session, participation, round_).values():
                for parts in item.questions.values():
                    for part in parts:
                        assert part.n is None or part.n >= k
                        assert part.n is not None or part.median is None
