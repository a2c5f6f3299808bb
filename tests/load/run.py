"""Load benchmark (`make load`): gunicorn on PostgreSQL on this machine, driven from the loopback.

(0) No contention: one expert alone opens the overview and every item page, saves, and
    submits; the item page's and the overview's render times (p50/p99) are reported next to
    each other, over HTTP and in process (Flask's test client on the same database, no HTTP
    or gunicorn), both after an unmeasured pass that warms each process's caches. Target:
    item page and overview p50 <= 25 ms in process.
(a) Realistic use: 200 simulated experts with think time answer round 3 of the first study,
    whose pages show the panel's feedback on every item. Each expert is somewhere in the
    round (the items before its place were saved in an earlier visit, unmeasured): it opens
    the overview, then item by item opens the page and saves it (1-3 s apart), looks at the
    overview now and then, submits (POST /e/round/submit) after its last item, and goes on
    revising. Reports throughput and p50/p95/p99 of saves, item pages, overviews and submits.
    Targets: save p99 <= 150 ms, item page and overview p95 <= 150 ms, no errors.
(b) Capacity: saves with no think time at rising concurrency until throughput stops growing;
    target: at least 40 % of the ceiling app's throughput. The ceiling app (tests/load/ceiling_app.py: one route, one INSERT,
    same gunicorn settings, same database) is measured the same way in the same run, and our
    capacity is reported as a fraction of it.
(d) Two instances: phase (a) again with two gunicorn instances sharing the database and Redis,
    every expert moving from one to the other mid-round (tests/load/instances.py).

Every phase is bounded in time; the whole run takes about seven minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from flask import Flask

from tests.load.harness import (
    ARTIFACTS,
    SESSION_COOKIE,
    Client,
    ExpertHandle,
    GunicornServer,
    ItemSpec,
    Outcome,
    Panel,
    Series,
    drop_database,
    item_fields,
    item_path,
    migrate,
    new_key,
    percentile,
    postgres_available,
    recreate_database,
    release_session,
    run_async,
    seed_panel,
    seeding_app,
    server_environment,
    server_url,
    timed,
)

DATABASE = "delphi_load"
SAVE_P99_TARGET_MS = 150.0
PAGE_P95_TARGET_MS = 150.0
IN_PROCESS_PAGE_P50_TARGET_MS = 25.0
#: capacity as a fraction of the ceiling app's, measured in the same run
CAPACITY_TARGET = 0.40
OVERVIEW = "/e/round"
SUBMIT = "/e/round/submit"


@dataclass
class Realistic:
    """What the simulated experts saw (phase a; phase 0 uses the same series)."""

    seconds: float
    saves: Series = field(default_factory=lambda: Series("per-item save"))
    pages: Series = field(default_factory=lambda: Series("item page (feedback)"))
    overviews: Series = field(default_factory=lambda: Series("overview"))
    submits: Series = field(default_factory=lambda: Series("submit"))
    transport_errors: Counter[str] = field(default_factory=Counter)

    @property
    def series(self) -> tuple[Series, ...]:
        """Every kind of request, in the order they are printed."""
        return (self.saves, self.pages, self.overviews, self.submits)

    @property
    def errors(self) -> int:
        """Requests that did not get the expected answer."""
        return sum(series.errors for series in self.series)


def _acknowledged(outcome: Outcome, key: str) -> bool:
    """Whether an autosave was acknowledged: 200 with its own key echoed."""
    return (
        outcome.status == 200 and isinstance(outcome.body, dict) and outcome.body.get("key") == key
    )


async def _save(
    client: Client, expert: ExpertHandle, item: ItemSpec, fields: dict[str, str], series: Series
) -> None:
    """Autosave one item (no retries: a failure counts as an error) and record it."""
    key = new_key()
    outcome = await client.save_item(expert, item.key, fields, key, retry_for=0)
    series.add(outcome, _acknowledged(outcome, key))


async def _get(client: Client, expert: ExpertHandle, path: str, series: Series) -> None:
    """Open a page and record it."""
    outcome = await client.request("GET", path, expert)
    series.add(outcome, outcome.status == 200)


async def _submit(client: Client, expert: ExpertHandle, series: Series) -> None:
    """Submit the round (every item saved before): 303 to the expert's home."""
    outcome = await client.request("POST", SUBMIT, expert, data={"csrf_token": expert.csrf})
    series.add(outcome, outcome.status == 303)


def starting_places(panel: Panel, seed: int) -> list[int]:
    """Where in the round each expert of phase (a) is: the number of items it saved in an
    earlier visit."""
    rng = random.Random(seed)
    return [rng.randrange(len(panel.items)) for _ in panel.experts]


def earlier_visits(app: Flask, panel: Panel, places: list[int], seed: int) -> int:
    """Save, unmeasured and in process, the items each expert answered before phase (a):
    the item pages' own parsing and saving, one transaction per expert."""
    from app.expert.round_form import posted_payload
    from app.extensions import db
    from app.models import Participation, Round, utcnow
    from app.services import answers, burden

    rng = random.Random(seed)
    saved = 0
    with app.app_context():
        session = db.session
        round_ = session.get(Round, panel.round_id)
        assert round_ is not None
        specs = {spec.id: spec for spec in panel.items}
        for expert, place in zip(panel.experts, places, strict=True):
            me = session.get(Participation, expert.participation_id)
            assert me is not None
            given = burden.asked_givens(session, me, round_)
            entries = []
            for round_item in round_.items[:place]:
                typed = item_fields(specs[round_item.item_id], rng)
                payloads = {
                    question.key: payload
                    for question in round_item.item.questions_in(round_.number)
                    if (payload := posted_payload(typed, question, given.get(question.id)))
                    is not None
                }
                entries.append(answers.ItemEntry(round_item.item, payloads))
            result = answers.save_items(
                session, me, round_, entries, now=utcnow(), drafts=True, given=given
            )
            if result.errors or any(r.drafts for r in result.results.values()):
                raise RuntimeError(f"preparing: not every answer was valid: {result.errors}")
            session.commit()
            saved += len(entries)
        release_session()
    return saved


async def _expert_session(
    client: Client,
    expert: ExpertHandle,
    items: list[ItemSpec],
    place: int,
    result: Realistic,
    rng: random.Random,
    deadline: float,
    think: tuple[float, float],
    ramp: float,
) -> None:
    """One expert: the overview, then item by item the page and a save (with think time), the
    overview now and then, the submit after the last item, then revisions."""
    await asyncio.sleep(rng.uniform(0, ramp))  # experts do not all arrive at once
    await _get(client, expert, OVERVIEW, result.overviews)
    position = place
    page_open = False
    submitted = False
    while True:
        await asyncio.sleep(rng.uniform(*think))
        if time.monotonic() >= deadline:
            return
        if position >= len(items) and not submitted:
            await _submit(client, expert, result.submits)
            submitted = True
            continue
        if rng.random() < 0.1:
            await _get(client, expert, OVERVIEW, result.overviews)
            continue
        # in order until the last item, then revising items at random
        item = items[position] if position < len(items) else rng.choice(items)
        if not page_open:
            await _get(client, expert, item_path(item.key), result.pages)
            page_open = True
            continue
        await _save(client, expert, item, item_fields(item, rng), result.saves)
        page_open = False
        position += 1


async def realistic(
    base_url: str,
    panel: Panel,
    places: list[int],
    *,
    seconds: float,
    think: tuple[float, float],
    ramp: float,
    seed: int,
) -> Realistic:
    """Phase (a): every expert of the panel, arriving over `ramp` seconds, for `seconds`."""
    result = Realistic(seconds)
    client = Client(base_url)
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(
            _expert_session(
                client,
                expert,
                panel.items,
                place,
                result,
                random.Random(seed + i),
                deadline,
                think,
                ramp,
            )
            for i, (expert, place) in enumerate(zip(panel.experts, places, strict=True))
        )
    )
    await client.close()
    result.transport_errors = client.transport_errors
    return result


@dataclass
class Level:
    """Throughput and latencies at one concurrency."""

    concurrency: int
    seconds: float
    series: Series

    @property
    def throughput(self) -> float:
        """Acknowledged saves per second."""
        return (len(self.series.latencies) - self.series.errors) / self.seconds


async def _flat_out(
    base_url: str,
    concurrency: int,
    seconds: float,
    send: object,
    name: str,
) -> Level:
    """`concurrency` loops sending saves back to back for `seconds`."""
    client = Client(base_url)
    series = Series(name)
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    async def loop(index: int) -> None:
        rng = random.Random(index)
        while time.monotonic() < deadline:
            outcome = await send(client, index, rng)  # type: ignore[operator]
            series.add(outcome, outcome.status == 200)

    await asyncio.gather(*(loop(i) for i in range(concurrency)))
    elapsed = time.monotonic() - started
    await client.close()
    for message, count in client.transport_errors.most_common(2):
        print(f"    {name} connection failures: {count} x {message}")
    return Level(concurrency, elapsed, series)


def _platform_save(panel: Panel) -> object:
    """A sender of autosaves: loop i saves as expert i (one expert's saves never overlap)."""
    items = panel.items

    async def send(client: Client, index: int, rng: random.Random) -> object:
        expert = panel.experts[index % len(panel.experts)]
        item = rng.choice(items)
        return await client.save_item(
            expert, item.key, item_fields(item, rng), new_key(), retry_for=0
        )

    return send


async def _ceiling_save(client: Client, index: int, rng: random.Random) -> object:
    """A save to the ceiling app."""
    return await client.request(
        "POST",
        "/save",
        None,
        data={"value": str(rng.random())},
        headers={"Idempotency-Key": new_key()},
    )


def capacity(
    base_url: str, send: object, name: str, levels: list[int], seconds: float
) -> list[Level]:
    """Phase (b) for one server: each concurrency level in turn (a short warm-up first)."""
    run_async(_flat_out(base_url, levels[0], 2.0, send, name))
    measured = []
    for concurrency in levels:
        level = run_async(_flat_out(base_url, concurrency, seconds, send, name))
        measured.append(level)
        print(
            f"    {name:<8} concurrency {concurrency:>3}: {level.series.line(level.seconds)}",
            flush=True,
        )
    return measured


async def unloaded(base_url: str, panel: Panel, seed: int) -> Realistic:
    """One expert alone, no think time: what each kind of request costs with no contention."""
    result = Realistic(0.0)
    client = Client(base_url)
    rng = random.Random(seed)
    expert = panel.experts[-1]
    warm_up = Realistic(0.0)  # each worker renders its first pages slower (caches per process)
    for item in panel.items:
        await _get(client, expert, OVERVIEW, warm_up.overviews)
        await _get(client, expert, item_path(item.key), warm_up.pages)
    started = time.monotonic()
    for item in panel.items:
        await _get(client, expert, OVERVIEW, result.overviews)
        await _get(client, expert, item_path(item.key), result.pages)
    for _ in range(40):
        item = rng.choice(panel.items)
        await _save(client, expert, item, item_fields(item, rng), result.saves)
    for item in panel.items:  # every item answered, so that the submit goes through
        await _save(client, expert, item, item_fields(item, rng), result.saves)
    for _ in range(3):
        await _submit(client, expert, result.submits)
    result.seconds = time.monotonic() - started
    await client.close()
    return result


@dataclass
class InProcess:
    """Render times of the round's pages in process: Flask's test client, no HTTP."""

    pages: Series = field(default_factory=lambda: Series("item page (feedback)"))
    overviews: Series = field(default_factory=lambda: Series("overview"))


def in_process(app: Flask, panel: Panel, *, passes: int = 2) -> InProcess:
    """Every item page and the overview, `passes` times each in turn, as the expert of
    phase (0), after one unmeasured pass (templates compiled, this process's caches warm)."""
    result = InProcess()
    expert = panel.experts[-1]
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, expert.cookie)
    for item in panel.items:
        for path in (OVERVIEW, item_path(item.key)):
            assert client.get(path).status_code == 200, path
    for _ in range(passes):
        for item in panel.items:
            for path, series in ((OVERVIEW, result.overviews), (item_path(item.key), result.pages)):
                started = time.perf_counter()
                response = client.get(path)
                latency = time.perf_counter() - started
                series.add(Outcome(response.status_code, latency, 1), response.status_code == 200)
    return result


def _side_by_side(pages: Series, overviews: Series) -> str:
    """The item page's and the overview's p50/p99, next to each other."""
    page_ms = [v * 1000 for v in pages.latencies]
    overview_ms = [v * 1000 for v in overviews.latencies]
    return (
        f"item page p50 {percentile(page_ms, 50):6.1f} ms  p99 {percentile(page_ms, 99):6.1f} ms"
        f" (n={len(page_ms)})  |  overview p50 {percentile(overview_ms, 50):6.1f} ms  "
        f"p99 {percentile(overview_ms, 99):6.1f} ms (n={len(overview_ms)})"
    )


def _phase_0(base_url: str, app: Flask, panel: Panel) -> list[tuple[str, bool]]:
    """Run and print the unloaded costs; return the in-process render targets."""
    print("\n(0) one expert alone, no think time (the cost of each request without contention)")
    result = run_async(unloaded(base_url, panel, seed=7))
    for series in result.series:
        print("   ", series.latency_line())
    print("    over HTTP:  ", _side_by_side(result.pages, result.overviews))
    local = in_process(app, panel)
    print("    in process: ", _side_by_side(local.pages, local.overviews))
    checks = []
    for name, series in (("item page", local.pages), ("overview", local.overviews)):
        p50 = percentile([v * 1000 for v in series.latencies], 50)
        checks.append(
            (
                f"{name} p50 in process {p50:.1f} ms <= {IN_PROCESS_PAGE_P50_TARGET_MS:g} ms",
                p50 <= IN_PROCESS_PAGE_P50_TARGET_MS and series.errors == 0,
            )
        )
    errors = result.errors + local.pages.errors + local.overviews.errors
    checks.append((f"errors in (0) {errors} == 0", errors == 0))
    return checks


def _phase_a(
    base_url: str, panel: Panel, places: list[int], args: argparse.Namespace
) -> list[tuple[str, bool]]:
    """Run and print phase (a); return its target checks."""
    print(
        f"\n(a) realistic use: {len(panel.experts)} experts arriving over the first "
        f"{args.ramp:g} s, think time {args.think[0]:g}-{args.think[1]:g} s, {args.seconds:g} s"
    )
    result = run_async(
        realistic(
            base_url,
            panel,
            places,
            seconds=args.seconds,
            think=tuple(args.think),
            ramp=args.ramp,
            seed=1,
        )
    )
    for series in result.series:
        print("   ", series.line(result.seconds))
    for message, count in result.transport_errors.most_common(3):
        print(f"    connection failures: {count} x {message}")
    save_p99 = percentile([v * 1000 for v in result.saves.latencies], 99)
    checks = [
        (
            f"save p99 {save_p99:.1f} ms <= {SAVE_P99_TARGET_MS:g} ms",
            save_p99 <= SAVE_P99_TARGET_MS,
        )
    ]
    for name, series in (("item page", result.pages), ("overview", result.overviews)):
        p95 = percentile([v * 1000 for v in series.latencies], 95)
        checks.append(
            (f"{name} p95 {p95:.1f} ms <= {PAGE_P95_TARGET_MS:g} ms", p95 <= PAGE_P95_TARGET_MS)
        )
    checks.append((f"errors in (a) {result.errors} == 0", result.errors == 0))
    return checks


def _phase_b(
    base_url: str, ceiling_url: str, panel: Panel, args: argparse.Namespace
) -> list[tuple[str, bool]]:
    """Run and print phase (b) for the platform and the ceiling; return its target checks."""
    print(f"\n(b) capacity: saves with no think time, {args.level_seconds:g} s per level")
    ours = capacity(base_url, _platform_save(panel), "platform", args.levels, args.level_seconds)
    top = capacity(ceiling_url, _ceiling_save, "ceiling", args.levels, args.level_seconds)
    best = max(ours, key=lambda level: level.throughput)
    best_ceiling = max(top, key=lambda level: level.throughput)
    fraction = best.throughput / best_ceiling.throughput if best_ceiling.throughput else 0.0
    print(
        f"    saturation: platform {best.throughput:.0f} saves/s at concurrency "
        f"{best.concurrency}; ceiling {best_ceiling.throughput:.0f} saves/s at "
        f"{best_ceiling.concurrency}; the platform reaches {fraction:.0%} of the ceiling"
    )
    errors = sum(level.series.errors for level in ours)
    return [
        (
            f"capacity {fraction:.0%} of the ceiling ({best.throughput:.0f} saves/s) "
            f">= {CAPACITY_TARGET:.0%}",
            fraction >= CAPACITY_TARGET,
        ),
        (f"errors in (b) {errors} == 0", errors == 0),
    ]


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, measure, print; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--experts", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of phase (a)")
    parser.add_argument(
        "--ramp", type=float, default=10.0, help="seconds over which experts arrive"
    )
    parser.add_argument("--think", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"))
    parser.add_argument("--levels", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--level-seconds", type=float, default=8.0)
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn workers (default: its config)"
    )
    parser.add_argument("--threads", type=int, default=None, help="threads per worker")
    parser.add_argument("--phases", nargs="+", choices=["a", "b", "d"], default=["a", "b", "d"])
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--database",
        default=DATABASE,
        help="the database to create (and drop) on the server, so that runs do not collide",
    )
    args = parser.parse_args(argv)
    if not postgres_available():
        print(f"PostgreSQL does not answer at {server_url()}: the load benchmark needs it.")
        return 1
    started = time.monotonic()
    print(
        f"Machine: {os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, load average before the run "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    url = recreate_database(args.database)
    with timed() as took:
        migrate(url)
    print(
        f"Database {args.database}: created and migrated with `flask db upgrade` in {took[0]:.1f} s"
    )
    app = seeding_app(url)
    with timed() as took:
        panel = seed_panel(app, experts=args.experts, survey="first", with_feedback=True)
    print(
        f"Seeded in {took[0]:.1f} s: the first study, rounds 1-2 answered by the demo panel and "
        f"closed, round 3 open with {len(panel.items)} items; {len(panel.experts)} load experts"
    )
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()
    env = server_environment(url)
    logs = ARTIFACTS
    server = GunicornServer(
        "wsgi:app", env, logs / "load_app.log", workers=args.workers, threads=args.threads
    )
    ceiling = GunicornServer(
        "tests.load.ceiling_app:create_app()",
        env,
        logs / "load_ceiling.log",
        workers=args.workers,
        threads=args.threads,
    )
    failed = False
    checks: list[tuple[str, bool]] = []
    try:
        server.start()
        ceiling.start()
        workers = len(server.worker_pids())
        print(
            f"gunicorn: {workers} workers x {args.threads or 'config'} threads per server "
            f"(gunicorn.conf.py), the platform and the ceiling app on {args.database}"
        )
        checks += _phase_0(server.base_url, app, panel)
        places = starting_places(panel, seed=11)
        if "a" in args.phases or "d" in args.phases:
            with timed() as took:
                saved = earlier_visits(app, panel, places, seed=12)
            print(
                f"\nEarlier visits (unmeasured): {saved} items saved in {took[0]:.1f} s, "
                f"{len(panel.items)} items per expert in the round"
            )
        if "a" in args.phases:
            checks += _phase_a(server.base_url, panel, places, args)
        if "b" in args.phases:
            checks += _phase_b(server.base_url, ceiling.base_url, panel, args)
        if "d" in args.phases:
            from tests.load.instances import phase_d

            checks += phase_d(url, panel, places, args)
        print("\nTargets:")
        for text, ok in checks:
            print(("  PASS  " if ok else "  MISS  ") + text)
        failed = not all(ok for _text, ok in checks)
    finally:
        server.stop()
        ceiling.stop()
        if not args.keep:
            drop_database(args.database)
    print(
        f"\nWhole run {time.monotonic() - started:.0f} s; load average after "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
