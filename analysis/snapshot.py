"""The typed content of a closed round's snapshot: frozen dataclasses over the stored JSON.

`Snapshot.data` stays JSON (format 1, every snapshot stored so far); this module is its one
reader and writer. `SnapshotData.from_dict` reads it, tolerating the keys added since format 1
first shipped ("analysis", "wilcoxon", a stability's "distribution_change" and
"wilcoxon_method") and keeping any key it does not know in `extra`, so `to_dict` gives back
exactly the stored dict. A malformed snapshot raises `SnapshotFormatError` naming the path of
the bad value (e.g. `items.E01.questions.p.parts.2030.n`).

Statistics (`PartSummary.stats`) and stability figures (`Stability.figures`) stay mappings by
name: consensus and stability rules address them by those names, and the set of figures grows
with analysis/ without changing the stored format.

Pure (no application import): models, services, the archive reader, the API and the reports
use it alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: the stored shape's version; a change of shape bumps it and readers then accept both
SNAPSHOT_FORMAT = 1

Figure = float | int | bool | None


class SnapshotFormatError(ValueError):
    """A stored snapshot that does not have the documented shape (the message names where)."""


# ---------------------------------------------------------------------------------------------
# Reading helpers: each checks one value's type and names its path when it is wrong


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    """`value` as a mapping with string keys."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise SnapshotFormatError(f"snapshot {path or '(root)'}: expected an object")
    return value


def _required(data: Mapping[str, Any], key: str, path: str) -> Any:
    """A key the format always has."""
    if key not in data:
        raise SnapshotFormatError(f"snapshot {_join(path, key)}: missing")
    return data[key]


#: a key a stored object does not have (None is a value there)
_ABSENT = object()


def _join(path: str, key: str) -> str:
    """A dotted path."""
    return f"{path}.{key}" if path else key


def _int(value: Any, path: str, *, optional: bool = False) -> int | None:
    """An integer (true and false are not integers here, though Python says so)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SnapshotFormatError(f"snapshot {path}: expected an integer, got {value!r}")
    return int(value)


def _number(value: Any, path: str) -> float | int | None:
    """A number or None (NaN and infinities were stored as None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SnapshotFormatError(f"snapshot {path}: expected a number, got {value!r}")
    number: float | int = value
    return number


def _str(value: Any, path: str, *, optional: bool = False) -> str | None:
    """A string."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise SnapshotFormatError(f"snapshot {path}: expected a string, got {value!r}")
    return value


def _bool(value: Any, path: str, *, optional: bool = False) -> bool | None:
    """A boolean (None allowed where a rule could not be evaluated)."""
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise SnapshotFormatError(f"snapshot {path}: expected true or false, got {value!r}")
    return value


def _strings(value: Any, path: str) -> tuple[str, ...]:
    """A list of strings."""
    if not isinstance(value, list | tuple):
        raise SnapshotFormatError(f"snapshot {path}: expected a list")
    return tuple(str(_str(v, f"{path}[{i}]")) for i, v in enumerate(value))


def _figures(value: Any, path: str) -> dict[str, Figure]:
    """Named figures: numbers, booleans or None."""
    if type(value) is dict and all(
        type(k) is str and (f is None or type(f) is float or type(f) is int or type(f) is bool)
        for k, f in value.items()
    ):
        return dict(value)  # the common case, checked in one pass
    result: dict[str, Figure] = {}
    for key, figure in _mapping(value, path).items():
        if figure is not None and not isinstance(figure, int | float | bool):
            raise SnapshotFormatError(f"snapshot {_join(path, key)}: expected a number")
        result[key] = figure
    return result


def _extra(data: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """Keys this version does not know, kept so that writing back loses nothing."""
    return {k: v for k, v in data.items() if k not in known}


# ---------------------------------------------------------------------------------------------
# The dataclasses, innermost first


@dataclass(frozen=True)
class Bin:
    """One histogram bar: answers in [low, high] (a single point on Likert scales)."""

    low: float | int | None
    high: float | int | None
    label: str
    count: int

    @classmethod
    def from_dict(cls, data: Any, path: str) -> Bin:
        """Read a stored bar."""
        data = _mapping(data, path)
        return cls(
            low=_number(_required(data, "low", path), _join(path, "low")),
            high=_number(_required(data, "high", path), _join(path, "high")),
            label=str(_str(_required(data, "label", path), _join(path, "label"))),
            count=int(_int(_required(data, "count", path), _join(path, "count")) or 0),
        )

    @classmethod
    def read_all(cls, data: Any, path: str) -> tuple[Bin, ...]:
        """Read a stored histogram (a list of bars).

        Snapshots hold tens of thousands of bars, so well-formed ones are read without building
        a path per value; any bar that is not plainly well formed is read again bar by bar,
        whose message names where it is wrong.
        """
        if not isinstance(data, list | tuple):
            raise SnapshotFormatError(f"snapshot {path}: expected a list")
        bars: list[Bin] = []
        append, new = bars.append, object.__new__
        for bar in data:
            if type(bar) is dict and len(bar) == 4:
                low, high = bar.get("low", _ABSENT), bar.get("high", _ABSENT)
                label, count = bar.get("label"), bar.get("count")
                if (
                    type(label) is str
                    and type(count) is int
                    and (low is None or type(low) is int or type(low) is float)
                    and (high is None or type(high) is int or type(high) is float)
                ):
                    # what the frozen dataclass's __init__ sets, without its per-field calls
                    made = new(cls)
                    made.__dict__.update(low=low, high=high, label=label, count=count)
                    append(made)
                    continue
            break
        else:
            return tuple(bars)
        return tuple(cls.from_dict(b, f"{path}[{i}]") for i, b in enumerate(data))

    def to_dict(self) -> dict[str, Any]:
        """The stored bar."""
        return {"low": self.low, "high": self.high, "label": self.label, "count": self.count}


@dataclass(frozen=True)
class Consensus:
    """The study's (or the scale's) consensus rule and whether it was reached; the comparison
    presets' outcomes. None: the rule could not be evaluated."""

    rule: str
    reached: bool | None
    presets: Mapping[str, bool | None] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"rule", "reached", "presets"})

    @classmethod
    def from_dict(cls, data: Any, path: str) -> Consensus:
        """Read a stored consensus."""
        data = _mapping(data, path)
        presets_path = _join(path, "presets")
        presets = {
            name: _bool(value, _join(presets_path, name), optional=True)
            for name, value in _mapping(_required(data, "presets", path), presets_path).items()
        }
        return cls(
            rule=str(_str(_required(data, "rule", path), _join(path, "rule"))),
            reached=_bool(_required(data, "reached", path), _join(path, "reached"), optional=True),
            presets=presets,
            extra=_extra(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored consensus."""
        return {
            "rule": self.rule,
            "reached": self.reached,
            "presets": dict(self.presets),
            **self.extra,
        }


@dataclass(frozen=True)
class Pooled:
    """A probability part's pooled probability, in percent, under each reported method."""

    eps: float
    weights: str
    logodds: float | None
    linear: float | None
    median: float | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"eps", "weights", "logodds", "linear", "median"})

    @classmethod
    def from_dict(cls, data: Any, path: str) -> Pooled:
        """Read stored pooled values."""
        data = _mapping(data, path)
        values = {
            key: _number(_required(data, key, path), _join(path, key))
            for key in ("logodds", "linear", "median")
        }
        eps = _number(_required(data, "eps", path), _join(path, "eps"))
        if eps is None:
            raise SnapshotFormatError(f"snapshot {_join(path, 'eps')}: expected a number")
        return cls(
            eps=float(eps),
            weights=str(_str(_required(data, "weights", path), _join(path, "weights"))),
            logodds=values["logodds"],
            linear=values["linear"],
            median=values["median"],
            extra=_extra(data, cls._KNOWN),
        )

    def method(self, name: str) -> float | None:
        """The pooled value (percent) under a method's name ("logodds", "linear", "median")."""
        return {"logodds": self.logodds, "linear": self.linear, "median": self.median}.get(name)

    def to_dict(self) -> dict[str, Any]:
        """The stored pooled values."""
        return {
            "eps": self.eps,
            "weights": self.weights,
            "logodds": self.logodds,
            "linear": self.linear,
            "median": self.median,
            **self.extra,
        }


@dataclass(frozen=True)
class Stability:
    """How answers moved since the previous round: figures by the names stability rules use
    (n_paired, changed_share, distribution_change, wilcoxon_p, mcnemar_p, ...)."""

    figures: Mapping[str, Figure]
    #: which computation gave wilcoxon_p ("exact", "normal", "none"); None in snapshots stored
    #: before it was recorded
    wilcoxon_method: str | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str) -> Stability:
        """Read stored stability figures."""
        data = _mapping(data, path)
        method = data.get("wilcoxon_method")
        figures = {k: v for k, v in data.items() if k != "wilcoxon_method"}
        return cls(
            figures=_figures(figures, path),
            wilcoxon_method=_str(method, _join(path, "wilcoxon_method"), optional=True),
        )

    def figure(self, name: str) -> Figure:
        """A figure by name, None when absent (e.g. distribution_change in older snapshots)."""
        return self.figures.get(name)

    @property
    def changed_share(self) -> Figure:
        """Share of paired experts who changed their answer."""
        return self.figures.get("changed_share")

    @property
    def distribution_change(self) -> Figure:
        """Share of net change units between the two rounds' distributions."""
        return self.figures.get("distribution_change")

    @property
    def wilcoxon_p(self) -> Figure:
        """The Wilcoxon signed-rank p-value of the paired answers."""
        return self.figures.get("wilcoxon_p")

    @property
    def mcnemar_p(self) -> Figure:
        """McNemar's p-value for the change in agreement."""
        return self.figures.get("mcnemar_p")

    def to_dict(self) -> dict[str, Any]:
        """The stored stability figures."""
        result: dict[str, Any] = dict(self.figures)
        if self.wilcoxon_method is not None:
            result["wilcoxon_method"] = self.wilcoxon_method
        return result


@dataclass(frozen=True)
class Verdict:
    """The stopping verdict stored at close: the only source of truth for a closed round."""

    decision: str
    label: str
    stable: bool | None
    reasons: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"decision", "label", "stable", "reasons"})

    @classmethod
    def from_dict(cls, data: Any, path: str) -> Verdict:
        """Read a stored verdict."""
        data = _mapping(data, path)
        return cls(
            decision=str(_str(_required(data, "decision", path), _join(path, "decision"))),
            label=str(_str(_required(data, "label", path), _join(path, "label"))),
            stable=_bool(_required(data, "stable", path), _join(path, "stable"), optional=True),
            reasons=_strings(_required(data, "reasons", path), _join(path, "reasons")),
            extra=_extra(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored verdict."""
        return {
            "decision": self.decision,
            "label": self.label,
            "stable": self.stable,
            "reasons": list(self.reasons),
            **self.extra,
        }


@dataclass(frozen=True)
class PartSummary:
    """One question part (or one group's share of it): k-suppressed statistics, histogram and,
    where they apply, consensus, pooling, group splits, stability and the stopping verdict.

    A suppressed part has n None and nothing else; the optional blocks are None when absent."""

    n: int | None
    suppressed: bool
    stats: Mapping[str, Figure] | None = None
    histogram: tuple[Bin, ...] | None = None
    consensus: Consensus | None = None
    pooled: Pooled | None = None
    groups: Mapping[str, PartSummary] | None = None
    stability: Stability | None = None
    verdict: Verdict | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {
            "n",
            "suppressed",
            "stats",
            "histogram",
            "consensus",
            "pooled",
            "groups",
            "stability",
            "verdict",
        }
    )

    @classmethod
    def from_dict(cls, data: Any, path: str) -> PartSummary:
        """Read a stored part."""
        data = _mapping(data, path)

        def block(key: str) -> Any:
            return data.get(key)

        histogram = block("histogram")
        groups = block("groups")
        return cls(
            n=_int(_required(data, "n", path), _join(path, "n"), optional=True),
            suppressed=bool(_bool(_required(data, "suppressed", path), _join(path, "suppressed"))),
            stats=None
            if block("stats") is None
            else _figures(block("stats"), _join(path, "stats")),
            histogram=None
            if histogram is None
            else Bin.read_all(histogram, _join(path, "histogram")),
            consensus=None
            if block("consensus") is None
            else Consensus.from_dict(block("consensus"), _join(path, "consensus")),
            pooled=None
            if block("pooled") is None
            else Pooled.from_dict(block("pooled"), _join(path, "pooled")),
            groups=None
            if groups is None
            else {
                name: PartSummary.from_dict(entry, _join(_join(path, "groups"), name))
                for name, entry in _mapping(groups, _join(path, "groups")).items()
            },
            stability=None
            if block("stability") is None
            else Stability.from_dict(block("stability"), _join(path, "stability")),
            verdict=None
            if block("verdict") is None
            else Verdict.from_dict(block("verdict"), _join(path, "verdict")),
            extra=_extra(data, cls._KNOWN),
        )

    @property
    def shown(self) -> bool:
        """Whether the part's figures may be shown (enough answers)."""
        return not self.suppressed

    def stat(self, name: str) -> Figure:
        """A statistic by its rule name ("median", "q1", "iqr", ...); None when absent."""
        return None if self.stats is None else self.stats.get(name)

    def number(self, name: str) -> float | None:
        """A numeric statistic by name as a float; None when absent, not a number or suppressed."""
        value = self.stat(name)
        if self.suppressed or value is None or isinstance(value, bool):
            return None
        return float(value)

    @property
    def median(self) -> float | None:
        """The median, if shown."""
        value = self.stat("median")
        return None if value is None or self.suppressed else float(value)

    @property
    def reached(self) -> bool | None:
        """Whether the consensus rule was reached (None: no rule applies or undecidable)."""
        return None if self.consensus is None else self.consensus.reached

    @property
    def pooled_logodds(self) -> float | None:
        """The log-odds pooled probability in percent, if pooled."""
        return None if self.pooled is None else self.pooled.logodds

    def to_dict(self) -> dict[str, Any]:
        """The stored part."""
        result: dict[str, Any] = {"n": self.n, "suppressed": self.suppressed}
        if self.stats is not None:
            result["stats"] = dict(self.stats)
        if self.histogram is not None:
            result["histogram"] = [b.to_dict() for b in self.histogram]
        if self.consensus is not None:
            result["consensus"] = self.consensus.to_dict()
        if self.pooled is not None:
            result["pooled"] = self.pooled.to_dict()
        if self.groups is not None:
            result["groups"] = {name: g.to_dict() for name, g in self.groups.items()}
        if self.stability is not None:
            result["stability"] = self.stability.to_dict()
        if self.verdict is not None:
            result["verdict"] = self.verdict.to_dict()
        result.update(self.extra)
        return result


#: what a part the snapshot does not have reads as (never shown)
MISSING_PART = PartSummary(n=None, suppressed=True)


@dataclass(frozen=True)
class QuestionSummary:
    """One question of an item: its kind, scale, the k-suppressed count of "outside my
    expertise" answers and its parts by key ("" for single-valued questions)."""

    kind: str
    scale: str | None
    no_answer: int | None
    parts: Mapping[str, PartSummary]
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"kind", "scale", "no_answer", "parts"})

    @classmethod
    def from_dict(cls, data: Any, path: str) -> QuestionSummary:
        """Read a stored question."""
        data = _mapping(data, path)
        parts_path = _join(path, "parts")
        return cls(
            kind=str(_str(_required(data, "kind", path), _join(path, "kind"))),
            scale=_str(_required(data, "scale", path), _join(path, "scale"), optional=True),
            no_answer=_int(
                _required(data, "no_answer", path), _join(path, "no_answer"), optional=True
            ),
            parts={
                key: PartSummary.from_dict(entry, _join(parts_path, key))
                for key, entry in _mapping(_required(data, "parts", path), parts_path).items()
            },
            extra=_extra(data, cls._KNOWN),
        )

    def part(self, key: str) -> PartSummary | None:
        """A part by key, None when the snapshot has no such part."""
        return self.parts.get(key)

    def to_dict(self) -> dict[str, Any]:
        """The stored question."""
        return {
            "kind": self.kind,
            "scale": self.scale,
            "no_answer": self.no_answer,
            "parts": {key: part.to_dict() for key, part in self.parts.items()},
            **self.extra,
        }


@dataclass(frozen=True)
class ItemSummary:
    """One item of the round: its version, k-suppressed respondent count, questions and the
    shuffled free-text reasons (withheld under k_comments respondents)."""

    item_id: int
    kind: str
    version: int
    respondents: int | None
    questions: Mapping[str, QuestionSummary]
    reasons: tuple[str, ...] = ()
    reasons_withheld: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {"item_id", "kind", "version", "respondents", "questions", "reasons", "reasons_withheld"}
    )

    @classmethod
    def from_dict(cls, data: Any, path: str) -> ItemSummary:
        """Read a stored item."""
        data = _mapping(data, path)
        q_path = _join(path, "questions")
        return cls(
            item_id=int(_int(_required(data, "item_id", path), _join(path, "item_id")) or 0),
            kind=str(_str(_required(data, "kind", path), _join(path, "kind"))),
            version=int(_int(_required(data, "version", path), _join(path, "version")) or 0),
            respondents=_int(
                _required(data, "respondents", path), _join(path, "respondents"), optional=True
            ),
            questions={
                key: QuestionSummary.from_dict(entry, _join(q_path, key))
                for key, entry in _mapping(_required(data, "questions", path), q_path).items()
            },
            reasons=_strings(_required(data, "reasons", path), _join(path, "reasons")),
            reasons_withheld=bool(
                _bool(_required(data, "reasons_withheld", path), _join(path, "reasons_withheld"))
            ),
            extra=_extra(data, cls._KNOWN),
        )

    def part(self, question: str, part: str) -> PartSummary | None:
        """A question part, None when the snapshot does not have it."""
        found = self.questions.get(question)
        return None if found is None else found.parts.get(part)

    def shown_part(self, question: str, part: str) -> PartSummary | None:
        """A question part whose figures may be shown; None when absent or suppressed."""
        found = self.part(question, part)
        return None if found is None or found.suppressed else found

    def to_dict(self) -> dict[str, Any]:
        """The stored item."""
        return {
            "item_id": self.item_id,
            "kind": self.kind,
            "version": self.version,
            "respondents": self.respondents,
            "questions": {key: q.to_dict() for key, q in self.questions.items()},
            "reasons": list(self.reasons),
            "reasons_withheld": self.reasons_withheld,
            **self.extra,
        }


@dataclass(frozen=True)
class PoolingOptions:
    """How probability parts were pooled: the methods reported, the clipping eps, the weights."""

    methods: tuple[str, ...]
    eps: float
    weights: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"methods", "eps", "weights"})

    @classmethod
    def from_dict(cls, data: Any, path: str) -> PoolingOptions:
        """Read the stored pooling options."""
        data = _mapping(data, path)
        eps = _number(_required(data, "eps", path), _join(path, "eps"))
        if eps is None:
            raise SnapshotFormatError(f"snapshot {_join(path, 'eps')}: expected a number")
        return cls(
            methods=_strings(_required(data, "methods", path), _join(path, "methods")),
            eps=float(eps),
            weights=str(_str(_required(data, "weights", path), _join(path, "weights"))),
            extra=_extra(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored pooling options."""
        return {
            "methods": list(self.methods),
            "eps": self.eps,
            "weights": self.weights,
            **self.extra,
        }


@dataclass(frozen=True)
class WilcoxonOptions:
    """How the stability figures' Wilcoxon p-values were computed."""

    method: str
    exact_up_to: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"method", "exact_up_to"})

    @classmethod
    def from_dict(cls, data: Any, path: str) -> WilcoxonOptions:
        """Read the stored Wilcoxon options."""
        data = _mapping(data, path)
        return cls(
            method=str(_str(_required(data, "method", path), _join(path, "method"))),
            exact_up_to=int(
                _int(_required(data, "exact_up_to", path), _join(path, "exact_up_to")) or 0
            ),
            extra=_extra(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored Wilcoxon options."""
        return {"method": self.method, "exact_up_to": self.exact_up_to, **self.extra}


@dataclass(frozen=True)
class SnapshotData:
    """The whole snapshot of a closed round: the settings it was computed under and its items."""

    format: int
    round: int
    k: int
    k_comments: int
    quantile_method: str
    consensus_rule: str
    stability_rule: str
    compare_presets: tuple[str, ...]
    pooling: PoolingOptions
    previous_round: int | None
    respondents: int
    items: Mapping[str, ItemSummary]
    #: every analysis setting the round ran with (AnalysisSettings.as_dict()); None in
    #: snapshots stored before the settings were recorded
    analysis: Mapping[str, Any] | None = None
    #: None in snapshots stored before the Wilcoxon options were recorded
    wilcoxon: WilcoxonOptions | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {
            "format",
            "round",
            "k",
            "k_comments",
            "quantile_method",
            "consensus_rule",
            "stability_rule",
            "compare_presets",
            "pooling",
            "analysis",
            "wilcoxon",
            "previous_round",
            "respondents",
            "items",
        }
    )

    @classmethod
    def from_dict(cls, data: Any) -> SnapshotData:
        """Read a stored snapshot (format 1); raises SnapshotFormatError naming a bad value."""
        data = _mapping(data, "")
        version = _int(_required(data, "format", ""), "format")
        if version != SNAPSHOT_FORMAT:
            raise SnapshotFormatError(f"snapshot format: {version} is not a known format")

        def text(key: str) -> str:
            return str(_str(_required(data, key, ""), key))

        def integer(key: str) -> int:
            return int(_int(_required(data, key, ""), key) or 0)

        analysis = data.get("analysis")
        wilcoxon = data.get("wilcoxon")
        return cls(
            format=SNAPSHOT_FORMAT,
            round=integer("round"),
            k=integer("k"),
            k_comments=integer("k_comments"),
            quantile_method=text("quantile_method"),
            consensus_rule=text("consensus_rule"),
            stability_rule=text("stability_rule"),
            compare_presets=_strings(_required(data, "compare_presets", ""), "compare_presets"),
            pooling=PoolingOptions.from_dict(_required(data, "pooling", ""), "pooling"),
            previous_round=_int(
                _required(data, "previous_round", ""), "previous_round", optional=True
            ),
            respondents=integer("respondents"),
            items={
                key: ItemSummary.from_dict(entry, _join("items", key))
                for key, entry in _mapping(_required(data, "items", ""), "items").items()
            },
            analysis=None if analysis is None else dict(_mapping(analysis, "analysis")),
            wilcoxon=None if wilcoxon is None else WilcoxonOptions.from_dict(wilcoxon, "wilcoxon"),
            extra=_extra(data, cls._KNOWN),
        )

    def item(self, key: str) -> ItemSummary | None:
        """An item by key, None when the round did not ask it."""
        return self.items.get(key)

    def to_dict(self) -> dict[str, Any]:
        """Exactly the stored JSON."""
        result: dict[str, Any] = {
            "format": self.format,
            "round": self.round,
            "k": self.k,
            "k_comments": self.k_comments,
            "quantile_method": self.quantile_method,
            "consensus_rule": self.consensus_rule,
            "stability_rule": self.stability_rule,
            "compare_presets": list(self.compare_presets),
            "pooling": self.pooling.to_dict(),
        }
        if self.analysis is not None:
            result["analysis"] = dict(self.analysis)
        if self.wilcoxon is not None:
            result["wilcoxon"] = self.wilcoxon.to_dict()
        result.update(
            {
                "previous_round": self.previous_round,
                "respondents": self.respondents,
                "items": {key: item.to_dict() for key, item in self.items.items()},
            }
        )
        result.update(self.extra)
        return result
