"""Models turned into the plain data the response schemas dump (no logic, no statistics)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.models import Answer, Item, Participation, Round, Scenario, Study
from app.services.dashboard import FunnelRow, PanelRow, RoundFunnel
from app.services.invitations import private_link


def study(found: Study) -> dict[str, Any]:
    """A study as listed."""
    return {
        "id": found.id,
        "key": found.key,
        "title": dict(found.title),
        "description": dict(found.description),
        "status": found.status,
        "anonymity": found.anonymity,
        "languages": list(found.languages),
        "default_language": found.default_language,
        "horizon": found.horizon,
        "k": found.k,
        "k_comments": found.k_comments,
        "round_limit": found.round_limit,
        "created_at": found.created_at,
        "launched_at": found.launched_at,
        "finished_at": found.finished_at,
    }


def item_summary(item: Item) -> dict[str, Any]:
    """An item with its current wording."""
    version = item.current_version
    return {
        "id": item.id,
        "key": item.key,
        "kind": item.kind,
        "status": item.status,
        "category": item.category.key if item.category is not None else None,
        "version": version.number,
        "title": dict(version.title),
    }


def scenario(found: Scenario) -> dict[str, Any]:
    """A named scenario."""
    return {"key": found.key, "title": dict(found.title), "expression": found.expression}


def study_detail(found: Study) -> dict[str, Any]:
    """A study with rules, items and scenarios."""
    return {
        **study(found),
        "consensus_rule": found.consensus_rule,
        "stability_rule": found.stability_rule,
        "compare_presets": list(found.compare_presets),
        "quantile_method": found.quantile_method,
        "conditional_pairs_per_expert": found.conditional_pairs_per_expert,
        "definition_hash": found.definition_hash,
        "items": [item_summary(item) for item in found.items],
        "scenarios": [scenario(s) for s in found.scenarios],
    }


def member(row: PanelRow) -> dict[str, Any]:
    """A panel member (identity, link state, progress; never answers nor the pseudonym).

    The pseudonym is left out on purpose: exports identify answers by it, so showing it next
    to a name would let facilitators link answers to people. In an anonymous study the row is
    coarse: no consent date, link count, date of use or progress (docs/anonymity.md).
    """
    participation = row.participation
    return {
        "id": participation.id,
        "name": row.name,
        "email": row.email,
        "group": participation.group,
        "language": participation.language,
        "status": participation.status,
        "consented_at": None if row.coarse else participation.consent_at,
        "invited_at": participation.invited_at,
        "created_at": participation.created_at,
        "link_state": row.link_state,
        "links_active": None if row.coarse else row.links_active,
        "last_entered_at": row.last_entered_at,
        "progress": row.progress,
    }


def link_url(token: str, language: str | None = None) -> str:
    """The private link for a token, on the platform's public address (landing in the
    expert's panel language)."""
    return private_link(current_app.config["PUBLIC_BASE_URL"], token, language)


def funnel_row(row: FunnelRow) -> dict[str, Any]:
    """One row of a funnel."""
    return {
        "group": row.label,
        "merged": row.merged,
        "invited": row.invited,
        "opened": row.opened,
        "consented": row.consented,
        "started": row.started,
        "submitted": row.submitted,
        "response_rate": row.response_rate,
    }


def round_(found: Round, funnel: RoundFunnel | None, answer_count: int | None) -> dict[str, Any]:
    """A round with its funnel."""
    empty = FunnelRow("", 0, 0, 0, 0, 0)
    return {
        "number": found.number,
        "state": found.state,
        "created_at": found.created_at,
        "opened_at": found.opened_at,
        "deadline": found.deadline,
        "closed_at": found.closed_at,
        "message": dict(found.message),
        "items": len(found.items),
        "funnel": {
            "total": funnel_row(funnel.total if funnel else empty),
            "groups": [funnel_row(g) for g in (funnel.groups if funnel else [])],
        },
        "answer_count": answer_count,
    }


def answer(stored: Answer) -> dict[str, Any]:
    """A stored answer."""
    return {
        "value": stored.value,
        "values": stored.value_json,
        "text": stored.text,
        "no_answer": stored.no_answer,
        "revision": stored.revision,
        "saved_at": stored.created_at,
    }


def member_of(participation: Participation, rows: list[PanelRow]) -> dict[str, Any]:
    """The member entry for one participation, from the panel rows."""
    row = next(r for r in rows if r.participation.id == participation.id)
    return member(row)
