"""Load benchmark (`make load`): gunicorn on PostgreSQL on this machine, driven from the loopback.

(a) Realistic use: 200 simulated experts with think time answer round 3 of the first study,
    whose page shows the panel's feedback on 30 items; each saves items one by one (1-3 s
    apart), reads the round page now and then, and submits once. Reports throughput and
    p50/p95/p99 of saves, round pages and submits. Targets: save p99 <= 150 ms, round page
    p95 <= 150 ms, no errors.
(b) Capacity: saves with no think time at rising concurrency until throughput stops growing;
    target >= 300 saves/s. The ceiling app (tests/load/ceiling_app.py: one route, one INSERT,
    same gunicorn settings, same database) is measured the same way in the same run, and our
    capacity is reported as a fraction of it.

Every phase is bounded in time; the whole run takes about four minutes.
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

from tests.load.harness import (
    ARTIFACTS,
    Client,
    ExpertHandle,
    GunicornServer,
    ItemSpec,
    Panel,
    Series,
    drop_database,
    item_fields,
    migrate,
    new_key,
    percentile,
    postgres_available,
    recreate_database,
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
CAPACITY_TARGET = 300.0


@dataclass
class Realistic:
    """Phase (a): what the simulated experts saw."""

    seconds: float
    saves: Series = field(default_factory=lambda: Series("per-item save"))
    pages: Series = field(default_factory=lambda: Series("round page (feedback)"))
    submits: Series = field(default_factory=lambda: Series("submit (whole round)"))
    transport_errors: Counter[str] = field(default_factory=Counter)

    @property
    def errors(self) -> int:
        """Requests that did not get the expected answer."""
        return self.saves.errors + self.pages.errors + self.submits.errors


async def _expert_session(
    client: Client,
    expert: ExpertHandle,
    items: list[ItemSpec],
    result: Realistic,
    rng: random.Random,
    deadline: float,
    think: tuple[float, float],
    ramp: float,
) -> None:
    """One expert: open the round, save items with think time, re-read now and then, submit."""
    await asyncio.sleep(rng.uniform(0, ramp))  # experts do not all arrive at once
    outcome = await client.request("GET", "/e/round", expert)
    result.pages.add(outcome, outcome.status == 200)
    submit_at = time.monotonic() + rng.uniform(0.6, 0.9) * (deadline - time.monotonic())
    submitted = False
    typed: dict[int, dict[str, str]] = {}
    while True:
        await asyncio.sleep(rng.uniform(*think))
        if time.monotonic() >= deadline:
            return
        if not submitted and time.monotonic() >= submit_at:
            form = {"action": "submit", "idempotency_key": new_key(), "csrf_token": expert.csrf}
            for item in items:
                form.update(typed.get(item.id) or item_fields(item, rng))
            outcome = await client.request("POST", "/e/round", expert, data=form)
            result.submits.add(outcome, outcome.status == 303)
            submitted = True
            continue
        if rng.random() < 0.1:
            outcome = await client.request("GET", "/e/round", expert)
            result.pages.add(outcome, outcome.status == 200)
            continue
        item = rng.choice(items)
        typed[item.id] = item_fields(item, rng)
        outcome = await client.save_item(expert, item.id, typed[item.id], new_key(), retry_for=0)
        result.saves.add(outcome, outcome.status == 200)


async def realistic(
    base_url: str,
    panel: Panel,
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
                client, expert, panel.items, result, random.Random(seed + i), deadline, think, ramp
            )
            for i, expert in enumerate(panel.experts)
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
            expert, item.id, item_fields(item, rng), new_key(), retry_for=0
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
    started = time.monotonic()
    for _ in range(5):
        outcome = await client.request("GET", "/e/round", expert)
        result.pages.add(outcome, outcome.status == 200)
    for _ in range(40):
        item = rng.choice(panel.items)
        outcome = await client.save_item(expert, item.id, item_fields(item, rng), new_key())
        result.saves.add(outcome, outcome.status == 200)
    for _ in range(3):
        form = {"action": "submit", "idempotency_key": new_key(), "csrf_token": expert.csrf}
        for item in panel.items:
            form.update(item_fields(item, rng))
        outcome = await client.request("POST", "/e/round", expert, data=form)
        result.submits.add(outcome, outcome.status == 303)
    result.seconds = time.monotonic() - started
    await client.close()
    return result


def _phase_0(base_url: str, panel: Panel) -> None:
    """Run and print the unloaded costs."""
    print("\n(0) one expert alone, no think time (the cost of each request without contention)")
    result = run_async(unloaded(base_url, panel, seed=7))
    for series in (result.saves, result.pages, result.submits):
        print(
            "   ",
            series.line(result.seconds).split("  ", 1)[0],
            series.line(result.seconds).split("/s", 1)[1],
        )


def _phase_a(base_url: str, panel: Panel, args: argparse.Namespace) -> list[tuple[str, bool]]:
    """Run and print phase (a); return its target checks."""
    print(
        f"\n(a) realistic use: {len(panel.experts)} experts arriving over the first "
        f"{args.ramp:g} s, think time {args.think[0]:g}-{args.think[1]:g} s, {args.seconds:g} s"
    )
    result = run_async(
        realistic(
            base_url,
            panel,
            seconds=args.seconds,
            think=tuple(args.think),
            ramp=args.ramp,
            seed=1,
        )
    )
    for series in (result.saves, result.pages, result.submits):
        print("   ", series.line(result.seconds))
    for message, count in result.transport_errors.most_common(3):
        print(f"    connection failures: {count} x {message}")
    save_p99 = percentile([v * 1000 for v in result.saves.latencies], 99)
    page_p95 = percentile([v * 1000 for v in result.pages.latencies], 95)
    return [
        (
            f"save p99 {save_p99:.1f} ms <= {SAVE_P99_TARGET_MS:g} ms",
            save_p99 <= SAVE_P99_TARGET_MS,
        ),
        (
            f"round page p95 {page_p95:.1f} ms <= {PAGE_P95_TARGET_MS:g} ms",
            page_p95 <= PAGE_P95_TARGET_MS,
        ),
        (f"errors in (a) {result.errors} == 0", result.errors == 0),
    ]


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
            f"capacity {best.throughput:.0f} saves/s >= {CAPACITY_TARGET:g}",
            best.throughput >= CAPACITY_TARGET,
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
    parser.add_argument("--phases", nargs="+", choices=["a", "b"], default=["a", "b"])
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
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
    url = recreate_database(DATABASE)
    with timed() as took:
        migrate(url)
    print(f"Database {DATABASE}: created and migrated with `flask db upgrade` in {took[0]:.1f} s")
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
            f"(gunicorn.conf.py), the platform and the ceiling app on {DATABASE}"
        )
        _phase_0(server.base_url, panel)
        if "a" in args.phases:
            checks += _phase_a(server.base_url, panel, args)
        if "b" in args.phases:
            checks += _phase_b(server.base_url, ceiling.base_url, panel, args)
        print("\nTargets:")
        for text, ok in checks:
            print(("  PASS  " if ok else "  MISS  ") + text)
        failed = not all(ok for _text, ok in checks)
    finally:
        server.stop()
        ceiling.stop()
        if not args.keep:
            drop_database(DATABASE)
    print(
        f"\nWhole run {time.monotonic() - started:.0f} s; load average after "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
