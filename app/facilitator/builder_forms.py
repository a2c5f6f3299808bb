"""Forms of the study builder, and how each becomes a table of the survey file.

The forms check almost nothing themselves: what they hold is written into the draft's document
as typed (numbers as numbers when they read as numbers, lists split at commas), and the survey
file validator judges it, so the builder and an uploaded file meet the same rules and messages.
Texts are edited here in the study's default language; the other languages are edited side by
side on the translations page, and a save here keeps them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from app.definitions import ItemKind, QuestionKind, ScaleKind
from app.definitions.validate import ITEM_KIND_FIELDS, QUESTION_KIND_FIELDS
from app.definitions.vocabulary import CONSENSUS_PRESETS, PAGE_BY, QUANTILE_METHODS
from app.facilitator.forms import MultiCheckboxField
from app.forms import Form
from app.services.builder import within
from app.wording import KIND_TITLES, SCALE_TITLES

_SHORT = [Length(max=200)]
_LONG = [Length(max=20000)]
_SPLIT = re.compile(r"[,\s]+")


# --- reading typed values leniently: the validator reports what does not fit ----------------


def number(raw: str | None) -> Any:
    """An int or float when the text reads as one, the text itself otherwise, None if empty."""
    text = (raw or "").strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        # an infinite or NaN value is kept as typed: the validator names it, and JSON has none
        return text if isinstance(value, float) and not math.isfinite(value) else value
    return text


def numbers(raw: str | None) -> list[Any] | None:
    """A list of numbers written with commas or spaces between them; None if empty."""
    parts = [part for part in _SPLIT.split((raw or "").strip()) if part]
    return [number(part) for part in parts] or None


def words(raw: str | None) -> list[str] | None:
    """A list of words (keys, language codes) written with commas or spaces; None if empty."""
    return [part for part in _SPLIT.split((raw or "").strip()) if part] or None


def pairs(raw: str | None) -> dict[str, str] | None:
    """Lines of `name = value` as a mapping (a line without "=" keeps its text as the name)."""
    found: dict[str, str] = {}
    for line in (raw or "").splitlines():
        if not line.strip():
            continue
        name, _, value = line.partition("=")
        found[name.strip()] = value.strip()
    return found or None


def show_list(value: object) -> str:
    """A list as the form shows it (comma-separated)."""
    return ", ".join(str(v) for v in value) if isinstance(value, list) else _show(value)


def show_pairs(value: object) -> str:
    """A mapping as `name = value` lines."""
    if not isinstance(value, dict):
        return _show(value)
    return "\n".join(f"{name} = {text}" for name, text in value.items())


def _show(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def text_in(value: object, language: str) -> str:
    """The text of a translated field in one language ('' when it has none)."""
    if isinstance(value, dict):
        return str(value.get(language, ""))
    return value if isinstance(value, str) else ""


def set_text(table: dict[str, Any], name: str, value: str | None, language: str) -> None:
    """Set the default language's text of a field, keeping the other languages."""
    old = table.get(name)
    texts = dict(old) if isinstance(old, dict) else {}
    texts.pop(language, None)
    text = (value or "").strip()
    if text:
        texts = {language: text, **texts}
    if texts:
        table[name] = texts
    else:
        table.pop(name, None)


def set_value(table: dict[str, Any], name: str, value: Any) -> None:
    """Set a field, or remove it when the value is None (left empty)."""
    if value is None:
        table.pop(name, None)
    else:
        table[name] = value


def keep_only(table: dict[str, Any], fields: Mapping[str, bool]) -> None:
    """Remove the fields this kind of entry may not have (fields: name -> allowed)."""
    for name, allowed in fields.items():
        if not allowed:
            table.pop(name, None)


# --- the forms ---------------------------------------------------------------------------------


class NewDraftImportForm(Form):
    """Start a draft from a survey file."""

    file = FileField(_l("Survey file (.toml)"))


class SettingsForm(Form):
    """The `[study]` table."""

    key = StringField(_l("Study key"), validators=_SHORT)
    title = StringField(_l("Title"), validators=_SHORT)
    description = TextAreaField(_l("Description"), validators=_LONG)
    source = StringField(_l("Source"), validators=_SHORT)
    horizon = StringField(_l("Horizon (year)"), validators=_SHORT)
    languages = StringField(_l("Languages"), validators=_SHORT)
    default_language = StringField(_l("Default language"), validators=_SHORT)
    anonymity = SelectField(
        _l("Anonymity"),
        choices=[
            SelectChoice("anonymous", _l("anonymous")),
            SelectChoice("confidential", _l("confidential")),
        ],
    )
    k = StringField(_l("Smallest group shown in any aggregate (k)"), validators=_SHORT)
    k_comments = StringField(_l("Smallest group before reasons are shown"), validators=_SHORT)
    round_limit = StringField(_l("Round limit"), validators=_SHORT)
    quantile_method = SelectField(
        _l("Quantile method"), choices=[SelectChoice(m, m) for m in sorted(QUANTILE_METHODS)]
    )
    page_by = SelectField(_l("One page per"), choices=[SelectChoice(p, p) for p in sorted(PAGE_BY)])
    reason_outside_iqr = BooleanField(_l("Ask for a reason outside the previous IQR"))
    suggestions = BooleanField(_l("Experts may suggest new developments in round 1"))
    welcome = TextAreaField(_l("Welcome text"), validators=_LONG)
    consent = TextAreaField(_l("Consent text"), validators=_LONG)

    def load(self, study: Mapping[str, Any]) -> None:
        """Fill the fields from the `[study]` table (GET)."""
        language = str(study.get("default_language", ""))
        for name in ("key", "source", "horizon", "default_language", "k", "k_comments"):
            getattr(self, name).data = _show(study.get(name))
        self.round_limit.data = _show(study.get("round_limit"))
        self.languages.data = show_list(study.get("languages"))
        for name in ("title", "description", "welcome", "consent"):
            getattr(self, name).data = text_in(study.get(name), language)
        self.anonymity.data = str(study.get("anonymity", "anonymous"))
        self.quantile_method.data = str(study.get("quantile_method", "type7"))
        self.page_by.data = str(study.get("page_by", "item"))
        self.reason_outside_iqr.data = study.get("reason_outside_iqr", True) is True
        self.suggestions.data = study.get("suggestions", True) is True

    def table(self, old: Mapping[str, Any]) -> dict[str, Any]:
        """The `[study]` table this form describes (fields it does not show are kept)."""
        study = dict(old)
        languages = words(self.languages.data)
        set_value(study, "languages", languages)
        default = (self.default_language.data or "").strip()
        set_value(study, "default_language", default or None)
        set_value(study, "key", (self.key.data or "").strip() or None)
        for name in ("title", "description", "welcome", "consent"):
            set_text(study, name, getattr(self, name).data, default)
        set_value(study, "source", (self.source.data or "").strip() or None)
        for name in ("horizon", "k", "k_comments", "round_limit"):
            set_value(study, name, number(getattr(self, name).data))
        study["anonymity"] = self.anonymity.data
        study["quantile_method"] = self.quantile_method.data
        study["page_by"] = self.page_by.data
        study["reason_outside_iqr"] = bool(self.reason_outside_iqr.data)
        study["suggestions"] = bool(self.suggestions.data)
        return study


#: titles of the item kinds, in the page's language
ITEM_KIND_TITLES = {
    ItemKind.EVENT: _l("Development"),
    ItemKind.TREND: _l("Trend"),
    ItemKind.CALIBRATION: _l("Calibration"),
    ItemKind.VARIABLE: _l("Structural variable"),
    ItemKind.ACTOR: _l("Actor"),
    ItemKind.DESCRIPTOR: _l("Descriptor"),
}


def _kind_choices(titles: Mapping[Any, Any], kinds: Sequence[Any]) -> list[SelectChoice]:
    """A kind's choices in words, each followed by the word the survey file uses for it."""
    return [
        SelectChoice(
            kind.value,
            LazyString(lambda title=titles[kind], value=kind.value: f"{title} ({value})"),
        )
        for kind in kinds
    ]


class ScaleForm(Form):
    """One `[scales.<key>]` table."""

    key = StringField(_l("Key"), validators=_SHORT)
    kind = SelectField(_l("Kind"), choices=_kind_choices(SCALE_TITLES, list(ScaleKind)))
    min = StringField(_l("Minimum"), validators=_SHORT)
    max = StringField(_l("Maximum"), validators=_SHORT)
    step = StringField(_l("Step"), validators=_SHORT)
    labels = TextAreaField(_l("Labels of points (one per line: point = label)"), validators=_LONG)
    bipolar = BooleanField(_l("Bipolar (centred on zero)"))
    agree_region = StringField(_l("Agreement region (low, high)"), validators=_SHORT)
    agree_within = StringField(_l("Or: agreement within this distance of the median"))
    unit = StringField(_l("Unit"), validators=_SHORT)

    def load(self, key: str, table: Mapping[str, Any], language: str) -> None:
        """Fill the fields from the table (GET)."""
        self.key.data = key
        self.kind.data = str(table.get("kind", "likert"))
        for name in ("min", "max", "step", "agree_within"):
            getattr(self, name).data = _show(table.get(name))
        labels = table.get("labels")
        self.labels.data = (
            "\n".join(f"{p} = {text_in(t, language)}" for p, t in labels.items())
            if isinstance(labels, dict)
            else ""
        )
        self.bipolar.data = table.get("bipolar") is True
        self.agree_region.data = show_list(table.get("agree_region"))
        self.unit.data = text_in(table.get("unit"), language)

    def table(self, old: Mapping[str, Any], language: str) -> dict[str, Any]:
        """The scale's table this form describes."""
        scale = dict(old)
        kind = self.kind.data
        scale["kind"] = kind
        for name in ("min", "max", "step", "agree_within"):
            set_value(scale, name, number(getattr(self, name).data))
        region = numbers(self.agree_region.data)
        set_value(scale, "agree_region", region)
        scale["bipolar"] = bool(self.bipolar.data)
        labels = pairs(self.labels.data)
        old_labels = old.get("labels") if isinstance(old.get("labels"), dict) else {}
        if labels is None:
            scale.pop("labels", None)
        else:
            merged = {}
            for point, text in labels.items():
                kept = old_labels.get(point) if isinstance(old_labels, dict) else None
                holder = {"label": dict(kept) if isinstance(kept, dict) else {}}
                set_text(holder, "label", text, language)
                merged[point] = holder.get("label", {})
            scale["labels"] = merged
        set_text(scale, "unit", self.unit.data, language)
        keep_only(
            scale,
            {
                "labels": kind == ScaleKind.LIKERT.value,
                "bipolar": kind != ScaleKind.PROBABILITY.value,
            },
        )
        return scale


class QuestionForm(Form):
    """One `[questions.<key>]` table."""

    key = StringField(_l("Key"), validators=_SHORT)
    kind = SelectField(_l("Kind"), choices=_kind_choices(KIND_TITLES, list(QuestionKind)))
    prompt = TextAreaField(_l("Prompt"), validators=_LONG)
    help = TextAreaField(_l("Help"), validators=_LONG)
    scale = SelectField(_l("Scale"), choices=[], validate_choice=False)
    required = BooleanField(_l("An answer is required"), default=True)
    allow_no_answer = BooleanField(_l('Offer "no answer / outside my expertise"'), default=True)
    from_round = StringField(_l("Asked from round"), validators=_SHORT)
    horizons = StringField(_l("Horizon years (probability)"), validators=_SHORT)
    quantiles = StringField(_l("Percentiles asked (quantiles), e.g. 5, 50, 95"))
    given = StringField(_l("Conditioning events (conditional)"), validators=_SHORT)
    trend = StringField(_l("Trend item (trend impact)"), validators=_SHORT)
    max_length = StringField(_l("Longest answer in characters (text)"), validators=_SHORT)

    def load(self, key: str, table: Mapping[str, Any], language: str) -> None:
        """Fill the fields from the table (GET)."""
        self.key.data = key
        self.kind.data = str(table.get("kind", "probability"))
        self.prompt.data = text_in(table.get("prompt"), language)
        self.help.data = text_in(table.get("help"), language)
        self.scale.data = str(table.get("scale", ""))
        self.required.data = table.get("required", True) is True
        self.allow_no_answer.data = table.get("allow_no_answer", True) is True
        for name in ("from_round", "trend", "max_length"):
            getattr(self, name).data = _show(table.get(name))
        for name in ("horizons", "quantiles", "given"):
            getattr(self, name).data = show_list(table.get(name))

    def table(self, old: Mapping[str, Any], language: str) -> dict[str, Any]:
        """The question's table this form describes."""
        question = dict(old)
        kind = self.kind.data
        question["kind"] = kind
        set_text(question, "prompt", self.prompt.data, language)
        set_text(question, "help", self.help.data, language)
        set_value(question, "scale", self.scale.data or None)
        question["required"] = bool(self.required.data)
        question["allow_no_answer"] = bool(self.allow_no_answer.data)
        set_value(question, "from_round", number(self.from_round.data))
        set_value(question, "horizons", numbers(self.horizons.data))
        set_value(question, "quantiles", numbers(self.quantiles.data))
        set_value(question, "given", words(self.given.data))
        set_value(question, "trend", (self.trend.data or "").strip() or None)
        set_value(question, "max_length", number(self.max_length.data))
        known = {k.value for k in QuestionKind}
        if kind in known:
            keep_only(
                question,
                {name: QuestionKind(kind) in kinds for name, kinds in QUESTION_KIND_FIELDS.items()},
            )
        return question


class CategoryForm(Form):
    """One `[[categories]]` table."""

    key = StringField(_l("Key"), validators=_SHORT)
    label = StringField(_l("Label"), validators=_SHORT)

    def load(self, key: str, table: Mapping[str, Any], language: str) -> None:
        """Fill the fields from the table (GET)."""
        self.key.data = key
        self.label.data = text_in(table.get("label"), language)

    def table(self, old: Mapping[str, Any], language: str) -> dict[str, Any]:
        """The category's table this form describes."""
        category = dict(old)
        set_text(category, "label", self.label.data, language)
        return category


class ItemForm(Form):
    """One `[[items]]` table: a development (event), trend or calibration question."""

    key = StringField(_l("Key"), validators=_SHORT)
    kind = SelectField(_l("Kind"), choices=_kind_choices(ITEM_KIND_TITLES, list(ItemKind)))
    category = SelectField(_l("Category"), choices=[], validate_choice=False)
    title = StringField(_l("Title"), validators=_SHORT)
    text = TextAreaField(_l("Text"), validators=_LONG)
    questions = MultiCheckboxField(_l("Questions asked"), choices=[])
    source = StringField(_l("Source"), validators=_SHORT)
    true_value = StringField(_l("True value (calibration)"), validators=_SHORT)
    unit = StringField(_l("Unit (trend)"), validators=_SHORT)
    baseline = TextAreaField(_l("Baseline (trend; one per line: year = value)"))
    relative_impacts = BooleanField(_l("Impacts are relative (trend)"), default=True)
    resolves_by = StringField(_l("Resolves by (YYYY-MM-DD)"), validators=_SHORT)
    resolution_source = StringField(_l("Where the outcome will be read"), validators=_SHORT)

    def load(self, key: str, table: Mapping[str, Any], language: str) -> None:
        """Fill the fields from the table (GET)."""
        self.key.data = key
        self.kind.data = str(table.get("kind", "event"))
        self.category.data = str(table.get("category", ""))
        self.title.data = text_in(table.get("title"), language)
        self.text.data = text_in(table.get("text"), language)
        asked = table.get("questions")
        self.questions.data = [str(q) for q in asked] if isinstance(asked, list) else []
        for name in ("source", "true_value", "resolves_by", "resolution_source"):
            getattr(self, name).data = _show(table.get(name))
        self.unit.data = text_in(table.get("unit"), language)
        self.baseline.data = show_pairs(table.get("baseline"))
        self.relative_impacts.data = table.get("relative_impacts", True) is True

    def table(self, old: Mapping[str, Any], language: str) -> dict[str, Any]:
        """The item's table this form describes."""
        item = dict(old)
        kind = self.kind.data
        item["kind"] = kind
        set_value(item, "category", self.category.data or None)
        set_text(item, "title", self.title.data, language)
        set_text(item, "text", self.text.data, language)
        item["questions"] = list(self.questions.data or [])
        item["source"] = (self.source.data or "").strip()
        set_value(item, "true_value", number(self.true_value.data))
        set_text(item, "unit", self.unit.data, language)
        baseline = pairs(self.baseline.data)
        set_value(
            item, "baseline", {y: number(v) for y, v in baseline.items()} if baseline else None
        )
        item["relative_impacts"] = bool(self.relative_impacts.data)
        set_value(item, "resolves_by", (self.resolves_by.data or "").strip() or None)
        item["resolution_source"] = (self.resolution_source.data or "").strip()
        keep_only(item, {name: kind == owner.value for name, owner in ITEM_KIND_FIELDS.items()})
        return item


class ScenarioForm(Form):
    """One `[[scenarios]]` table."""

    key = StringField(_l("Key"), validators=_SHORT)
    title = StringField(_l("Title"), validators=_SHORT)
    description = TextAreaField(_l("Description"), validators=_LONG)
    expression = StringField(_l("Expression (events with and, or, not)"), validators=_LONG)

    def load(self, key: str, table: Mapping[str, Any], language: str) -> None:
        """Fill the fields from the table (GET)."""
        self.key.data = key
        self.title.data = text_in(table.get("title"), language)
        self.description.data = text_in(table.get("description"), language)
        self.expression.data = _show(table.get("expression"))

    def table(self, old: Mapping[str, Any], language: str) -> dict[str, Any]:
        """The scenario's table this form describes."""
        scenario = dict(old)
        set_text(scenario, "title", self.title.data, language)
        set_text(scenario, "description", self.description.data, language)
        scenario["expression"] = (self.expression.data or "").strip()
        return scenario


class RulesForm(Form):
    """The `[rules]` table: the pre-registered consensus and stopping rules."""

    consensus = StringField(_l("Consensus rule"), validators=_LONG)
    stability = StringField(_l("Stability (stopping) rule"), validators=_LONG)
    compare_presets = MultiCheckboxField(
        _l("Rules shown side by side in the report"),
        choices=[SelectChoice(name, name) for name in CONSENSUS_PRESETS],
    )

    def load(self, rules: Mapping[str, Any]) -> None:
        """Fill the fields from the table (GET)."""
        self.consensus.data = _show(rules.get("consensus", "pct_agree >= 0.75 and iqr <= 1"))
        self.stability.data = _show(rules.get("stability", "changed_share < 0.15"))
        presets = rules.get("compare_presets")
        self.compare_presets.data = (
            [str(p) for p in presets]
            if isinstance(presets, list)
            else ["percent_iqr", "grade", "rand_ucla", "cv"]
        )

    def table(self) -> dict[str, Any]:
        """The rules' table this form describes."""
        return {
            "consensus": (self.consensus.data or "").strip(),
            "stability": (self.stability.data or "").strip(),
            "compare_presets": list(self.compare_presets.data or []),
        }


ENTRY_FORMS: dict[str, type[Any]] = {
    "scales": ScaleForm,
    "questions": QuestionForm,
    "categories": CategoryForm,
    "items": ItemForm,
    "scenarios": ScenarioForm,
}


def field_of(label: str, scope: str) -> str:
    """The form field a validator label inside `scope` belongs to ('' for the entry itself)."""
    rest = label[len(scope) :].lstrip(".")
    return re.split(r"[.\[]", rest, maxsplit=1)[0] if rest else ""


def attach(form: Any, problems: Sequence[tuple[str, str]], scopes: Sequence[str]) -> list[str]:
    """Put each problem next to its field; return the messages that belong to no field."""
    loose: list[str] = []
    for label, message in problems:
        scope = next((s for s in scopes if within(label, s)), "")
        name = field_of(label, scope) if scope else ""
        target = getattr(form, name, None) if name else None
        if target is not None and hasattr(target, "errors") and name != "csrf_token":
            target.errors = [*target.errors, message]
        else:
            loose.append(f"{label}: {message}" if label else message)
    return loose
