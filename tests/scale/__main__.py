"""`make scale` (`python -m tests.scale [--sizes 200,1000,5000]`): how close, exports, the
report and the pages grow with the panel.

For each size a PostgreSQL database of its own (SCALE_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/delphi_scale) is created, migrated and seeded with the
first study: N experts who answered rounds 1 and 2 (round 1 closed, round 2 open; see
tests/scale/seed.py). Then each operation runs in a process of its own, whose peak resident
memory is read from its own rusage (os.wait4): the dashboard and the expert's round page
(second request), the close of round 2 (the snapshot), `flask report --format csv|xlsx|json`
and, at the smallest size only (it does not grow with the panel), `--format pdf`. Each
process is bounded in time and address space, so a run that would exhaust the machine fails
alone and says so. The table, with each figure's target beside it, is printed and written to
tests/scale/artifacts/scale.md. With `--keep` the last size's database stays, and its seeded
facts in tests/scale/artifacts/seeded.json, so that one operation can be measured again, e.g.
`SCALE_SEEDED="$(cat tests/scale/artifacts/seeded.json)" python -m tests.scale.child
close-again` (the close, rolled back).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.load.harness import ROOT, migrate

ARTIFACTS = ROOT / "tests" / "scale" / "artifacts"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/delphi_scale"
DEFAULT_SIZES = (200, 1000, 5000)


@dataclass(frozen=True)
class Target:
    """The issue's bound for one operation: seconds and peak MB (None: none set)."""

    seconds: float | None
    megabytes: float | None


#: the targets of issue 18, at 5,000 experts
TARGETS: dict[str, Target] = {
    "close": Target(5.0, 500.0),
    "csv": Target(10.0, 500.0),
    "xlsx": Target(30.0, 500.0),
    "json": Target(15.0, 500.0),
    "pdf": Target(None, None),
    "dashboard": Target(0.060, None),
    "expert": Target(0.060, None),
}
LABELS = {
    "close": "close round 2 (snapshot)",
    "csv": "flask report --format csv",
    "xlsx": "flask report --format xlsx",
    "json": "flask report --format json",
    "pdf": "flask report --format pdf",
    "dashboard": "dashboard (2nd request)",
    "expert": "expert round page (2nd request)",
}


@dataclass(frozen=True)
class Measured:
    """One operation at one size: seconds, peak MB, or why it failed."""

    kind: str
    seconds: float | None
    megabytes: float | None
    failure: str = ""
    #: the process's CPU seconds (user + system) for the same work: on a busy machine the
    #: wall clock also counts the time spent waiting for a core
    cpu: float | None = None


def _admin_engine(url: str):  # type: ignore[no-untyped-def]
    """An autocommit engine on the server's maintenance database."""
    admin = make_url(url).set(drivername="postgresql+psycopg", database="postgres")
    return create_engine(admin, isolation_level="AUTOCOMMIT")


def recreate(url: str) -> None:
    """Drop and create the run's database (its name must be a plain identifier)."""
    name = make_url(url).database or ""
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"unexpected database name {name!r}")
    engine = _admin_engine(url)
    with engine.connect() as connection:
        connection.execute(
            text(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = :n and pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        connection.execute(text(f'drop database if exists "{name}"'))
        connection.execute(text(f'create database "{name}"'))
    engine.dispose()


def database_size(url: str) -> int:
    """The database's size in bytes."""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    with engine.connect() as connection:
        size = connection.execute(text("select pg_database_size(current_database())")).scalar()
    engine.dispose()
    return int(size or 0)


def _limits(memory_mb: int) -> None:
    """In the child: cap its address space, so an export that would exhaust the machine
    fails alone."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_measured(
    command: list[str], env: dict[str, str], *, timeout: float, memory_mb: int
) -> tuple[int, float, float, str, float]:
    """Run a command; its exit status, wall seconds, peak MB, output (stdout + stderr) and
    CPU seconds."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: _limits(memory_mb),
        )
        deadline = started + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                _pid, status, usage = os.wait4(process.pid, 0)
                status = -9
                break
            time.sleep(0.05)
        process.returncode = 0  # reaped by wait4; keep Popen from waiting again
        elapsed = time.perf_counter() - started
        output.seek(0)
        text_out = output.read().decode("utf-8", "replace")
    code = status if status == -9 else os.waitstatus_to_exitcode(status)
    # ru_maxrss is in kilobytes on Linux
    cpu = usage.ru_utime + usage.ru_stime
    return code, elapsed, usage.ru_maxrss / 1024.0, text_out, cpu


def measure(
    kind: str,
    url: str,
    seeded: dict[str, object],
    *,
    timeout: float,
    memory_mb: int,
    workdir: Path,
) -> Measured:
    """One operation in a process of its own."""
    env = dict(os.environ)
    env.update(
        {
            "SCALE_DATABASE_URL": url,
            "SCALE_SEEDED": json.dumps(seeded),
            "DATABASE_URL": url,
            "DELPHI_ENV": "production",
            "SECRET_KEY": "scale-runs-only-" + "x" * 32,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "FLASK_APP": "wsgi",
        }
    )
    env.pop("REDIS_URL", None)
    if kind in ("close", "dashboard", "expert"):
        command = [sys.executable, "-m", "tests.scale.child", kind]
    else:
        flask = str(Path(sys.executable).with_name("flask"))
        out = workdir / f"report.{kind}"
        command = [flask, "report", str(seeded["study_key"]), "--format", kind]
        command += ["--out", str(out), "--rebuild"]
    code, elapsed, megabytes, output, cpu = run_measured(
        command, env, timeout=timeout, memory_mb=memory_mb
    )
    if code != 0:
        why = "timed out" if code == -9 else f"failed ({output.strip().splitlines()[-1:]})"
        return Measured(kind, None, megabytes, why[:160])
    seconds = elapsed
    if kind in ("close", "dashboard", "expert"):
        # the operation alone, timed inside the process (not its start-up)
        reported = json.loads(output.strip().splitlines()[-1])
        seconds, cpu = float(reported["seconds"]), float(reported["cpu"])
    return Measured(kind, seconds, megabytes, cpu=cpu)


def _figure(value: float | None, target: float | None, unit: str) -> str:
    """'12.3 s (<= 5 s, over)'-style cell."""
    if value is None:
        return "-"
    scale = 1000.0 if unit == "ms" else 1.0
    shown = f"{value * scale:,.0f} {unit}" if unit != "s" else f"{value:,.1f} s"
    if target is None:
        return shown
    limit = f"{target * scale:,.0f} {unit}" if unit != "s" else f"{target:g} s"
    verdict = "ok" if value <= target else "OVER"
    return f"{shown} (<= {limit}, {verdict})"


def table(results: dict[int, list[Measured]], facts: dict[int, str]) -> str:
    """The markdown table: one row per operation, one column per size."""
    sizes = sorted(results)
    lines = [
        "| operation | " + " | ".join(f"{n:,} experts" for n in sizes) + " |",
        "| --- |" + " --- |" * len(sizes),
        "| answers / database | " + " | ".join(facts[n] for n in sizes) + " |",
    ]
    for kind in LABELS:
        cells = []
        seen = False
        for n in sizes:
            found = next((m for m in results[n] if m.kind == kind), None)
            if found is None:
                cells.append("")
                continue
            seen = True
            target = TARGETS[kind]
            unit = "ms" if kind in ("dashboard", "expert") else "s"
            time_cell = found.failure or _figure(found.seconds, target.seconds, unit)
            memory = _figure(found.megabytes, target.megabytes, "MB")
            cpu = ""
            if found.cpu is not None and not found.failure:
                scale = 1000.0 if unit == "ms" else 1.0
                cpu = f" [cpu {found.cpu * scale:,.{0 if unit == 'ms' else 1}f} {unit}]"
            cells.append(f"{time_cell}{cpu} / {memory}")
        if seen:
            lines.append(f"| {LABELS[kind]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Seed and measure each size; print and write the table."""
    parser = argparse.ArgumentParser(prog="python -m tests.scale", description=__doc__)
    parser.add_argument(
        "--sizes",
        default=os.environ.get("SIZES") or ",".join(map(str, DEFAULT_SIZES)),
        help="panel sizes, comma-separated (default 200,1000,5000)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per operation")
    parser.add_argument(
        "--memory-mb", type=int, default=6144, help="address-space cap per operation (MB)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the last size's database")
    parser.add_argument(
        "--operations",
        default=",".join(LABELS),
        help="which to measure, comma-separated (default all: " + ",".join(LABELS) + ")",
    )
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in str(args.sizes).split(",") if s.strip()})
    url = os.environ.get("SCALE_DATABASE_URL", DEFAULT_URL)
    began = time.perf_counter()
    results: dict[int, list[Measured]] = {}
    facts: dict[int, str] = {}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        for index, size in enumerate(sizes):
            print(f"== {size:,} experts: seeding ==", flush=True)
            recreate(url)
            migrate(url)
            env = dict(os.environ, SCALE_DATABASE_URL=url)
            code, seconds, _mb, output, _cpu = run_measured(
                [sys.executable, "-m", "tests.scale.seed", str(size)],
                env,
                timeout=args.timeout * 3,
                memory_mb=args.memory_mb,
            )
            if code != 0:
                print(output[-2000:], file=sys.stderr)
                raise SystemExit(f"seeding {size} experts failed")
            seeded = json.loads(output.strip().splitlines()[-1])
            # what a kept seed's measurements need again (`python -m tests.scale.child`)
            (ARTIFACTS / "seeded.json").write_text(json.dumps(seeded), encoding="utf-8")
            size_mb = database_size(url) / 1e6
            facts[size] = f"{seeded['answers']:,} / {size_mb:,.0f} MB"
            print(f"   seeded in {seconds:.0f} s: {facts[size]}", flush=True)
            wanted = set(str(args.operations).split(","))
            kinds = [
                k
                for k in ("dashboard", "expert", "close", "csv", "xlsx", "json", "pdf")
                if k in wanted and (k != "pdf" or index == 0)
            ]
            results[size] = []
            for kind in kinds:
                found = measure(
                    kind,
                    url,
                    seeded,
                    timeout=args.timeout,
                    memory_mb=args.memory_mb,
                    workdir=Path(workdir),
                )
                results[size].append(found)
                shown = found.failure or f"{found.seconds:.3f} s (cpu {found.cpu or 0:.3f} s)"
                print(f"   {LABELS[kind]}: {shown}, {found.megabytes or 0:,.0f} MB", flush=True)
    if not args.keep:
        engine = _admin_engine(url)
        with engine.connect() as connection:
            name = make_url(url).database
            connection.execute(text(f'drop database if exists "{name}"'))
        engine.dispose()
    took = time.perf_counter() - began
    report = (
        "# make scale\n\n"
        "The first study (35 items), every expert answering rounds 1 and 2, on PostgreSQL. "
        "Each cell: time [the process's CPU time] / peak resident memory of the process, with "
        "the target of issue 18 (set at 5,000 experts) beside it. On a shared machine the "
        "wall clock counts waiting for a core too; the CPU time does not.\n\n"
        f"{table(results, facts)}\n\nTook {took / 60:.1f} minutes.\n"
    )
    print("\n" + report)
    (ARTIFACTS / "scale.md").write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
