"""Browser tests: the real app served on 127.0.0.1 and driven by Debian's chromium (Playwright).

One server and one browser per test session (per xdist worker). The studies are built with the
same services the other tests use, in a SQLite file: the example study with round 1 open for the
answering tests, and the first study (Iran-Russia-US) with a small simulated panel, round 1
closed and round 2 open, for the feedback view, the dashboard and the screenshots.

Nothing is downloaded at test time: chromium comes from apt, axe-core from `make e2e-deps`
(npm). Without chromium the tests skip, saying why.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from app import create_app
from app.definitions import load_definition
from app.extensions import db
from app.models import Participation, Role, Study, utcnow
from app.services import accounts, answers, demo, feedback, panel, round_progress, rounds, studies
from tests.conftest import EXAMPLE_SURVEY, FIRST_STUDY, PASSWORD
from tests.e2e.helpers import DESKTOP, FACILITATOR_EMAIL

CHROMIUM = Path(os.environ.get("DELPHI_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--font-render-hinting=none",
]


def _why_no_browser() -> str | None:
    """The reason the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return (
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) "
            "to run the browser tests"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here as a browser test; skip them all when chromium is missing."""
    reason = _why_no_browser()
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


# ---------------------------------------------------------------- the data


@dataclass
class Expert:
    """A panel member the tests act as."""

    participation_id: int
    token: str
    language: str
    second_token: str = ""  #: another private link (resume on another device)


@dataclass
class World:
    """What the server holds: studies, experts and their private links."""

    answering_study_id: int = 0
    experts: dict[str, Expert] = field(default_factory=dict)
    closing_study_id: int = 0
    first_study_id: int = 0
    feedback_experts: dict[str, Expert] = field(default_factory=dict)
    example_feedback_study_id: int = 0
    example_feedback_experts: dict[str, Expert] = field(default_factory=dict)
    #: the demo (first study, 24 experts, rounds 1-2 answered, round 3 open)
    demo_study_id: int = 0
    #: per language, the expert who keeps everything (fewest reasons to add after keeping)
    keepers: dict[str, Expert] = field(default_factory=dict)
    #: per language, other experts of the demo (revising, screenshots, axe)
    demo_experts: dict[str, list[Expert]] = field(default_factory=dict)


def _add_expert(study: Study, name: str, language: str, *, consent: bool) -> Expert:
    """Add a panel member (with a second private link) and optionally record consent."""
    now = utcnow()
    member = panel.add_expert(
        db.session,
        study,
        name=name,
        email=f"{name.lower().replace(' ', '-')}@example.org",
        group="G1",
        language=language,
        actor=None,
        now=now,
    )
    if consent:
        panel.record_consent(db.session, member.participation, language=language, now=now)
    second = panel.issue_link(db.session, member.participation, purpose="manual", now=now)
    return Expert(member.participation.id, member.token, language, second)


def build_world() -> World:
    """Create the studies of the browser tests (inside an app context)."""
    world = World()
    now = utcnow()
    user = accounts.create_user(
        db.session,
        email=FACILITATOR_EMAIL,
        name="Facilitator",
        password=PASSWORD,
        role=Role.ADMIN,
        now=now,
    )
    definition = load_definition(EXAMPLE_SURVEY)
    answering = studies.import_study(db.session, definition, actor=user, now=now)
    round_ = rounds.create_round(db.session, answering, actor=user, now=now)
    rounds.open_round(db.session, round_, actor=user, now=now, deadline=now + timedelta(days=14))
    world.answering_study_id = answering.id
    for name, language, consent in (
        ("English Expert", "en", False),
        ("Persian Expert", "fa", False),
        ("Autosave Expert", "en", True),
        ("Keyboard Expert", "en", True),
        ("Phone Expert", "fa", True),
        ("Reload Expert", "en", True),
        ("Session Expert", "en", True),
        ("Token Expert", "fa", True),
        ("Restart Expert", "ru", True),
        ("Closing Expert", "en", True),
    ):
        world.experts[name.split()[0].lower()] = _add_expert(
            answering, name, language, consent=consent
        )
    renamed = dataclasses.replace(
        definition, study=dataclasses.replace(definition.study, key="water-2040-closing")
    )
    closing = studies.import_study(db.session, renamed, actor=user, now=now)
    world.closing_study_id = closing.id
    db.session.commit()

    first, world.feedback_experts = _study_with_feedback(load_definition(FIRST_STUDY), user)
    world.first_study_id = first.id
    short = dataclasses.replace(
        definition, study=dataclasses.replace(definition.study, key="water-2040-feedback")
    )
    example, world.example_feedback_experts = _study_with_feedback(short, user)
    world.example_feedback_study_id = example.id
    db.session.commit()
    _demo_round_three(world, user)
    db.session.commit()
    return world


def _demo_round_three(world: World, user: Any) -> None:
    """The demo as `make run` loads it, round 3 open; per language the expert with the fewest
    answers that would need a reason after keeping all of round 2 (found by trying it in a
    savepoint that is rolled back), and the others."""
    now = utcnow()
    definition = load_definition(FIRST_STUDY)
    renamed = dataclasses.replace(
        definition, study=dataclasses.replace(definition.study, key="iran-russia-us-demo")
    )
    links = demo.load_demo(db.session, renamed, admin=user, now=now)
    db.session.flush()
    world.demo_study_id = links.study.id
    round_3 = rounds.open_round_of(db.session, links.study)
    assert round_3 is not None
    members = db.session.scalars(
        select(Participation).where(Participation.study_id == links.study.id)
    ).all()
    burden: dict[int, int] = {}
    for member in members:
        trial = db.session.begin_nested()
        kept = answers.keep_previous(
            db.session, member, round_3, [ri.item for ri in round_3.items], now=now
        )
        shown = feedback.feedback_for(db.session, member, round_3)
        outside = feedback.outside_iqr(db.session, member, round_3, shown)
        status = round_progress.round_status(db.session, member, round_3, outside_iqr=outside)
        left = [s for s in status.items if s.state.value not in ("complete", "needs_reason")]
        reasons = sum(1 for s in status.items if s.state.value == "needs_reason")
        trial.rollback()
        # only experts who answered all of round 2 can keep all of it
        burden[member.id] = reasons if len(kept.results) == len(round_3.items) and not left else 99
    for member in sorted(members, key=lambda m: (burden[m.id], m.id)):
        token = panel.issue_link(db.session, member, purpose="manual", now=now)
        second = panel.issue_link(db.session, member, purpose="manual", now=now)
        expert = Expert(member.id, token, member.language, second)
        if member.language not in world.keepers and burden[member.id] < 99:
            world.keepers[member.language] = expert
        elif burden[member.id] < 99:
            world.demo_experts.setdefault(member.language, []).append(expert)


def _study_with_feedback(definition: Any, user: Any) -> tuple[Study, dict[str, Expert]]:
    """A study whose simulated panel (7 experts) answered round 1, now closed; round 2 is open.

    Returns the study and, per language, an expert (their private link) who sees the feedback."""
    now = utcnow()
    links = demo.load_demo(
        db.session,
        definition,
        admin=user,
        now=now,
        groups=(("Iran", "fa", 3), ("Russia", "ru", 2), ("International", "en", 2)),
        answered_rounds=1,
    )
    db.session.flush()
    members = {
        p.pseudonym: p
        for p in db.session.scalars(
            select(Participation).where(Participation.study_id == links.study.id)
        )
    }
    experts = {}
    for pseudonym, _group, _language, token in links.expert_links:
        member = members[pseudonym]
        second = panel.issue_link(db.session, member, purpose="manual", now=now)
        experts[member.language] = Expert(member.id, token, member.language, second)
    return links.study, experts


# ---------------------------------------------------------------- the server


@dataclass
class LiveServer:
    """The app served over HTTP on a free local port."""

    app: Flask
    url: str
    world: World
    server: Any = None
    thread: threading.Thread | None = None

    def stop(self) -> None:
        """Stop serving (the port answers nothing: connections are refused)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.server = self.thread = None

    def start(self, port: int = 0) -> None:
        """Serve the app (again) on `port` (0: a free one), from a background thread."""
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="e2e-server", daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    @property
    def port(self) -> int:
        """The port it serves on."""
        return int(self.url.rsplit(":", 1)[1])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Serve the app with the test studies from a background thread."""
    if _why_no_browser():
        pytest.skip(_why_no_browser() or "")
    folder = tmp_path_factory.mktemp("e2e")
    app = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'e2e.sqlite'}",
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "MAIL_BACKEND": "outbox",
            "RATELIMIT_ENABLED": False,
        }
    )
    app.instance_path = str(folder / "instance")
    Path(app.instance_path).mkdir()
    with app.app_context():
        db.create_all()
        world = build_world()
        db.session.remove()
    live = LiveServer(app=app, url="", world=world)
    live.start()
    try:
        yield live
    finally:
        live.stop()
        with app.app_context():
            db.engine.dispose()


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser(live_server: LiveServer) -> Iterator[Any]:
    """One headless chromium for the whole session (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    """A factory of fresh browser contexts (like private windows), closed after the test."""
    opened: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("viewport", DESKTOP)
        options.setdefault("locale", "en-US")
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


@pytest.fixture
def page(new_context: Any) -> Any:
    """A page in a fresh desktop context."""
    return new_context().new_page()
