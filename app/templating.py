"""Template helpers: texts in the current language, direction, numbers, dates and charts."""

from __future__ import annotations

import functools
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import jdatetime
from babel.dates import format_date, format_time
from babel.numbers import get_decimal_symbol, get_minus_sign_symbol
from flask import Flask
from flask_babel import get_timezone, get_translations, ngettext
from flask_babel import gettext as _
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from app import numbers
from app.i18n import localise_digits, request_language, text_direction

#: native names of the languages we ship, for the language switch
LANGUAGE_NAMES = {"en": "English", "fa": "فارسی", "ru": "Русский"}

#: units written as a percent sign (the locale decides spacing and the sign itself)
PERCENT_UNITS = frozenset({"%", "٪"})


def current_language() -> str:
    """The language code of this request."""
    return request_language()


def translated(texts: dict[str, str] | None, fallback: str | None = None) -> str:
    """A translated text (dict language -> text) in the current language, else the fallback's."""
    if not texts:
        return ""
    language = current_language()
    return (
        texts.get(language)
        or (texts.get(fallback) if fallback else None)
        or texts.get("en")
        or next(iter(texts.values()), "")
    )


def number(value: Any, digits: int = 1, signed: bool = False) -> str:
    """A number in the locale's form (Persian digits in Persian), at most `digits` decimals.

    `signed` writes a plus sign before positive numbers (bipolar scales: +2)."""
    if value is None:
        return "–"
    return numbers.decimal(float(value), digits, current_language(), signed)


def significant(value: Any, digits: int = 3) -> str:
    """A number to `digits` significant digits ('%.3g') in the locale's digits and signs."""
    if value is None:
        return "–"
    language = current_language()
    text = format(float(value), f".{digits}g")
    if text.startswith("-"):
        text = get_minus_sign_symbol(language, numbering_system="default") + text[1:]
    return localise_digits(text, language)


def measure(value: Any, unit: str = "", digits: int = 1, signed: bool = False) -> str:
    """A number with its unit in the locale's form: '40%' in English, '40 %' in Russian,
    '۴۰٪' in Persian; other units follow after a no-break space."""
    text = number(value, digits, signed)
    if value is None or not unit:
        return text
    if unit.strip() in PERCENT_UNITS:
        before, after = numbers.percent_affixes(current_language())
        return before + text + after
    return f"{text}\xa0{unit}"


def number_range(low: Any, high: Any, unit: str = "", digits: int = 1, signed: bool = False) -> str:
    """'20% to 40%' in the locale's words and digits."""
    return str(
        _(
            "%(low)s to %(high)s",
            low=measure(low, unit, digits, signed),
            high=measure(high, unit, digits, signed),
        )
    )


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes from the database are UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def persian_date(value: datetime) -> str:
    """A date in the Solar Hijri calendar with Persian digits: '۲۳ اسفند ۱۴۰۴'."""
    day = jdatetime.date.fromgregorian(date=value.date())
    month = jdatetime.date.j_months_fa[day.month - 1]
    return localise_digits(f"{day.day} {month} {day.year}", "fa")


def when(value: datetime | None, style: str = "medium") -> str:
    """A moment in the locale's form, in the platform's time zone (UTC unless configured).

    Templates name the time zone where it matters. style "date" gives the date only. Persian
    uses the Solar Hijri calendar, with the Gregorian date in brackets (the facilitators and the
    other experts use it)."""
    if value is None:
        return "–"
    language = current_language()
    zone = get_timezone()
    moment = _as_utc(value).astimezone(zone)
    gregorian = localise_digits(format_date(moment, "long", locale=language), language)
    date = f"{persian_date(moment)} ({gregorian})" if language == "fa" else gregorian
    if style == "date":
        return date
    time = localise_digits(format_time(moment, "HH:mm", locale=language), language)
    return str(_("%(date)s, %(time)s", date=date, time=time))


# ---------------------------------------------------------------- feedback histogram


@dataclass(frozen=True)
class ChartBar:
    """One bar of a histogram: where it is drawn and what it stands for."""

    x: float
    y: float
    width: float
    height: float
    count: int
    label: str  #: the answers it counts, in the locale's words ("20% to 30%", "+2")
    own: bool  #: the expert's own answer falls in it


@dataclass(frozen=True)
class ChartTick:
    """A label under the axis."""

    x: float
    text: str
    anchor: str  #: SVG text-anchor: start, middle or end, in the label's own direction


@dataclass
class HistogramChart:
    """A feedback histogram laid out for SVG, in the reading direction of the page.

    In right-to-left languages the scale runs from right to left, like the answer chips,
    the progress bars and the text around it; the numbers under the axis say which end is
    which, so the direction is never left to colour or guesswork."""

    width: int
    plot_top: float
    plot_bottom: float
    height: int
    bars: list[ChartBar] = field(default_factory=list)
    ticks: list[ChartTick] = field(default_factory=list)
    iqr: tuple[float, float] | None = None  #: x and width of the shaded middle half
    median_x: float | None = None
    own_x: float | None = None  #: where the marker of the expert's own answer points
    low_label: str = ""  #: text for the scale's low end (Likert labels), shown beside the chart
    high_label: str = ""
    point_bins: bool = False
    rtl: bool = False  #: labels are set right to left (their text-anchor is then mirrored)

    @property
    def own_marker(self) -> str:
        """SVG points of the downward triangle above the expert's own answer."""
        if self.own_x is None:
            return ""
        x, top = self.own_x, self.plot_top
        return f"{x - 5:.1f},{top - 9:.1f} {x + 5:.1f},{top - 9:.1f} {x:.1f},{top - 1:.1f}"


def histogram_chart(
    part: Any, scale: Any = None, unit: str = "", direction: str | None = None
) -> HistogramChart | None:
    """Lay out the histogram of one question part's feedback (a PartFeedback) as an SVG chart.

    Geometry only: the counts, quartiles and median come from the frozen snapshot."""
    bins = list(getattr(part, "histogram", None) or [])
    if not bins:
        return None
    rtl = (direction or text_direction(current_language())) == "rtl"
    bipolar = bool(getattr(scale, "bipolar", False))
    width, margin, plot_top, plot_bottom = 320, 14, 14.0, 96.0
    chart = HistogramChart(
        width=width, plot_top=plot_top, plot_bottom=plot_bottom, height=116, rtl=rtl
    )
    lows = [float(b["low"]) for b in bins]
    highs = [float(b["high"]) for b in bins]
    chart.point_bins = all(lo == hi for lo, hi in zip(lows, highs, strict=True))
    half = ((lows[1] - lows[0]) / 2 if len(bins) > 1 else 0.5) if chart.point_bins else 0.0
    low, high = lows[0] - half, highs[-1] + half
    span = (high - low) or 1.0
    plot_width = width - 2 * margin

    def x_of(value: float) -> float:
        share = min(1.0, max(0.0, (value - low) / span))
        return margin + (1 - share if rtl else share) * plot_width

    tallest = max((int(b["count"]) for b in bins), default=0) or 1
    own = getattr(part, "own", None)
    for index, (b, lo, hi) in enumerate(zip(bins, lows, highs, strict=True)):
        count = int(b["count"])
        if chart.point_bins:
            left, right = sorted((x_of(lo - half), x_of(lo + half)))
            is_own = own is not None and abs(float(own) - lo) < 1e-9
            label = number(lo, 2, signed=bipolar)
            label = measure(lo, unit, 2, signed=bipolar) if unit else label
        else:
            left, right = sorted((x_of(lo), x_of(hi)))
            last = index == len(bins) - 1
            is_own = own is not None and lo <= float(own) and (float(own) < hi or last)
            label = number_range(lo, hi, unit)
        bar_height = count / tallest * (plot_bottom - plot_top - 4)
        chart.bars.append(
            ChartBar(
                x=round(left + 1, 1),
                y=round(plot_bottom - bar_height, 1),
                width=round(max(right - left - 2, 1), 1),
                height=round(bar_height, 1),
                count=count,
                label=label,
                own=is_own,
            )
        )
    q1, q3 = getattr(part, "q1", None), getattr(part, "q3", None)
    if q1 is not None and q3 is not None:
        left, right = sorted((x_of(float(q1)), x_of(float(q3))))
        chart.iqr = (round(left, 1), round(max(right - left, 2.0), 1))
    median = getattr(part, "median", None)
    if median is not None:
        chart.median_x = round(x_of(float(median)), 1)
    if own is not None:
        chart.own_x = round(x_of(float(own)), 1)
    chart.ticks = _ticks(chart, lows, highs, unit, bipolar, x_of)
    labels = dict(getattr(scale, "labels", None) or {})
    if chart.point_bins and labels:
        chart.low_label = translated(labels.get(_point_key(lows[0])))
        chart.high_label = translated(labels.get(_point_key(lows[-1])))
    return chart


def _point_key(value: float) -> str:
    """A scale point as the key of its label ("-3", "0.5")."""
    return str(int(value)) if float(value).is_integer() else str(value)


def round_ticks(low: float, high: float, *, whole: bool = False, count: int = 3) -> list[float]:
    """Both ends and round values between them (steps of 1, 2, 2.5 or 5 times a power of ten,
    whole steps for whole-number axes), at most `count` labels in all: never 72.7."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, float(math.ceil(step)))
    inner = []
    value = math.floor(low / step) * step + step
    while value < high - step * 0.25:
        if value - low >= step * 0.25:
            inner.append(round(value, 10))
        value += step
    return [low, *inner[: max(count - 2, 0)], high]


def _ticks(
    chart: HistogramChart,
    lows: list[float],
    highs: list[float],
    unit: str,
    bipolar: bool,
    x_of: Any,
) -> list[ChartTick]:
    """Axis labels: every point of a Likert scale, else both ends and the middle.

    Only a percent sign is written on the axis; longer units are in the numbers above it."""
    unit = unit if unit.strip() in PERCENT_UNITS else ""
    if chart.point_bins:
        return [
            ChartTick(round(x_of(point), 1), measure(point, unit, 2, signed=bipolar), "middle")
            for point in lows
        ]
    low, high = lows[0], highs[-1]
    values = round_ticks(low, high, whole=all(float(v).is_integer() for v in (*lows, *highs)))
    digits = 0 if all(float(v).is_integer() for v in values) else 1
    ticks = []
    for value in values:
        x = round(x_of(value), 1)
        # the end labels are anchored inwards so that they stay inside the chart
        inner = value not in (low, high)
        anchor = "middle" if inner else ("start" if x < chart.width / 2 else "end")
        if chart.rtl and anchor != "middle":
            # right-to-left text starts at its right end
            anchor = "end" if anchor == "start" else "start"
        ticks.append(ChartTick(x, measure(value, unit, digits), anchor))
    return ticks


def chart_description(chart: HistogramChart) -> str:
    """The chart's text alternative: every bar's answers and count, in order from the low end."""
    parts = [
        ngettext(
            "%(answer)s: %(count)s expert",
            "%(answer)s: %(count)s experts",
            bar.count,
            answer=bar.label,
            count=number(bar.count, 0),
        )
        for bar in chart.bars
    ]
    return str(_("Distribution of the panel's answers")) + ": " + "; ".join(parts)


def per_request(function: Callable[..., str]) -> Callable[..., str]:
    """A filter that depends on the request's language.

    Jinja evaluates filters of constants (`'2035'|digits`) once, when it compiles the
    template, unless the filter asks for the context: this one does, so every request gets
    its own language."""

    @pass_context
    @functools.wraps(function)
    def wrapper(_context: Any, *args: Any, **kwargs: Any) -> str:
        return function(*args, **kwargs)

    return wrapper


class RenderedFragments:
    """A bounded, thread-safe cache of rendered template fragments by key.

    For fragments that are a pure function of their key, such as a feedback chart drawn from
    a frozen snapshot (keyed by snapshot, item, question, part, the expert's own answer and
    the language): a round page shows some 200 of them, and most experts share most of them.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Markup] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, key: Hashable, render: Callable[..., Any], *args: Any) -> Markup:
        """The fragment for `key`, rendering it with `render(*args)` the first time."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        # a Jinja macro returns Markup it has escaped itself; it is stored as it is
        fragment = cast(Markup, render(*args))
        with self._lock:
            self._items[key] = fragment
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return fragment


#: a placeholder for a whole number ("%(num)d"), which a number in another script cannot fill
_INTEGER_PLACEHOLDER = re.compile(r"%\((\w+)\)d")


def _in_own_digits(text: str, variables: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A translated text and its variables with numbers in the language's own digits, so that
    `_("Round %(n)s", n=2)` reads «دور ۲» in Persian (languages with Latin digits: unchanged)."""
    language = current_language()
    numeric = {
        key
        for key, value in variables.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    if not numeric or localise_digits("0", language) == "0":
        return text, variables
    separator = get_decimal_symbol(language, numbering_system="default")
    own = dict(variables)
    for key in numeric:
        own[key] = localise_digits(str(variables[key]), language).replace(".", separator)
    plain = _INTEGER_PLACEHOLDER.sub(
        lambda m: f"%({m.group(1)})s" if m.group(1) in numeric else m.group(0), str(text)
    )
    # the same trusted catalog text, one placeholder letter changed
    return (Markup(plain) if isinstance(text, Markup) else plain), own  # noqa: S704  # nosec B704 - catalog text, as in Jinja's gettext


@pass_context
def template_gettext(context: Context, string: str, **variables: Any) -> str:
    """The templates' `_()` and `gettext()`: Jinja's new-style gettext, numbers in the
    language's own digits."""
    text: str = get_translations().ugettext(string)
    if context.eval_ctx.autoescape:
        # as Jinja's own gettext: the catalog's text is trusted, the variables get escaped
        text = Markup(text)  # noqa: S704  # nosec B704 - catalog text, as in Jinja's gettext
    text, variables = _in_own_digits(text, variables)
    return text % variables


@pass_context
def template_ngettext(
    context: Context, singular: str, plural: str, num: int, **variables: Any
) -> str:
    """The templates' `ngettext()`, numbers in the language's own digits."""
    variables.setdefault("num", num)
    text: str = get_translations().ungettext(singular, plural, num)
    if context.eval_ctx.autoescape:
        # as Jinja's own gettext: the catalog's text is trusted, the variables get escaped
        text = Markup(text)  # noqa: S704  # nosec B704 - catalog text, as in Jinja's gettext
    text, variables = _in_own_digits(text, variables)
    return text % variables


#: rendered feedback fragments kept per process (a few kilobytes each)
FRAGMENT_CACHE_SIZE = 4000


def register_template_helpers(app: Flask) -> None:
    """Make the helpers available to every template."""
    # after Flask-Babel's: the same gettext, with numbers written in the language's digits
    app.jinja_env.globals["gettext"] = template_gettext
    app.jinja_env.globals["ngettext"] = template_ngettext
    app.jinja_env.filters["tr"] = per_request(translated)
    app.jinja_env.filters["num"] = per_request(number)
    app.jinja_env.filters["measure"] = per_request(measure)
    app.jinja_env.filters["sig"] = per_request(significant)
    app.jinja_env.filters["digits"] = per_request(localise_digits)
    app.jinja_env.filters["when"] = per_request(when)
    app.jinja_env.globals["current_language"] = current_language
    app.jinja_env.globals["text_direction"] = lambda: text_direction(current_language())
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["number_range"] = number_range
    app.jinja_env.globals["histogram_chart"] = histogram_chart
    app.jinja_env.globals["chart_description"] = chart_description
    app.jinja_env.globals["fragment"] = RenderedFragments(FRAGMENT_CACHE_SIZE)
    # internal names (question keys, rules, round states) in the page's words; imported here
    # because app.wording formats its numbers with this module's filters
    from app import wording

    app.jinja_env.globals["item_question_title"] = wording.item_question_title
    app.jinja_env.globals["item_part_name"] = wording.item_part_name
    app.jinja_env.globals["rule_in_words"] = wording.rule_in_words
    app.jinja_env.globals["round_state"] = wording.round_state
    app.jinja_env.globals["key_title"] = wording.key_title
    app.jinja_env.globals["key_part_name"] = wording.key_part_name
