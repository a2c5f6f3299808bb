"""The settings of every analysis a study runs: one typed record with documented defaults.

A study's survey file may set any of them in its `[analysis]` table; the rest keep the defaults
below. The record is stored in each round's snapshot and printed in the report's methods, so a
reader can rerun every number. Each field's metadata carries what the survey file check and
`from_mapping` enforce (a range or a list of choices) and the one line the documentation shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from analysis.errors import InputError


def _setting(
    default: Any,
    doc: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A settings field: its default, what it means, and what values it accepts."""
    return field(
        default=default, metadata={"doc": doc, "low": low, "high": high, "choices": choices}
    )


@dataclass(frozen=True)
class AnalysisSettings:
    """How a study's numbers are computed beyond the consensus and stability rules."""

    seed: int = _setting(
        20240101, "seed of every random procedure (bootstrap, Monte Carlo)", low=0, high=2**32 - 1
    )
    cross_impact_plays: int = _setting(
        50_000,
        "cross-impact Monte Carlo plays (a frequency's error is at most 0.5 / sqrt(plays))",
        low=100,
        high=1_000_000,
    )
    tia_runs: int = _setting(10_000, "trend impact Monte Carlo runs", low=100, high=1_000_000)
    smic_max_events: int = _setting(
        12,
        "SMIC lists all 2^n scenarios: beyond this many events only the key events enter it",
        low=2,
        high=16,
    )
    independence_blend: float = _setting(
        0.01,
        "share of independence mixed into the coherent pairwise probabilities before the "
        "maximum-entropy fit, so that no scenario has probability exactly 0",
        low=0.0,
        high=0.5,
    )
    pooling_eps: float = _setting(
        1e-3,
        "probabilities are clipped to [eps, 1 - eps] before log-odds pooling",
        low=1e-9,
        high=0.1,
    )
    bootstrap_resamples: int = _setting(
        1000,
        "resamples of the panel's experts for the bootstrap intervals (0 turns them off)",
        low=0,
        high=100_000,
    )
    cooke_min_seeds: int = _setting(
        8,
        "Cooke's classical model: with fewer realised calibration items than this, performance "
        "weights carry a warning (Cooke advises at least 8, better 10)",
        low=1,
        high=100,
    )
    cooke_alpha: str = _setting(
        "optimised",
        "Cooke's significance level: optimised (the threshold giving the best decision maker, "
        "as Cooke does) or fixed (cooke_fixed_alpha)",
        choices=("optimised", "fixed"),
    )
    cooke_fixed_alpha: float = _setting(
        0.05,
        "the significance level when cooke_alpha is fixed: experts calibrated below it get "
        "weight 0",
        low=0.0,
        high=1.0,
    )
    log_score_eps: float = _setting(
        1e-3,
        "forecasts are clipped to [eps, 1 - eps] in the log score, so a certain forecast that "
        "proves wrong costs -ln(eps) instead of infinity",
        low=1e-9,
        high=0.1,
    )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> AnalysisSettings:
        """Settings from a mapping of names to values; a wrong name or value raises InputError."""
        if not data:
            return cls()
        known = {spec.name for spec in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(
                f"analysis setting {unknown[0]!r} is not known; the settings are "
                + ", ".join(sorted(known))
            )
        values: dict[str, Any] = {}
        for name, value in data.items():
            problem = cls.problem(name, value)
            if problem is not None:
                raise InputError(f"analysis setting {name!r}: {problem}")
            values[name] = float(value) if cls.kind(name) is float else value
        return cls(**values)

    @classmethod
    def kind(cls, name: str) -> type:
        """The Python type of a setting (int, float or str)."""
        default = _spec(cls, name).default
        return type(default) if default is not MISSING else str

    @classmethod
    def problem(cls, name: str, value: Any) -> str | None:
        """What is wrong with `value` for the setting `name`, or None when it is acceptable."""
        spec = _spec(cls, name)
        meta = spec.metadata
        kind = cls.kind(name)
        if kind is str:
            if not isinstance(value, str) or value not in meta["choices"]:
                return f"must be one of {', '.join(meta['choices'])}; got {value!r}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number; got {value!r}"
        if kind is int and not isinstance(value, int):
            return f"must be a whole number; got {value!r}"
        if not math.isfinite(value):
            return f"must be a finite number; got {value!r}"
        low, high = meta["low"], meta["high"]
        if (low is not None and value < low) or (high is not None and value > high):
            return f"must be between {low:g} and {high:g}; got {value:g}"
        return None

    @classmethod
    def documentation(cls) -> list[tuple[str, Any, str]]:
        """(name, default, meaning) of every setting, in declaration order."""
        return [(spec.name, spec.default, spec.metadata["doc"]) for spec in fields(cls)]

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values."""
        return asdict(self)

    def changed(self) -> dict[str, Any]:
        """Only the settings that differ from their defaults."""
        default = AnalysisSettings()
        return {
            name: value for name, value in self.as_dict().items() if value != getattr(default, name)
        }


def _spec(cls: type[AnalysisSettings], name: str) -> Any:
    """The dataclass field called `name` (KeyError when there is none)."""
    for spec in fields(cls):
        if spec.name == name:
            return spec
    raise KeyError(name)
