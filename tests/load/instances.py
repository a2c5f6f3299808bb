"""More than one server: two gunicorn instances on two loopback ports share one PostgreSQL
database and one Redis (rate limits, the job queue), with a client that spreads the experts
over both, as a proxy in front of several hosts would.

(d) `make load`: the realistic use of phase (a), every expert entering through its own link on
    one instance and moving to the other mid-round (its session, CSRF token and idempotency
    keys must hold there); a private-link guesser alternating between the instances gets the
    link budget once, not once per instance. Same targets as phase (a).
R24 `make faults`: one whole instance (gunicorn master and workers) SIGKILLed mid-load while
    experts save; the experts it served go on with the survivor, which the client reaches
    as a proxy would once the dead upstream refuses connections, resending with the same
    Idempotency-Key. Every acknowledged save is stored exactly once; the survivor sends no 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flask import Flask

from tests.load.harness import (
    ARTIFACTS,
    RETRY_STATUSES,
    Client,
    ExpertHandle,
    GunicornServer,
    LedgerCheck,
    Outcome,
    Panel,
    check_ledger,
    cookie_from,
    drop_database,
    item_path,
    log_leaks,
    percentile,
    run_async,
    seed_panel,
    seeding_app,
    server_environment,
)

#: the Redis the instances share (a database of its own: the fault runs use 7 and 8)
REDIS_URL = os.environ.get("INSTANCES_REDIS_URL", "redis://127.0.0.1:6379/9")
#: the private-link budget per client address (app/config.py RATELIMIT_LINK)
LINK_BUDGET = 20


def redis_answers(url: str = REDIS_URL) -> bool:
    """Whether the shared Redis answers."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def two_instances(
    database: str, *, workers: int | None = None, log_dir: Path = ARTIFACTS, name: str = "instance"
) -> Iterator[list[GunicornServer]]:
    """Two gunicorn instances of the app with the same settings (database, secret, Redis)."""
    env = server_environment(database, REDIS_URL=REDIS_URL)
    servers = []
    for letter in "ab":
        log = log_dir / f"{name}_{letter}.log"
        log.unlink(missing_ok=True)
        servers.append(GunicornServer("wsgi:app", env, log, workers=workers))
    try:
        for server in servers:
            # ten workers importing the app at once on a busy two-core machine take a while
            server.start(timeout=240.0)
        yield servers
    finally:
        for server in servers:
            server.stop()


def kill_instance(server: GunicornServer) -> int:
    """SIGKILL a whole instance, master and workers at once (a host lost); returns how many
    processes were killed."""
    assert server.process is not None
    victims = [server.process.pid, *server.worker_pids()]
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    return len(victims)


class Spread:
    """Experts' browsers behind a proxy that spreads them over several instances.

    Each expert is served by one instance (sticky, as a proxy that hashes the client's
    address) until it is moved, or until its instance does not answer: then, as a proxy does
    once an upstream refuses connections, the request goes to the next instance, with the same
    headers and body (so the same Idempotency-Key). Same interface as `Client`.
    """

    def __init__(self, base_urls: list[str], *, timeout: float = 30.0) -> None:
        self.clients = [Client(url, timeout=timeout) for url in base_urls]
        self.home: dict[int, int] = {}  #: participation id -> instance index
        #: requests sent again to another instance because theirs did not answer
        self.failovers = 0
        #: of those, acknowledgements that were replays (the dead instance had stored them)
        self.failover_replays = 0
        #: (participation id, instance index) -> answers 2xx/3xx it got there
        self.answered: Counter[tuple[int, int]] = Counter()
        #: participation id -> the number of requests after which it moves to the other instance
        self.move_after: dict[int, int] = {}
        self.sent: Counter[int] = Counter()
        self.moved: set[int] = set()

    def instance_of(self, expert: ExpertHandle) -> int:
        """The index of the instance serving this expert now."""
        return self.home.setdefault(
            expert.participation_id, expert.participation_id % len(self.clients)
        )

    def _maybe_move(self, expert: ExpertHandle) -> None:
        """Move the expert to the next instance once it has sent its planned requests."""
        pid = expert.participation_id
        self.sent[pid] += 1
        if pid not in self.moved and self.sent[pid] > self.move_after.get(pid, 1 << 30):
            self.home[pid] = (self.instance_of(expert) + 1) % len(self.clients)
            self.moved.add(pid)

    async def request(
        self,
        method: str,
        path: str,
        expert: ExpertHandle | None,
        *,
        retry_until: float = 0.0,
        **kwargs: Any,
    ) -> Outcome:
        """One request through the proxy; a transport error or a 5xx is retried until
        `retry_until`, a transport error on the next instance."""
        assert expert is not None, "every request here is an expert's"
        self._maybe_move(expert)
        started = time.perf_counter()
        statuses: list[int] = []
        failed_over = False
        while True:
            index = self.instance_of(expert)
            outcome = await self.clients[index].request(method, path, expert, **kwargs)
            statuses += outcome.statuses
            if outcome.status == 0:
                # nobody answered there: the proxy marks it down and tries the next one
                self.home[expert.participation_id] = (index + 1) % len(self.clients)
                if time.monotonic() < retry_until:
                    self.failovers += 1
                    failed_over = True
                    continue
            elif outcome.status in RETRY_STATUSES and time.monotonic() < retry_until:
                await asyncio.sleep(min(0.05 * 2 ** min(len(statuses), 5), 1.0))
                continue
            if 200 <= outcome.status < 400:
                self.answered[(expert.participation_id, index)] += 1
                body = outcome.body
                if failed_over and isinstance(body, dict) and body.get("replay") is True:
                    self.failover_replays += 1
            return Outcome(
                outcome.status, time.perf_counter() - started, len(statuses), outcome.body, statuses
            )

    async def save_item(
        self,
        expert: ExpertHandle,
        item_key: str,
        fields: dict[str, str],
        key: str,
        *,
        retry_for: float = 60.0,
    ) -> Outcome:
        """Autosave one item as the page's script does (see `Client.save_item`)."""
        return await self.request(
            "POST",
            item_path(item_key),
            expert,
            data=fields,
            headers={"Idempotency-Key": key, "Accept": "application/json"},
            retry_until=time.monotonic() + retry_for,
        )

    async def close(self) -> None:
        """Close every connection."""
        for client in self.clients:
            await client.close()

    @property
    def transport_errors(self) -> Counter[str]:
        """Why connections failed, over every instance."""
        return sum((c.transport_errors for c in self.clients), Counter())

    def served(self) -> list[int]:
        """Answers (any status) each instance gave."""
        return [sum(n for status, n in c.statuses.items() if status) for c in self.clients]


def client_address(index: int) -> str:
    """A distinct client address per expert (the proxy's X-Forwarded-For)."""
    return f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


async def enter(client: Client, expert: ExpertHandle, address: str) -> ExpertHandle | None:
    """Open the expert's private link on this instance as a browser behind the proxy does;
    the expert with the session cookie and CSRF token the instance gave it (None if refused)."""
    forwarded = {"X-Forwarded-For": address}
    landing = await client.http.request("GET", f"/t/{expert.link_token}", forwarded)
    cookie = cookie_from(landing)
    match = _CSRF.search(landing.text)
    if cookie is None or match is None:
        return None
    body = urllib.parse.urlencode({"token": expert.link_token, "csrf_token": match.group(1)})
    entered = await client.http.request(
        "POST",
        "/t",
        {
            **forwarded,
            "Cookie": f"delphi_session={cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body.encode(),
    )
    new_cookie = cookie_from(entered) if entered.status == 303 else None
    if new_cookie is None:
        return None
    return replace(expert, cookie=new_cookie, csrf=match.group(1), session_token="")


async def enter_all(spread: Spread, experts: list[ExpertHandle]) -> list[ExpertHandle | None]:
    """Every expert through its link on its own instance, a few at a time."""
    gate = asyncio.Semaphore(8)

    async def one(number: int, expert: ExpertHandle) -> ExpertHandle | None:
        async with gate:
            client = spread.clients[spread.instance_of(expert)]
            return await enter(client, expert, client_address(number))

    return list(await asyncio.gather(*(one(i, e) for i, e in enumerate(experts))))


async def guess_links(servers: list[GunicornServer], attempts: int) -> list[int]:
    """A private-link guesser at one address alternating between the instances: the statuses."""
    clients = [Client(server.base_url) for server in servers]
    address = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"  # new each run
    landing = await clients[0].http.request("GET", "/t/" + "a" * 43, {"X-Forwarded-For": address})
    cookie, match = cookie_from(landing), _CSRF.search(landing.text)
    assert cookie is not None and match is not None, "the landing page gave no session"
    statuses = []
    for attempt in range(attempts):
        body = urllib.parse.urlencode(
            {"token": f"guess-{uuid.uuid4().hex}", "csrf_token": match.group(1)}
        )
        answer = await clients[attempt % len(clients)].http.request(
            "POST",
            "/t",
            {
                "X-Forwarded-For": address,
                "Cookie": f"delphi_session={cookie}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            body.encode(),
        )
        statuses.append(answer.status)
    for client in clients:
        await client.close()
    return statuses


# -- (d) make load: two instances, experts moving between them ---------------------------------


def phase_d(database: str, panel: Panel, places: list[int], args: Any) -> list[tuple[str, bool]]:
    """Run and print phase (d); return its target checks (the targets of phase (a))."""
    from tests.load.run import (
        PAGE_P95_TARGET_MS,
        SAVE_P99_TARGET_MS,
        Realistic,
        _expert_session,
    )

    print(
        f"\n(d) two instances: {len(panel.experts)} experts spread over two gunicorn instances "
        f"on one PostgreSQL and one Redis, each moving to the other instance mid-round; "
        f"think time {args.think[0]:g}-{args.think[1]:g} s, {args.seconds:g} s"
    )
    if not redis_answers():
        return [(f"(d) needs Redis at {REDIS_URL}: it does not answer", False)]
    with two_instances(database, workers=args.workers) as servers:
        workers = [len(server.worker_pids()) for server in servers]
        guesses = run_async(guess_links(servers, LINK_BUDGET + 4))
        refused_from = guesses.index(429) if 429 in guesses else len(guesses)
        print(
            f"    gunicorn: {workers[0]} + {workers[1]} workers; a link guesser alternating "
            f"between the instances: {refused_from} guesses answered, then 429 "
            f"(budget {LINK_BUDGET} per address and minute, counted in Redis)"
        )
        result = Realistic(args.seconds)
        spread = Spread([server.base_url for server in servers])

        async def scenario() -> int:
            entered = await enter_all(spread, panel.experts)
            experts = [e for e in entered if e is not None]
            rng = random.Random(5)
            for expert in experts:  # each moves after its first few requests of the round
                spread.move_after[expert.participation_id] = rng.randint(1, 4)
            deadline = time.monotonic() + args.seconds
            await asyncio.gather(
                *(
                    _expert_session(
                        spread,  # type: ignore[arg-type] # the same interface as Client
                        expert,
                        panel.items,
                        places[i],
                        result,
                        random.Random(31 + i),
                        deadline,
                        tuple(args.think),
                        args.ramp,
                    )
                    for i, expert in enumerate(entered)
                    if expert is not None
                )
            )
            await spread.close()
            return len(experts)

        entered = run_async(scenario())
    for series in result.series:
        print("   ", series.line(result.seconds))
    served = spread.served()
    both_sides = sum(
        1 for pid in spread.moved if spread.answered[(pid, 0)] > 0 and spread.answered[(pid, 1)] > 0
    )
    print(
        f"    {entered} of {len(panel.experts)} entered through their links; {len(spread.moved)} "
        f"moved to the other instance mid-round, {both_sides} answered on both; requests "
        f"served per instance {served[0]} / {served[1]}"
    )
    for message, count in spread.transport_errors.most_common(3):
        print(f"    connection failures: {count} x {message}")
    save_p99 = percentile([v * 1000 for v in result.saves.latencies], 99)
    checks = [
        (
            f"(d) save p99 {save_p99:.1f} ms <= {SAVE_P99_TARGET_MS:g} ms",
            save_p99 <= SAVE_P99_TARGET_MS,
        )
    ]
    for name, series in (("item page", result.pages), ("overview", result.overviews)):
        p95 = percentile([v * 1000 for v in series.latencies], 95)
        checks.append(
            (f"(d) {name} p95 {p95:.1f} ms <= {PAGE_P95_TARGET_MS:g} ms", p95 <= PAGE_P95_TARGET_MS)
        )
    checks += [
        (f"errors in (d) {result.errors} == 0", result.errors == 0),
        (
            f"(d) experts who entered on one instance and answered on the other "
            f"{both_sides} == {len(panel.experts)}",
            both_sides == entered == len(panel.experts),
        ),
        (
            f"(d) link guesses let through across both instances {refused_from} == {LINK_BUDGET}",
            refused_from == LINK_BUDGET and set(guesses[refused_from:]) == {429},
        ),
    ]
    return checks


# -- R24 make faults: one whole instance SIGKILLed mid-load ------------------------------------


@dataclass
class InstanceKillResult:
    """R24's figures."""

    experts: int
    seconds: float
    killed_processes: int
    moved_experts: int  #: experts of the killed instance who went on with the survivor
    stranded_experts: int  #: experts of the killed instance with no answer from the survivor
    ledger: LedgerCheck
    acknowledged_requests: int
    acknowledged_by_killed: int  #: saves the killed instance acknowledged before it died
    failovers: int
    failover_replays: int
    gave_up: int
    other_errors: int
    survivor_5xx: int
    leaks: dict[str, int]
    statuses: list[dict[int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """R24 passes."""
        return (
            self.ledger.ok
            and self.stranded_experts == 0
            and self.moved_experts > 0
            and self.gave_up == 0
            and self.other_errors == 0
            and self.survivor_5xx == 0
            and not any(self.leaks.values())
        )

    def report(self) -> str:
        """The figures, one paragraph."""
        return (
            f"R24 instance SIGKILL: {self.experts} experts over two gunicorn instances, one "
            f"killed whole ({self.killed_processes} processes) mid-load, {self.seconds:.1f} s; "
            f"its {self.moved_experts} experts went on with the survivor ({self.stranded_experts} "
            f"stranded); acknowledged saves {self.acknowledged_requests} "
            f"({self.acknowledged_by_killed} by the killed instance; {self.ledger.acknowledged} "
            f"answers), missing {self.ledger.missing}, duplicates {self.ledger.duplicates}, "
            f"wrong value {self.ledger.wrong_value}, unexpected rows {self.ledger.unexpected}, "
            f"requests missing from the server's ledger {self.ledger.unrecorded}; resent to the "
            f"survivor {self.failovers} ({self.failover_replays} were already stored: replays); "
            f"gave up {self.gave_up}, other errors {self.other_errors}, 5xx from the survivor "
            f"{self.survivor_5xx}; statuses per instance {self.statuses}; log leaks "
            f"{self.leaks} -> " + ("PASS" if self.ok else "FAIL")
        )


def instance_kill(
    database: str,
    app: Flask,
    *,
    experts: int = 40,
    before: float = 8.0,
    after: float = 12.0,
    min_acknowledged: int = 200,
    workers: int | None = 3,
    log_dir: Path = ARTIFACTS,
    seed: int = 24,
) -> InstanceKillResult:
    """R24: experts save on two instances; once `before` seconds and `min_acknowledged` saves
    have passed, the first instance is SIGKILLed whole; they go on for `after` seconds."""
    from tests.load.faults import SaveRun, _expert_saves

    panel = seed_panel(app, experts=experts, study_key=f"r24-{uuid.uuid4().hex[:10]}")
    run = SaveRun()
    with two_instances(database, workers=workers, log_dir=log_dir, name="r24_instance") as servers:
        spread = Spread([server.base_url for server in servers])

        async def scenario() -> tuple[float, int, int, list[ExpertHandle]]:
            entered = await enter_all(spread, panel.experts)
            if any(e is None for e in entered):
                raise RuntimeError("an expert could not enter through its link")
            people = [e for e in entered if e is not None]
            stop = asyncio.Event()
            items = panel.probability_items
            tasks = [
                asyncio.create_task(
                    _expert_saves(
                        spread,  # type: ignore[arg-type] # the same interface as Client
                        expert,
                        items,
                        run,
                        random.Random(seed + i),
                        stop,
                        reasons=True,
                        pause=0.2,
                    )
                )
                for i, expert in enumerate(people)
            ]
            started = time.monotonic()
            while (
                time.monotonic() - started < before or run.acknowledged_requests < min_acknowledged
            ):
                await asyncio.sleep(0.2)
                if time.monotonic() - started > 10 * before + 60:
                    break
            killed = kill_instance(servers[0])
            await asyncio.sleep(after)
            stop.set()
            await asyncio.gather(*tasks)
            await spread.close()
            # whatever the killed instance answered, it answered before it died
            by_killed = sum(n for (_pid, index), n in spread.answered.items() if index == 0)
            return time.monotonic() - started, killed, by_killed, people

        seconds, killed, by_killed, people = run_async(scenario())
        leaks = log_leaks(
            [server.log_path for server in servers],
            [*panel.secrets(), *(e.cookie for e in people)],
        )
    on_killed = [e.participation_id for e in people if e.participation_id % 2 == 0]
    moved = sum(1 for pid in on_killed if spread.answered[(pid, 1)] > 0)
    return InstanceKillResult(
        experts=experts,
        seconds=seconds,
        killed_processes=killed,
        moved_experts=moved,
        stranded_experts=len(on_killed) - moved,
        ledger=check_ledger(app, run.ledger, panel.round_id),
        acknowledged_requests=run.acknowledged_requests,
        acknowledged_by_killed=by_killed,
        failovers=spread.failovers,
        failover_replays=spread.failover_replays,
        gave_up=run.errors.get(0, 0),
        other_errors=sum(n for status, n in run.errors.items() if status != 0),
        survivor_5xx=sum(n for status, n in spread.clients[1].statuses.items() if status >= 500),
        leaks=leaks,
        statuses=[dict(sorted(c.statuses.items())) for c in spread.clients],
    )


def instance_faults(
    name: str = "delphi_faults_r24", *, use_migrations: bool = True, **options: Any
) -> InstanceKillResult:
    """R24 on a fresh database `name`, dropped afterwards."""
    from tests.load.faults import _prepare_database

    url = _prepare_database(name, use_migrations=use_migrations)
    app = seeding_app(url)
    try:
        return instance_kill(url, app, **options)
    finally:
        from app.extensions import db

        with app.app_context():
            db.engine.dispose()
        drop_database(name)
