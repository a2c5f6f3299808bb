"""Heavy analyses of a closed round computed once and kept, and what one report build reads once.

A report, its spreadsheet and the results pages show the same scenario results (SMIC, maximum
entropy, cross-impact Monte Carlo, bootstrap), trend impact analysis and weighted pooling of the
latest closed snapshot. They take seconds to compute and change only when their inputs do, so
they are kept per snapshot in `stored_analyses`, keyed by what was computed and its arguments
(`kind`), with a fingerprint of everything else they read: the study's settings and record
(report_files.fingerprint, which also covers the report's code) and the analysis code. A kept
result whose fingerprint differs is stale: it is computed again and replaced.

Results are kept pickled and signed with the app's secret key (HMAC-SHA256): a payload whose
signature does not check out is never unpickled, it is computed again. Pickles of an older
code version are never read either, as the code is part of the fingerprint.

`BuildMemo` is the other half: within one build, tidy answers of the same rounds are read from
the database once (app/services/tidy.py asks the memo). It lives in the session's info only
for the build (`build_memo`), so it can never serve one build's answers to another.

These functions flush and never commit.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import logging
import pickle
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from app.models import Base, Round, RoundState, Snapshot, StoredAnalysis, Study, utcnow

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: the session.info key of the memo of the build under way
MEMO_KEY = "report_build_memo"

_ROOT = Path(__file__).resolve().parent.parent.parent
#: the code the kept analyses are computed with: an edit to any makes them stale
_ANALYSIS_SOURCES = ("analysis/**/*.py", "app/services/*.py", "app/definitions/*.py")


@dataclass
class BuildMemo:
    """What one build has read already: tidy answers by the rounds they cover."""

    #: (sorted round ids or None for every round, with the matrices' rows) -> the tidy
    #: answers, as read
    tidy: dict[tuple[tuple[int, ...] | None, bool], pd.DataFrame] = field(default_factory=dict)
    #: tidy reads that went to the database (the rest came from here)
    tidy_reads: int = 0


@contextmanager
def build_memo(session: Session) -> Iterator[BuildMemo]:
    """A memo for the build under way in this session (the one already open, when nested)."""
    existing = session.info.get(MEMO_KEY)
    if isinstance(existing, BuildMemo):
        yield existing
        return
    memo = BuildMemo()
    session.info[MEMO_KEY] = memo
    try:
        yield memo
    finally:
        session.info.pop(MEMO_KEY, None)


def current_memo(session: Session) -> BuildMemo | None:
    """The memo of the build under way in this session, if any."""
    found = session.info.get(MEMO_KEY)
    return found if isinstance(found, BuildMemo) else None


@dataclass
class AnalysisStore:
    """Where a build finds kept analyses, and whether it keeps what it had to compute.

    secret: the key payloads are signed with (the app's SECRET_KEY). keep: write results that
    were missing or stale (jobs and the CLI do; a page view only reads).
    """

    secret: bytes
    keep: bool = True
    #: kinds read from the store in this build, and kinds computed (for logs and tests)
    reused: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    #: results computed in this build, to be written by `write_kept` once the build is done
    #: (a write in the middle would hold the database's write lock through the whole build)
    pending: list[StoredAnalysis] = field(default_factory=list)
    #: the study's fingerprint, taken once per build
    _fingerprints: dict[int, str] = field(default_factory=dict, repr=False)

    def fingerprint(self, session: Session, study: Study, kind: str) -> str:
        """sha256 of the kind, the study's inputs besides its snapshots, and the code."""
        from app.services import report_files

        if study.id not in self._fingerprints:
            self._fingerprints[study.id] = report_files.fingerprint(session, study)
        text = f"{kind}\n{self._fingerprints[study.id]}\n{analysis_code_version()}"
        return hashlib.sha256(text.encode()).hexdigest()

    def sign(self, payload: bytes) -> str:
        """HMAC-SHA256 of a payload under the secret."""
        return hmac.new(self.secret, payload, hashlib.sha256).hexdigest()


@functools.cache
def analysis_code_version() -> str:
    """A hash of the analysis code and the services that call it (once a process)."""
    digest = hashlib.sha256()
    for pattern in _ANALYSIS_SOURCES:
        for path in sorted(_ROOT.glob(pattern)):
            if path.is_file():
                digest.update(path.relative_to(_ROOT).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


class _NoOrmPickler(pickle.Pickler):
    """A pickler that refuses database objects: a kept result must stand alone."""

    def reducer_override(self, obj: Any) -> Any:
        """Refuse mapped instances; everything else as usual."""
        if isinstance(obj, Base):
            raise pickle.PicklingError(f"a kept analysis may not hold {type(obj).__name__}")
        return NotImplemented


def _dumps(value: Any) -> bytes:
    """A result as bytes (PicklingError when it holds a database object)."""
    buffer = io.BytesIO()
    _NoOrmPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def snapshot_up_to(session: Session, study: Study, up_to: int | None) -> Snapshot | None:
    """The snapshot of the latest closed round up to `up_to` (default: all): what an analysis
    up to that round reads last."""
    query = (
        select(Snapshot)
        # the analyses need its id only: its JSON is large and decoding it cost more than
        # reading a kept analysis
        .options(defer(Snapshot.data))
        .join(Round, Snapshot.round_id == Round.id)
        .where(Round.study_id == study.id, Round.state == RoundState.CLOSED)
        .order_by(Round.number.desc())
        .limit(1)
    )
    if up_to is not None:
        query = query.where(Round.number <= up_to)
    return session.scalar(query)


def kept(
    session: Session,
    study: Study,
    store: AnalysisStore | None,
    kind: str,
    up_to: int | None,
    compute: Callable[[], T],
) -> T:
    """The analysis `kind` of the study up to round `up_to`: kept if fresh, else computed (and
    kept, when the store keeps). Without a store it is simply computed."""
    if store is None:
        return compute()
    snapshot = snapshot_up_to(session, study, up_to)
    if snapshot is None:
        return compute()
    wanted = store.fingerprint(session, study, kind)
    found = session.scalar(
        select(StoredAnalysis).where(
            StoredAnalysis.snapshot_id == snapshot.id, StoredAnalysis.kind == kind
        )
    )
    if found is not None and found.fingerprint == wanted:
        payload = bytes(found.payload)
        if hmac.compare_digest(found.signature, store.sign(payload)):
            store.reused.append(kind)
            # signed with SECRET_KEY by this app and checked above: only our own pickles load
            value: T = pickle.loads(payload)  # noqa: S301  # nosec B301
            return value
        logger.warning("kept analysis %s of snapshot %s fails its signature", kind, snapshot.id)
    started = time.perf_counter()
    value = compute()
    seconds = time.perf_counter() - started
    store.computed.append(kind)
    if store.keep:
        _pend(study, snapshot, kind, wanted, value, seconds, store, found)
    return value


def _pend(
    study: Study,
    snapshot: Snapshot,
    kind: str,
    fingerprint: str,
    value: Any,
    seconds: float,
    store: AnalysisStore,
    found: StoredAnalysis | None,
) -> None:
    """Make (or update) the row of one analysis to keep, written later by `write_kept`."""
    try:
        payload = _dumps(value)
    except (pickle.PicklingError, TypeError, AttributeError):
        logger.exception("analysis %s cannot be kept; it is computed on every build", kind)
        return
    # a new object, outside the session until written: changing the stale row here would let
    # the next autoflush write it in the middle of the build
    store.pending.append(
        StoredAnalysis(
            id=found.id if found is not None else None,
            snapshot_id=snapshot.id,
            study_id=study.id,
            kind=kind,
            fingerprint=fingerprint,
            payload=payload,
            signature=store.sign(payload),
            computed_at=utcnow(),
            compute_seconds=round(seconds, 3),
        )
    )


def write_kept(session: Session, store: AnalysisStore | None) -> int:
    """Write the analyses a build computed (each in its own savepoint: when a concurrent build
    kept the same one first, theirs stays). Returns how many were written."""
    if store is None:
        return 0
    written = 0
    while store.pending:
        row = store.pending.pop(0)
        try:
            with session.begin_nested():
                if row.id is None:
                    session.add(row)
                else:
                    session.merge(row)  # replaces the stale one
            written += 1
        except IntegrityError:  # another build kept it first: theirs is as good
            logger.info("analysis %s was kept by another build meanwhile", row.kind)
    return written


def forget(session: Session, study: Study) -> int:
    """Drop every kept analysis of the study (they are computed again when next asked for)."""
    result = session.execute(delete(StoredAnalysis).where(StoredAnalysis.study_id == study.id))
    return int(getattr(result, "rowcount", 0) or 0)
