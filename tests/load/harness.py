"""What the load and fault runs share: throwaway databases, a gunicorn server on a free loopback
port, seeded panels with signed-in experts, answer generators, an HTTP client that retries
with the same Idempotency-Key, a ledger of acknowledged saves checked against the database,
and latency statistics."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, scoped_session

ROOT = Path(__file__).resolve().parents[2]
#: what gunicorn.conf.py's `post_worker_init` logs once a worker may take requests
_WORKER_READY = re.compile(r"Worker ready \(pid: (\d+)\)")
ARTIFACTS = ROOT / "tests" / "load" / "artifacts"
EXAMPLE_SURVEY = ROOT / "surveys" / "example.toml"
FIRST_STUDY = ROOT / "surveys" / "iran_russia_us.toml"
#: the PostgreSQL server the runs use unless LOAD_DATABASE_URL or DATABASE_URL_TEST says otherwise
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
#: a fixed secret so the harness can sign session cookies the server accepts
SECRET_KEY = "load-and-fault-runs-only-" + "x" * 24
SESSION_COOKIE = "delphi_session"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: a mark put into every answer text the runs type, so the logs can be searched for it
CANARY = "CANARY7f3a"


# -- databases ------------------------------------------------------------------------------


T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from a thread whose event loop is already running (Playwright's
    sync API keeps one running for the browser tests of the same pytest process)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def server_url() -> str:
    """The PostgreSQL server to use (any database on it; the runs create their own)."""
    return (
        os.environ.get("LOAD_DATABASE_URL") or os.environ.get("DATABASE_URL_TEST") or DEFAULT_SERVER
    )


def database_url(name: str) -> str:
    """A plain postgresql:// URL for database `name` on the run's server."""
    url = make_url(server_url()).set(database=name)
    return url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg://", "postgresql://"
    )


def _admin_engine() -> Any:
    """An autocommit engine on the server's maintenance database."""
    url = make_url(database_url("postgres")).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


def postgres_available() -> bool:
    """Whether the PostgreSQL server answers."""
    try:
        engine = _admin_engine()
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception:
        return False
    return True


def _safe_name(name: str) -> str:
    """Refuse database names that are not plain identifiers."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name):
        raise ValueError(f"unexpected database name {name!r}")
    return name


def terminate_connections(name: str) -> int:
    """Terminate every other connection to database `name`; returns how many were ended."""
    engine = _admin_engine()
    with engine.connect() as connection:
        ended = connection.execute(
            text(
                "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = :n and pid <> pg_backend_pid()) t"
            ),
            {"n": _safe_name(name)},
        ).scalar_one()
    engine.dispose()
    return int(ended)


def recreate_database(name: str) -> str:
    """Drop database `name` if it exists and create it empty; returns its URL."""
    _safe_name(name)
    terminate_connections(name)
    engine = _admin_engine()
    with engine.connect() as connection:
        connection.execute(text(f'drop database if exists "{name}"'))
        connection.execute(text(f'create database "{name}"'))
    engine.dispose()
    return database_url(name)


def drop_database(name: str) -> None:
    """Drop database `name` (ending its connections first)."""
    _safe_name(name)
    with contextlib.suppress(Exception):
        terminate_connections(name)
        engine = _admin_engine()
        with engine.connect() as connection:
            connection.execute(text(f'drop database if exists "{name}"'))
        engine.dispose()


def server_environment(database: str, **extra: str) -> dict[str, str]:
    """The environment of a production-style server (and of `flask db upgrade`)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "WEB_CONCURRENCY", "REDIS_URL"))
        and not (key.startswith("GUNICORN_") and key != "GUNICORN_WORKER_CLASS")
    }
    env.update(
        {
            "DELPHI_ENV": "production",
            "DATABASE_URL": database,
            "SECRET_KEY": SECRET_KEY,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def migrate(database: str) -> float:
    """Bring a database to the latest schema with `flask db upgrade`; returns the seconds taken."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=server_environment(database),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return time.monotonic() - started


def release_session() -> None:
    """Give the in-process app's database session back (Flask-SQLAlchemy's scoped session;
    outside a request nothing else ends it)."""
    from app.extensions import db

    cast("scoped_session[Session]", db.session).remove()


def seeding_app(database: str) -> Flask:
    """An in-process app on `database`, for seeding and checking (never serves requests)."""
    from app import create_app

    return create_app(
        {
            "ENV_NAME": "testing",
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": database,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
            "PUBLIC_BASE_URL": "http://127.0.0.1",
        }
    )


# -- the server ------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now (on the loopback interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The direct child processes of `pid` (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


class GunicornServer:
    """gunicorn with the project's gunicorn.conf.py on a free loopback port, logging to a file."""

    def __init__(
        self,
        app_spec: str,
        env: dict[str, str],
        log_path: Path,
        *,
        workers: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.app_spec = app_spec
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The server's address."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/", timeout: float = 180.0) -> None:
        """Start gunicorn and wait until every worker answers (on a machine busy with other
        work, five workers importing the app at once took over a minute)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            # the workers' "ready" lines are at info (`wait_ready` reads them)
            "--log-level",
            "info",
        ]
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        if self.threads is not None:
            command += ["--threads", str(self.threads)]
        command.append(self.app_spec)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.wait_ready(ready_path, timeout)

    def wait_ready(self, path: str = "/", timeout: float = 60.0) -> None:
        """Poll until every live worker has said it is ready in the log (gunicorn.conf.py's
        `post_worker_init`) and the server answers `path` a few times in a row. One booted worker can answer every poll while
        the others still import the app: measured from then, a phase's first half ran
        beside the other workers' start."""
        deadline = time.monotonic() + timeout
        streak = 0
        while time.monotonic() < deadline:
            if not self._workers_ready():
                time.sleep(0.1)
                continue
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.base_url + path, timeout=5) as answer:  # noqa: S310 - our own loopback server
                    streak = streak + 1 if answer.status < 500 else 0
            except (OSError, urllib.error.HTTPError):
                streak = 0
            if streak >= 2 * (self.workers or 3):
                return
            time.sleep(0.1)
        raise TimeoutError(f"gunicorn did not answer within {timeout} s; see {self.log_path}")

    def _workers_ready(self) -> bool:
        """Whether every live worker has logged that it is ready (gunicorn.conf.py's
        `post_worker_init`, which every server here runs with)."""
        pids = self.worker_pids()
        try:
            log = self.log_path.read_text(errors="replace")
        except OSError:
            return False
        ready = {int(pid) for pid in _WORKER_READY.findall(log)}
        return bool(pids) and all(pid in ready for pid in pids)

    def worker_pids(self) -> list[int]:
        """The live worker processes."""
        return _children(self.process.pid) if self.process is not None else []

    def kill_worker(self, rng: random.Random) -> int | None:
        """SIGKILL one random worker; returns its pid (None if there was none)."""
        pids = self.worker_pids()
        if not pids:
            return None
        victim = rng.choice(pids)
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        return victim

    def stop(self) -> None:
        """Stop gunicorn at once (SIGQUIT: no request is in flight by now; SIGKILL after 20 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> GunicornServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- seeded panels ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionSpec:
    """What a client needs to answer one question through the form."""

    id: int
    kind: str
    parts: tuple[str, ...]
    low: float | None
    high: float | None
    step: float
    points: tuple[str, ...] = ()  #: Likert points


@dataclass(frozen=True)
class ItemSpec:
    """An item of the open round and its questions."""

    id: int
    key: str
    questions: tuple[QuestionSpec, ...]

    @property
    def probability(self) -> QuestionSpec | None:
        """The item's single-valued probability question, if it has one."""
        return next((q for q in self.questions if q.kind == "probability" and not q.parts), None)

    @property
    def reason(self) -> QuestionSpec | None:
        """The item's free-text question, if it has one."""
        return next((q for q in self.questions if q.kind == "text"), None)


@dataclass
class ExpertHandle:
    """A signed-in expert: the session cookie and CSRF token a browser would hold."""

    participation_id: int
    cookie: str
    csrf: str
    link_token: str
    session_token: str


@dataclass
class Panel:
    """A study with an open round and experts ready to answer it."""

    study_id: int
    round_id: int
    items: list[ItemSpec]
    experts: list[ExpertHandle]

    @property
    def probability_items(self) -> list[ItemSpec]:
        """Items with a single-valued probability question (what the fault runs save)."""
        return [item for item in self.items if item.probability is not None]

    def secrets(self) -> list[str]:
        """Every token a log must never contain."""
        return [s for e in self.experts for s in (e.link_token, e.session_token)]


def question_spec(question: Any) -> QuestionSpec:
    """A QuestionSpec from a Question row."""
    from app.services.tidy import question_parts

    scale = question.scale
    parts = tuple(p.part for p in question_parts(question) if p.part)
    points: tuple[str, ...] = ()
    if question.kind == "likert" and scale is not None:
        low, high, step = scale.min or 1.0, scale.max or 5.0, scale.step or 1.0
        count = round((high - low) / step) + 1
        points = tuple(_plain(low + i * step) for i in range(count))
    return QuestionSpec(
        id=question.id,
        kind=question.kind,
        parts=parts,
        low=scale.min if scale is not None else None,
        high=scale.max if scale is not None else None,
        step=(scale.step if scale is not None and scale.step else 1.0),
        points=points,
    )


def _plain(value: float) -> str:
    """A number as a person types it."""
    return str(int(value)) if float(value).is_integer() else str(value)


def expert_cookie(app: Flask, session_token: str) -> tuple[str, str]:
    """The signed session cookie of an expert session, and a CSRF token valid with it."""
    from flask import session
    from flask_wtf.csrf import generate_csrf

    # a fresh app context: Flask-WTF caches the token in `g`, which lives there
    with app.app_context(), app.test_request_context("/"):
        session["expert"] = session_token
        session.permanent = True
        csrf = generate_csrf()
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        return str(serializer.dumps(dict(session))), str(csrf)


def facilitator_cookie(app: Flask, user: Any) -> str:
    """The signed session cookie of a new login session of this facilitator (called inside
    an app context; the session row is committed)."""
    from flask import session
    from flask_login import login_user

    from app.auth import SEEN_KEY, FacilitatorLogin
    from app.extensions import db
    from app.models import utcnow
    from app.services import accounts

    token = accounts.start_session(db.session, user, utcnow())
    db.session.commit()
    with app.test_request_context("/"):
        login_user(FacilitatorLogin(user, token))
        session[SEEN_KEY] = int(time.time()) + 10**6
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        return str(serializer.dumps(dict(session)))


def _study_definition(path: Path, key: str | None) -> Any:
    """A survey definition, with its study key replaced (so one database holds many)."""
    from app.definitions import load_definition

    definition = load_definition(path)
    if key is None:
        return definition
    return dataclasses.replace(definition, study=dataclasses.replace(definition.study, key=key))


def seed_panel(
    app: Flask,
    *,
    experts: int,
    survey: str = "example",
    study_key: str | None = None,
    with_feedback: bool = False,
) -> Panel:
    """Import a study, open a round, add consenting experts signed in with session cookies.

    `survey` is "example" (surveys/example.toml, round 1 open) or "first" (the first real
    study); with `with_feedback` the demo panel answers and closes two rounds first, so the
    open round shows feedback on every item.
    """
    from app.extensions import db
    from app.models import Role, Round, RoundState
    from app.services import accounts, demo, panel, rounds, studies

    path = EXAMPLE_SURVEY if survey == "example" else FIRST_STUDY
    definition = _study_definition(path, study_key)
    with app.app_context():
        session = db.session
        email = f"load-{uuid.uuid4().hex[:8]}@example.org"
        admin = accounts.create_user(
            session,
            email=email,
            name="Load facilitator",
            password=uuid.uuid4().hex + "Aa1!",
            role=Role.ADMIN,
            now=NOW,
        )
        if with_feedback:
            links = demo.load_demo(session, definition, admin=admin, now=NOW)
            study = links.study
            round_ = session.scalars(
                select(Round).where(Round.study_id == study.id, Round.state == RoundState.OPEN)
            ).one()
        else:
            study = studies.import_study(session, definition, actor=admin, now=NOW)
            round_ = rounds.create_round(session, study, actor=admin, now=NOW)
            rounds.open_round(session, round_, actor=admin, now=NOW)
        handles: list[ExpertHandle] = []
        tag = uuid.uuid4().hex[:6]
        for number in range(experts):
            member = panel.add_expert(
                session,
                study,
                name=f"Load expert {number} {CANARY}name",
                email=f"load-{tag}-{number}@example.org",
                group=("G1", "G2", "G3")[number % 3],
                language="en",
                actor=admin,
                now=NOW,
            )
            panel.record_consent(session, member.participation, language="en", now=NOW)
            session_token = panel.open_session_from_link(session, member.token, NOW)
            assert session_token is not None
            cookie, csrf = expert_cookie(app, session_token)
            handles.append(
                ExpertHandle(
                    participation_id=member.participation.id,
                    cookie=cookie,
                    csrf=csrf,
                    link_token=member.token,
                    session_token=session_token,
                )
            )
        items = [
            ItemSpec(
                id=ri.item_id,
                key=ri.item.key,
                questions=tuple(question_spec(q) for q in ri.item.questions_in(round_.number)),
            )
            for ri in round_.items
        ]
        result = Panel(study_id=study.id, round_id=round_.id, items=items, experts=handles)
        session.commit()
        release_session()
    return result


# -- answers a client types ---------------------------------------------------------------------


def _field(question: QuestionSpec, part: str = "") -> str:
    """The form field name of a question part (mirrors app.expert.round_form.field_name)."""
    return f"q{question.id}" if not part else f"q{question.id}_" + part.replace("|", "__")


def _in_range(
    question: QuestionSpec, rng: random.Random, low: float = 0, high: float = 100
) -> float:
    """A whole number within the question's scale."""
    lo = question.low if question.low is not None else low
    hi = question.high if question.high is not None else max(lo + 100, high)
    return float(rng.randint(math.ceil(lo), math.floor(hi)))


def question_fields(question: QuestionSpec, rng: random.Random, text: str) -> dict[str, str]:
    """Valid form fields answering one question (any kind)."""
    if question.kind == "text":
        return {_field(question): text}
    if question.kind == "likert":
        return {_field(question): rng.choice(question.points)}
    if question.kind == "probability" and not question.parts:
        return {_field(question): _plain(_in_range(question, rng))}
    if question.kind == "probability":
        start = rng.randint(0, 60)
        return {
            _field(question, part): str(min(100, start + 10 * i))
            for i, part in enumerate(question.parts)
        }
    if question.kind == "quantiles":
        lo = question.low if question.low is not None else 0.0
        hi = question.high if question.high is not None else lo + 1000.0
        values = sorted(rng.sample(range(math.ceil(lo), math.floor(hi) + 1), len(question.parts)))
        return {_field(question, p): str(v) for p, v in zip(question.parts, values, strict=True)}
    if question.kind == "conditional":
        return {_field(question, part): str(rng.randint(1, 99)) for part in question.parts}
    if question.kind == "trend_impact":
        t1 = rng.randint(0, 2)
        t2 = t1 + rng.randint(0, 3)
        t3 = t2 + rng.randint(0, 4)
        profile = {
            "t1": t1,
            "t2": t2,
            "i_max": rng.randint(-30, 30),
            "t3": t3,
            "i_ss": rng.randint(-20, 20),
        }
        return {_field(question, p): str(profile[p]) for p in question.parts}
    ratings = _row_ratings(question.kind)
    if ratings:
        # a structural matrix's row: one rating per cell
        return {_field(question, part): rng.choice(ratings) for part in question.parts}
    raise ValueError(f"unknown question kind {question.kind}")


def _row_ratings(kind: str) -> tuple[str, ...]:
    """The ratings a structural row question's cells take (none for other kinds)."""
    from app.definitions.model import QuestionKind
    from app.services.answer_values import ROW_RATINGS

    try:
        return ROW_RATINGS.get(QuestionKind(kind), ())
    except ValueError:
        return ()


def item_fields(item: ItemSpec, rng: random.Random) -> dict[str, str]:
    """Valid form fields answering every question of an item (reasons carry the canary)."""
    fields: dict[str, str] = {}
    for question in item.questions:
        fields.update(question_fields(question, rng, f"{CANARY} reason {rng.randint(0, 10**6)}"))
    return fields


# -- the client ------------------------------------------------------------------------------


@dataclass
class Response:
    """An HTTP response as the lean client reads it."""

    status: int
    headers: list[tuple[str, str]]  #: names lower-cased, in order (Set-Cookie may repeat)
    body: bytes

    def header(self, name: str) -> str:
        """The first value of a header, or ''."""
        return next((v for k, v in self.headers if k == name), "")

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", errors="replace")


class ConnectionFailedError(Exception):
    """The connection broke before a whole response arrived."""


class _Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.answered = False  #: whether the current exchange got a response head

    async def exchange(self, request: bytes) -> tuple[Response, bool]:
        """Send a request, read the response; returns it and whether the connection stays open."""
        self.answered = False
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        self.answered = True
        lines = head.decode("latin-1").split("\r\n")
        version, status_text = lines[0].split(" ", 2)[:2]
        headers = [
            (name.strip().lower(), value.strip())
            for name, _sep, value in (line.partition(":") for line in lines[1:] if line)
        ]
        response = Response(int(status_text), headers, b"")
        length = response.header("content-length")
        if length:
            response.body = await self.reader.readexactly(int(length))
        elif response.header("transfer-encoding").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            response.body = b"".join(chunks)
        elif response.status not in (204, 304):
            response.body = await self.reader.read()
            return response, False
        keep = version == "HTTP/1.1" and response.header("connection").lower() != "close"
        return response, keep

    def close(self) -> None:
        """Close the socket."""
        self.writer.close()


class Http:
    """A lean asyncio HTTP/1.1 client with a pool of keep-alive connections.

    A load generator on the same machine as the server must cost little: this one spends a
    small fraction of a millisecond of CPU per request (httpx spends about two).
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.timeout = timeout
        self.idle: list[_Connection] = []
        #: requests sent again on a fresh connection after a kept-alive one broke unanswered
        self.resent = 0

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> Response:
        """Send one request (a reused keep-alive connection that the server closed before
        answering is retried once on a fresh one, as browsers do)."""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        for attempt in range(2):
            # the retry opens a fresh connection: other idle ones may be just as stale
            connection = self.idle.pop() if self.idle and attempt == 0 else None
            reused = connection is not None
            if connection is None:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(self.host, self.port), self.timeout
                    )
                except (OSError, TimeoutError) as error:
                    raise ConnectionFailedError(str(error)) from error
                connection = _Connection(reader, writer)
            try:
                response, keep = await asyncio.wait_for(connection.exchange(raw), self.timeout)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
                connection.close()
                if reused and not connection.answered and not isinstance(error, TimeoutError):
                    self.resent += 1
                    continue  # the server closed this connection unanswered; try a fresh one
                raise ConnectionFailedError(repr(error)) from error
            if keep:
                self.idle.append(connection)
            else:
                connection.close()
            return response
        raise ConnectionFailedError("no connection")  # pragma: no cover

    async def close(self) -> None:
        """Close every idle connection."""
        while self.idle:
            self.idle.pop().close()


@dataclass
class Outcome:
    """What one logical request (with its retries) ended as."""

    status: int  #: the final HTTP status, or 0 if the client gave up
    latency: float  #: seconds from the first try to the final answer
    attempts: int
    body: Any = None
    statuses: list[int] = field(default_factory=list)  #: every status seen (0 = transport error)


RETRY_STATUSES = frozenset({500, 502, 503, 504})


class Client:
    """Many experts' browsers at once; cookies are per expert, never shared."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.http = Http(base_url, timeout=timeout)
        #: every status seen, retries included (0 = the connection failed)
        self.statuses: Counter[int] = Counter()
        #: server errors as received: (status, content type, start of the body)
        self.server_errors: list[tuple[int, str, str]] = []
        #: (monotonic time of the answer, status) of every attempt
        self.timeline: list[tuple[float, int]] = []
        #: why connections failed, by message
        self.transport_errors: Counter[str] = Counter()

    async def close(self) -> None:
        """Close every connection."""
        await self.http.close()

    async def request(
        self,
        method: str,
        path: str,
        expert: ExpertHandle | None,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        retry_until: float = 0.0,
        cookie: str | None = None,
    ) -> Outcome:
        """Send one request; on a transport error or a 5xx, send it again (same headers and
        body, so the same Idempotency-Key) until `retry_until` (a monotonic deadline)."""
        sent = dict(headers or {})
        cookie = cookie or (expert.cookie if expert is not None else None)
        if cookie:
            sent["Cookie"] = f"{SESSION_COOKIE}={cookie}"
        if expert is not None:
            sent.setdefault("X-CSRFToken", expert.csrf)
        body = b""
        if data is not None:
            body = urllib.parse.urlencode(data).encode("utf-8")
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        attempts = 0
        statuses: list[int] = []
        while True:
            attempts += 1
            response: Response | None
            try:
                response = await self.http.request(method, path, sent, body)
                status = response.status
            except ConnectionFailedError as error:
                status, response = 0, None
                self.transport_errors[str(error)[:120]] += 1
            statuses.append(status)
            self.statuses[status] += 1
            self.timeline.append((time.monotonic(), status))
            if response is not None and status >= 500 and len(self.server_errors) < 1000:
                self.server_errors.append(
                    (status, response.header("content-type"), response.text[:2000])
                )
            if (status == 0 or status in RETRY_STATUSES) and time.monotonic() < retry_until:
                await asyncio.sleep(min(0.05 * 2 ** min(attempts, 5), 1.0))
                continue
            content: Any = None
            if response is not None:
                if "json" in response.header("content-type"):
                    content = json.loads(response.body)
                else:
                    content = response
            return Outcome(status, time.perf_counter() - started, attempts, content, statuses)

    async def save_item(
        self,
        expert: ExpertHandle,
        item_key: str,
        fields: dict[str, str],
        key: str,
        *,
        retry_for: float = 60.0,
    ) -> Outcome:
        """Autosave one item the way the page's script does (JSON, Idempotency-Key); the
        acknowledgement (200) echoes the key."""
        return await self.request(
            "POST",
            item_path(item_key),
            expert,
            data=fields,
            headers={"Idempotency-Key": key, "Accept": "application/json"},
            retry_until=time.monotonic() + retry_for,
        )


def item_path(item_key: str) -> str:
    """An item's page in the open round (GET shows it, POST saves it)."""
    return f"/e/round/items/{item_key}"


async def enter_through_link(client: Client, token: str) -> str | None:
    """Open a private link the way a browser does (GET the landing, press Continue); returns
    the new session cookie."""
    landing = await client.http.request("GET", f"/t/{token}", {})
    cookie = cookie_from(landing)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', landing.text)
    if cookie is None or match is None:
        return None
    body = urllib.parse.urlencode({"token": token, "csrf_token": match.group(1)}).encode()
    entered = await client.http.request(
        "POST",
        "/t",
        {
            "Cookie": f"{SESSION_COOKIE}={cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body,
    )
    return cookie_from(entered) if entered.status == 303 else None


def cookie_from(response: Response) -> str | None:
    """The session cookie a response sets, if any."""
    for name, value in response.headers:
        if name == "set-cookie":
            match = re.match(rf"{SESSION_COOKIE}=([^;]+)", value)
            if match:
                return match.group(1)
    return None


# -- the ledger ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Save:
    """One answer a client sent: who, which item and question, what value or text, under
    which Idempotency-Key."""

    participation_id: int
    item_id: int
    question_id: int
    value: float | None
    text: str | None
    key: str

    @property
    def request_key(self) -> str:
        """The key the server files the save under: the script's key as sent (a plain form's
        key names the page's post, so the server files each of its items as
        `<key>-<item id>`)."""
        return self.key

    @property
    def answer_key(self) -> str:
        """The key the answer revision it stored carries (`<request key>:<question id>`)."""
        return f"{self.request_key}:{self.question_id}"


@dataclass
class Ledger:
    """Saves the server acknowledged (200), and those it refused (409), as the client saw them."""

    acknowledged: list[Save] = field(default_factory=list)
    rejected: list[Save] = field(default_factory=list)
    attempted: list[Save] = field(default_factory=list)


@dataclass(frozen=True)
class LedgerCheck:
    """The ledger compared with the database."""

    acknowledged: int
    missing: int
    duplicates: int
    wrong_value: int
    unexpected: int  #: rows whose key no client sent, or sent and saw refused
    #: acknowledged requests the server's own request ledger (save_requests) does not hold,
    #: plus refused requests it does hold
    unrecorded: int = 0

    @property
    def ok(self) -> bool:
        """No acknowledged save lost or doubled, nothing stored that should not be."""
        return (
            not (self.missing or self.duplicates or self.wrong_value or self.unexpected)
            and not self.unrecorded
        )


def check_ledger(app: Flask, ledger: Ledger, round_id: int) -> LedgerCheck:
    """Compare every acknowledged save with the answers stored for the round."""
    from app.extensions import db
    from app.models import Answer, SaveRequest

    with app.app_context():
        rows = db.session.execute(
            select(
                Answer.participation_id, Answer.idempotency_key, Answer.value, Answer.text
            ).where(Answer.round_id == round_id, Answer.idempotency_key.is_not(None))
        ).all()
        requests = set(
            db.session.execute(
                select(
                    SaveRequest.participation_id, SaveRequest.idempotency_key, SaveRequest.item_id
                ).where(SaveRequest.round_id == round_id)
            )
            .tuples()
            .all()
        )
        release_session()
    stored: dict[tuple[int, str], list[tuple[float | None, str | None]]] = {}
    for participation_id, key, value, text_ in rows:
        stored.setdefault((participation_id, key), []).append((value, text_))
    missing = duplicates = wrong = 0
    for save in ledger.acknowledged:
        found = stored.get((save.participation_id, save.answer_key), [])
        if not found:
            missing += 1
        elif len(found) > 1:
            duplicates += 1
        elif found[0] != (save.value, save.text):
            wrong += 1
    allowed = {(s.participation_id, s.answer_key) for s in ledger.attempted}
    refused = {(s.participation_id, s.answer_key) for s in ledger.rejected}
    unexpected = sum(1 for key in stored if key not in allowed or key in refused)
    acknowledged_requests = {
        (s.participation_id, s.request_key, s.item_id) for s in ledger.acknowledged
    }
    refused_requests = {(s.participation_id, s.request_key, s.item_id) for s in ledger.rejected}
    unrecorded = len(acknowledged_requests - requests) + len(refused_requests & requests)
    return LedgerCheck(len(ledger.acknowledged), missing, duplicates, wrong, unexpected, unrecorded)


def new_key() -> str:
    """A fresh Idempotency-Key (what the page's script makes for each change)."""
    return uuid.uuid4().hex


# -- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Series:
    """Latencies (seconds) and error count of one kind of request."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)  #: final statuses (0: no answer)

    def add(self, outcome: Outcome, ok: bool) -> None:
        """Record one outcome."""
        self.latencies.append(outcome.latency)
        self.statuses[outcome.status] += 1
        if not ok:
            self.errors += 1

    def latency_line(self) -> str:
        """count and p50/p95/p99 in milliseconds (no throughput)."""
        ms = [v * 1000 for v in self.latencies]
        return (
            f"{self.name:<22} n={len(ms):>6}  p50={percentile(ms, 50):7.1f} ms  "
            f"p95={percentile(ms, 95):7.1f} ms  p99={percentile(ms, 99):7.1f} ms  errors={self.errors}"
        )

    def line(self, seconds: float) -> str:
        """count, throughput and p50/p95/p99 in milliseconds."""
        n = len(self.latencies)
        ms = [v * 1000 for v in self.latencies]
        return (
            f"{self.name:<22} n={n:>6}  {n / seconds:8.1f}/s  p50={percentile(ms, 50):7.1f} ms  "
            f"p95={percentile(ms, 95):7.1f} ms  p99={percentile(ms, 99):7.1f} ms  errors={self.errors}"
            + (f" {dict(self.statuses)}" if self.errors else "")
        )


def log_leaks(
    paths: Sequence[Path], secrets: Sequence[str], canary: str = CANARY
) -> dict[str, int]:
    """How many times any secret, and the canary, appear in the given log files."""
    text_ = "\n".join(p.read_text(errors="replace") for p in paths if p.exists())
    return {
        "tokens": sum(text_.count(s) for s in secrets if s),
        "canaries": text_.count(canary),
    }


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """Measure the seconds a block takes (the result is in the yielded list afterwards)."""
    box: list[float] = []
    started = time.monotonic()
    try:
        yield box
    finally:
        box.append(time.monotonic() - started)
