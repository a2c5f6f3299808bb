"""The bootstrap over experts on the demo study (`python -m tests.benchmarks bootstrap`).

The demo study's panel (24 simulated experts, two closed rounds) is built once in a temporary
SQLite database; the timed part is the bootstrap itself: 1,000 resamples of every event's pooled
probability under every pooling method, and of the scenario probabilities and ranks over the
scenario developments.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis.bootstrap import pooled_intervals, scenario_intervals
from tests.benchmarks.harness import Case

RESAMPLES = 1000


def demo_inputs() -> dict[str, Any]:
    """The demo panel's per-expert answers as the results service hands them to the bootstrap."""
    import numpy as np

    from app import create_app
    from app.definitions import load_definition
    from app.extensions import db
    from app.models import Role
    from app.services import accounts, demo, intervals, results

    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    folder = Path(tempfile.mkdtemp())
    app = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'demo.sqlite'}",
            "PUBLIC_BASE_URL": "http://localhost",
            "MAIL_BACKEND": "outbox",
        }
    )
    app.instance_path = str(folder)
    root = Path(__file__).resolve().parents[2]
    with app.app_context():
        db.create_all()
        session = db.session
        admin = accounts.create_user(
            session, email="bench@example.org", name="bench", password="x" * 16,
            role=Role.FACILITATOR, now=now,
        )  # fmt: skip
        study = demo.load_demo(
            session, load_definition(root / "surveys" / "iran_russia_us.toml"), admin=admin, now=now
        ).study
        inputs = results.event_inputs(session, study)
        rounds = [r for r, _d in results.closed_snapshots(session, study)]
        frame = intervals.closed_tidy(session, study, rounds)
        cells = {}
        conditional = {}
        for item in study.items:
            if item.key not in inputs.probabilities:
                continue
            question, part = results.probability_question(item, study.horizon)  # type: ignore[misc]
            number = inputs.rounds[item.key]
            cells[item.key] = (item.key, number, question.key, part)
            for q in item.questions:
                for other in q.config.get("given", []) if q.kind == "conditional" else []:
                    conditional[(item.key, other)] = (
                        (item.key, number, q.key, f"{other}|given"),
                        (item.key, number, q.key, f"{other}|given_not"),
                    )
        experts = sorted(frame["expert"].unique())
        keys = list(cells)
        matrix = intervals._cells(frame, [cells[k] for k in keys], experts) / 100.0
        scenario = [k for k in keys if any(k in pair for pair in conditional)]
        named = {s.key: s.expression for s in study.scenarios}
        events = sorted(set(scenario) | {k for k in keys if any(k in e for e in named.values())})[
            :12
        ]
        n = len(events)
        p = intervals._cells(frame, [cells[k] for k in events], experts) / 100.0
        given = np.full((len(experts), n, n), np.nan)
        given_not = np.full((len(experts), n, n), np.nan)
        for i, a in enumerate(events):
            for j, b in enumerate(events):
                if (a, b) in conditional:
                    yes, no = intervals._cells(frame, conditional[(a, b)], experts).T / 100.0
                    given[:, i, j], given_not[:, i, j] = yes, no
        usable = {k: v for k, v in named.items() if intervals._names_within(v, events)}
        return {"matrix": matrix, "p": p, "given": given, "given_not": given_not,
                "events": events, "named": usable}  # fmt: skip


def run(data: dict[str, Any]) -> dict[str, str]:
    """Pooled-probability and scenario bootstrap, 1,000 resamples each."""
    pooled = pooled_intervals(data["matrix"], resamples=RESAMPLES, seed=20240101)
    scenarios = scenario_intervals(
        data["p"], data["given"], data["given_not"], event_keys=data["events"],
        expressions=data["named"], resamples=RESAMPLES, seed=20240101,
    )  # fmt: skip
    first = scenarios.top[0]
    return {
        "events x experts": f"{data['matrix'].shape[1]} x {data['matrix'].shape[0]}",
        "scenario events": str(len(data["events"])),
        "pooled E01 (log-odds)": "{0.estimate:.3f} [{0.lower:.3f}, {0.upper:.3f}]".format(
            pooled.intervals["logodds"][0]
        ),
        "top scenario rank range": f"{first.rank_lower}-{first.rank_upper}",
    }


CASES = [
    Case("bootstrap: demo study, 1,000 resamples", 5.0, run, setup=demo_inputs, repeat=3),
]
