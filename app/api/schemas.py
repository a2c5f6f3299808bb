"""Request and response bodies of the API (marshmallow), which also make the OpenAPI document.

Response schemas reject unknown fields in the document (`additionalProperties: false`), so a
field added to a response without being declared here fails the schema tests.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate


def _texts(description: str) -> fields.Dict:
    """A language -> text mapping, documented."""
    return fields.Dict(
        keys=fields.String(), values=fields.String(), metadata={"description": description}
    )


def _number(description: str = "") -> fields.Float:
    """A number that may be absent (null): suppressed or undefined."""
    return fields.Float(
        allow_none=True, metadata={"description": description} if description else {}
    )


# ---------------------------------------------------------------------------------------------
# Errors


class DefinitionProblemSchema(Schema):
    """One problem of a survey file."""

    file = fields.String(required=True)
    line = fields.Integer(allow_none=True, required=True)
    field = fields.String(
        required=True, metadata={"description": "Dotted path, e.g. items[3].kind"}
    )
    message = fields.String(required=True)


class ProblemSchema(Schema):
    """RFC 9457 problem details (more members may appear)."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(metadata={"description": "Always about:blank"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "Field (dotted path) -> messages, for invalid input"},
    )
    problems = fields.List(
        fields.Nested(DefinitionProblemSchema),
        metadata={"description": "Every problem of a rejected survey file"},
    )
    payload = fields.Raw(metadata={"description": "What was sent and not saved, echoed back"})


# ---------------------------------------------------------------------------------------------
# Studies


class ItemSummarySchema(Schema):
    """An item of a study, in its current wording."""

    id = fields.Integer(required=True)
    key = fields.String(required=True)
    kind = fields.String(
        required=True, metadata={"description": "development | trend | calibration"}
    )
    status = fields.String(required=True, metadata={"description": "active | retired | merged"})
    category = fields.String(allow_none=True, required=True)
    version = fields.Integer(required=True)
    title = _texts("Language -> title")


class ScenarioSchema(Schema):
    """A named scenario: a Boolean expression over event keys."""

    key = fields.String(required=True)
    title = _texts("Language -> title")
    expression = fields.String(required=True)


class StudySchema(Schema):
    """A study as listed."""

    id = fields.Integer(required=True)
    key = fields.String(required=True)
    title = _texts("Language -> title")
    description = _texts("Language -> description")
    status = fields.String(required=True, metadata={"description": "draft | running | finished"})
    anonymity = fields.String(required=True, metadata={"description": "anonymous | confidential"})
    languages = fields.List(fields.String(), required=True)
    default_language = fields.String(required=True)
    horizon = fields.Integer(required=True)
    k = fields.Integer(
        required=True, metadata={"description": "Smallest group any aggregate shows"}
    )
    k_comments = fields.Integer(required=True)
    round_limit = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    launched_at = fields.DateTime(allow_none=True, required=True)
    finished_at = fields.DateTime(allow_none=True, required=True)


class StudyDetailSchema(StudySchema):
    """A study with its rules, items and scenarios."""

    consensus_rule = fields.String(required=True)
    stability_rule = fields.String(required=True)
    compare_presets = fields.List(fields.String(), required=True)
    quantile_method = fields.String(required=True)
    conditional_pairs_per_expert = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Conditional pairs asked of each expert; null: every pair"},
    )
    definition_hash = fields.String(required=True)
    items = fields.List(fields.Nested(ItemSummarySchema), required=True)
    scenarios = fields.List(fields.Nested(ScenarioSchema), required=True)


class SurveyUploadSchema(Schema):
    """A survey file sent as a multipart form."""

    file = fields.Raw(
        required=True, metadata={"type": "string", "format": "binary", "description": "TOML"}
    )


# ---------------------------------------------------------------------------------------------
# Panel


class MemberSchema(Schema):
    """A panel member, as facilitators see them (never their answers).

    In an anonymous study the fields that would tell who answered when are null: consented_at,
    links_active, last_entered_at and progress (see the panel's per-group counts instead).
    """

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    group = fields.String(required=True)
    language = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "invited | active | withdrawn"})
    consented_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "null in anonymous studies"}
    )
    invited_at = fields.DateTime(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)
    link_state = fields.String(
        required=True, metadata={"description": "active | revoked | withdrawn | none"}
    )
    links_active = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "null in anonymous studies (it counts reminders)"},
    )
    last_entered_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "null in anonymous studies"}
    )
    progress = fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "In the open round: not started | started | submitted; "
            "null in anonymous studies"
        },
    )


class NewMemberInputSchema(Schema):
    """One expert to add to the panel."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    group = fields.String(load_default="", validate=validate.Length(max=60))
    language = fields.String(
        load_default="",
        validate=validate.Length(max=8),
        metadata={"description": "One of the study's languages; empty for its default"},
    )


class LinkSchema(Schema):
    """A member with a private link just issued: shown this once, stored only hashed."""

    member = fields.Nested(MemberSchema, required=True)
    link = fields.String(required=True, metadata={"description": "The private link to send"})
    token = fields.String(
        required=True, metadata={"description": "The link's token (X-Expert-Token for the API)"}
    )


class CsvImportSchema(Schema):
    """The outcome of a CSV import: added members (with links) and emails already on the panel."""

    added = fields.List(fields.Nested(LinkSchema), required=True)
    skipped = fields.List(fields.String(), required=True)


class CsvUploadSchema(Schema):
    """A CSV file sent as a multipart form (columns name, email, group, language)."""

    file = fields.Raw(
        required=True, metadata={"type": "string", "format": "binary", "description": "CSV"}
    )


class RevokedSchema(Schema):
    """A member whose links were revoked."""

    member = fields.Nested(MemberSchema, required=True)
    revoked_links = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "null in anonymous studies (it counts reminders)"},
    )


# ---------------------------------------------------------------------------------------------
# Rounds


class FunnelRowSchema(Schema):
    """How many reached each stage: invited -> opened -> consented -> started -> submitted."""

    group = fields.String(required=True, metadata={"description": "Empty for the whole panel"})
    merged = fields.Boolean(
        required=True,
        metadata={
            "description": "The groups under k of an anonymous study, counted together "
            "(group is then '(groups under k)')"
        },
    )
    invited = fields.Integer(required=True)
    opened = fields.Integer(required=True)
    consented = fields.Integer(required=True)
    started = fields.Integer(required=True)
    submitted = fields.Integer(required=True)
    response_rate = fields.Integer(required=True, metadata={"description": "Percent submitted"})


class FunnelSchema(Schema):
    """A round's response funnel: the whole panel and each group."""

    total = fields.Nested(FunnelRowSchema, required=True)
    groups = fields.List(fields.Nested(FunnelRowSchema), required=True)


class RoundSchema(Schema):
    """A round with its state and response funnel."""

    number = fields.Integer(required=True)
    state = fields.String(required=True, metadata={"description": "draft | open | closed"})
    created_at = fields.DateTime(required=True)
    opened_at = fields.DateTime(allow_none=True, required=True)
    deadline = fields.DateTime(allow_none=True, required=True)
    closed_at = fields.DateTime(allow_none=True, required=True)
    message = _texts("What changed since the previous round, told to experts")
    items = fields.Integer(required=True, metadata={"description": "Items the round asks"})
    funnel = fields.Nested(FunnelSchema, required=True)
    answer_count = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Answers frozen at close"}
    )


class UtcDateTime(fields.AwareDateTime):
    """A date and time with an offset (UTC when none is given), read as UTC.

    9999-12-31T23:59-14:00 is a valid ISO date that no UTC date can hold; it is refused here
    as out of range, instead of failing when it is stored.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        """Parse, then convert to UTC (ValidationError when the result is out of range)."""
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("The date is out of range.") from None


class RoundCreateSchema(Schema):
    """A new draft round."""

    deadline = UtcDateTime(
        allow_none=True,
        load_default=None,
        default_timezone=UTC,
        metadata={"description": "UTC; must be in the future"},
    )
    message = fields.Dict(
        keys=fields.String(validate=validate.Length(max=8)),
        values=fields.String(validate=validate.Length(max=5000)),
        load_default=dict,
    )


class RoundOpenSchema(Schema):
    """Opening a draft round, optionally with a deadline shown to experts."""

    deadline = UtcDateTime(
        allow_none=True,
        load_default=None,
        default_timezone=UTC,
        metadata={"description": "UTC; must be in the future (else the draft's own deadline)"},
    )


# ---------------------------------------------------------------------------------------------
# Results (read from the frozen snapshot of a closed round)


class BinSchema(Schema):
    """One histogram bar."""

    low = fields.Float(allow_none=True, required=True)
    high = fields.Float(allow_none=True, required=True)
    label = fields.String(required=True)
    count = fields.Integer(required=True)


class ConsensusSchema(Schema):
    """The pre-registered rule's verdict, and the comparison presets'."""

    rule = fields.String(required=True)
    reached = fields.Boolean(allow_none=True, required=True)
    presets = fields.Dict(keys=fields.String(), values=fields.Boolean(allow_none=True))


class PooledSchema(Schema):
    """A pooled probability (percent) under each method."""

    eps = fields.Float(required=True, metadata={"description": "Clipping before log-odds"})
    logodds = _number()
    linear = _number()
    median = _number()


class GroupResultSchema(Schema):
    """One stakeholder group's statistics; suppressed under k answers."""

    group = fields.String(required=True)
    suppressed = fields.Boolean(required=True)
    n = fields.Integer(allow_none=True, required=True)
    stats = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), allow_none=True)
    histogram = fields.List(fields.Nested(BinSchema), allow_none=True)


class PartResultSchema(Schema):
    """Statistics of one number of a question (e.g. one year, one quantile)."""

    part = fields.String(required=True, metadata={"description": "Empty for single values"})
    suppressed = fields.Boolean(required=True, metadata={"description": "Fewer than k answers"})
    n = fields.Integer(allow_none=True, required=True)
    stats = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), allow_none=True)
    histogram = fields.List(fields.Nested(BinSchema), allow_none=True)
    consensus = fields.Nested(ConsensusSchema, allow_none=True)
    pooled = fields.Nested(PooledSchema, allow_none=True)
    stability = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        allow_none=True,
        metadata={
            "description": "Figures by rule name, and wilcoxon_method (exact | normal | none)"
        },
    )
    groups = fields.List(fields.Nested(GroupResultSchema), allow_none=True)


class QuestionResultSchema(Schema):
    """A question's results."""

    key = fields.String(required=True)
    kind = fields.String(required=True)
    scale = fields.String(allow_none=True, required=True)
    no_answer = fields.Integer(
        allow_none=True, required=True, metadata={"description": "'No answer' count; null under k"}
    )
    parts = fields.List(fields.Nested(PartResultSchema), required=True)


class ItemResultSchema(Schema):
    """An item's results in a closed round."""

    key = fields.String(required=True)
    item_id = fields.Integer(required=True)
    version = fields.Integer(required=True)
    respondents = fields.Integer(allow_none=True, required=True)
    questions = fields.List(fields.Nested(QuestionResultSchema), required=True)
    reasons = fields.List(
        fields.String(), required=True, metadata={"description": "Anonymous reasons, shuffled"}
    )
    reasons_withheld = fields.Boolean(required=True)


class RankedEventSchema(Schema):
    """An event's place in a ranking."""

    rank = fields.Integer(required=True)
    key = fields.String(required=True)
    probability = _number("Pooled probability (log-odds pooling), 0-1")
    impact = _number("Median impact on the impact scale")
    expected_impact = _number("probability x (impact - neutral), signed like the impact")
    quadrant = fields.String(
        allow_none=True,
        metadata={"description": "high|low_probability_high|low_impact of the matrix"},
    )
    round = fields.Integer(allow_none=True, metadata={"description": "Round the figures are from"})


class RankingSchema(Schema):
    """Events in order under one ranking, from the closed rounds up to this one."""

    round = fields.Integer(required=True)
    impact_question = fields.String(allow_none=True, required=True)
    rank_by = fields.String(required=True)
    split = fields.String(
        required=True, metadata={"description": "Quadrant thresholds: scale | median"}
    )
    neutral = fields.Float(required=True, metadata={"description": "The impact meaning no effect"})
    probability_threshold = _number("High probability from here (0-1)")
    impact_threshold = _number("High impact from this distance to neutral")
    events = fields.List(fields.Nested(RankedEventSchema), required=True)
    unranked = fields.List(
        fields.String(), required=True, metadata={"description": "Events lacking a figure"}
    )


class RoundResultsSchema(Schema):
    """Everything the frozen snapshot of a closed round holds."""

    round = fields.Integer(required=True)
    closed_at = fields.DateTime(allow_none=True, required=True)
    k = fields.Integer(required=True)
    k_comments = fields.Integer(required=True)
    quantile_method = fields.String(required=True)
    consensus_rule = fields.String(required=True)
    stability_rule = fields.String(required=True)
    previous_round = fields.Integer(allow_none=True, required=True)
    respondents = fields.Integer(required=True)
    answer_count = fields.Integer(required=True)
    items = fields.List(fields.Nested(ItemResultSchema), required=True)
    ranking = fields.Nested(
        RankingSchema, required=True, metadata={"description": "The events ranked (rank_by)"}
    )


class ConsensusRowSchema(Schema):
    """One rated question part's consensus verdicts."""

    item = fields.String(required=True)
    question = fields.String(required=True)
    part = fields.String(required=True)
    n = fields.Integer(allow_none=True, required=True)
    rule = fields.String(allow_none=True, required=True)
    reached = fields.Boolean(allow_none=True, required=True)
    presets = fields.Dict(keys=fields.String(), values=fields.Boolean(allow_none=True))


class StabilityRowSchema(Schema):
    """How one question part's answers moved since the previous round."""

    item = fields.String(required=True)
    question = fields.String(required=True)
    part = fields.String(required=True)
    n_paired = _number("Experts who answered both rounds")
    n_changed = _number()
    changed_share = _number()
    distribution_change = _number("Share of net change units (Scheibe et al. 1975)")
    wilcoxon_statistic = _number()
    wilcoxon_p = _number()
    wilcoxon_method = fields.String(
        allow_none=True,
        metadata={"description": "How wilcoxon_p was computed: exact | normal | none"},
    )
    mcnemar_p = _number()
    delta_iqr = _number()
    delta_cv = _number()


class PooledRowSchema(Schema):
    """One probability's pooled values (percent)."""

    item = fields.String(required=True)
    question = fields.String(required=True)
    part = fields.String(required=True)
    n = fields.Integer(required=True)
    eps = fields.Float(required=True)
    logodds = _number()
    linear = _number()
    median = _number()
    self_rated = fields.Dict(
        keys=fields.String(),
        values=fields.Float(allow_none=True),
        allow_none=True,
        metadata={
            "description": "the same answers pooled with self-rated expertise: method -> "
            "percent; null when the study asks no self-rating (a sensitivity analysis)"
        },
    )
    performance = fields.Dict(
        keys=fields.String(),
        values=fields.Float(allow_none=True),
        allow_none=True,
        metadata={
            "description": "the same answers pooled with Cooke's performance weights: method "
            "-> percent; null when no expert has a positive weight (see `weighting.few_seeds`)"
        },
    )


class PooledWeightingSchema(Schema):
    """How the self-rated and performance columns were weighted, and Cooke's caveats."""

    self_rating_source = fields.String(
        allow_none=True,
        metadata={"description": "participation (study-wide), a question key, or null"},
    )
    seeds = fields.Integer(metadata={"description": "calibration items with a realisation"})
    min_seeds = fields.Integer(metadata={"description": "Cooke's advice: at least this many"})
    few_seeds = fields.Boolean(
        metadata={"description": "true: performance weights rest on fewer seeds than min_seeds"}
    )
    alpha = fields.Float(allow_none=True, metadata={"description": "calibration threshold"})
    alpha_optimised = fields.Boolean()
    notes = fields.List(fields.String())


class ConsensusTableSchema(Schema):
    """Consensus verdicts of a closed round."""

    round = fields.Integer(required=True)
    rule = fields.String(required=True, metadata={"description": "The study's default rule"})
    rows = fields.List(fields.Nested(ConsensusRowSchema), required=True)


class StabilityTableSchema(Schema):
    """Stability between a closed round and the one before."""

    round = fields.Integer(required=True)
    previous_round = fields.Integer(allow_none=True, required=True)
    rule = fields.String(required=True)
    rows = fields.List(fields.Nested(StabilityRowSchema), required=True)


class PooledTableSchema(Schema):
    """Pooled probabilities of a closed round."""

    round = fields.Integer(required=True)
    rows = fields.List(fields.Nested(PooledRowSchema), required=True)
    weighting = fields.Nested(
        PooledWeightingSchema,
        metadata={"description": "the self-rated and performance columns; equal is the headline"},
    )


# ---------------------------------------------------------------------------------------------
# Experts


class ExpertStudySchema(Schema):
    """The study, in the expert's language."""

    title = fields.String(required=True)
    description = fields.String(required=True)
    welcome = fields.String(required=True)
    consent = fields.String(required=True)
    languages = fields.List(fields.String(), required=True)


class ExpertRoundStateSchema(Schema):
    """A round as the expert sees it in the list."""

    number = fields.Integer(required=True)
    state = fields.String(required=True)


class ExpertHomeSchema(Schema):
    """Where the expert stands."""

    study = fields.Nested(ExpertStudySchema, required=True)
    language = fields.String(required=True)
    status = fields.String(required=True)
    consented = fields.Boolean(required=True)
    open_round = fields.Integer(allow_none=True, required=True)
    rounds = fields.List(fields.Nested(ExpertRoundStateSchema), required=True)


class ConsentSchema(Schema):
    """The expert agrees to take part (after reading the consent text)."""

    agree = fields.Boolean(required=True, validate=validate.Equal(True))
    language = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=8))


class ScaleSchema(Schema):
    """A question's scale, labels in the expert's language."""

    key = fields.String(required=True)
    kind = fields.String(
        required=True, metadata={"description": "probability | likert | continuous"}
    )
    min = fields.Float(allow_none=True, required=True)
    max = fields.Float(allow_none=True, required=True)
    step = fields.Float(required=True)
    labels = fields.Dict(
        keys=fields.String(), values=fields.String(), metadata={"description": "Point -> label"}
    )
    unit = fields.String(required=True)


class QuestionSchema(Schema):
    """A question, in the expert's language, with what its answer holds."""

    key = fields.String(required=True)
    kind = fields.String(
        required=True,
        metadata={
            "description": "probability | likert | quantiles | conditional | trend_impact | "
            "text | influence | actor_influence | positions"
        },
    )
    prompt = fields.String(required=True)
    help = fields.String(required=True)
    required = fields.Boolean(required=True)
    allow_no_answer = fields.Boolean(required=True)
    scale = fields.Nested(ScaleSchema, allow_none=True, required=True)
    answer = fields.String(
        required=True,
        metadata={
            "description": "What the answer holds: value (one number), values (by part) or text"
        },
    )
    horizons = fields.List(
        fields.String(), required=True, metadata={"description": "probability: years -> values"}
    )
    quantiles = fields.List(
        fields.String(), required=True, metadata={"description": "quantiles: levels -> values"}
    )
    given = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "conditional: event -> {given, given_not} in values"},
    )
    impact_fields = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "trend_impact: t1, t2, i_max, t3, i_ss in values"},
    )
    max_length = fields.Integer(allow_none=True, required=True)
    columns = fields.List(
        fields.String(),
        required=True,
        metadata={
            "description": "influence, actor_influence, positions: the row's columns (other "
            "variables, other actors or objectives), column -> rating in values"
        },
    )
    ratings = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "influence, actor_influence, positions: the ratings a cell takes"},
    )


class AnswerSchema(Schema):
    """A stored answer (the current revision)."""

    value = fields.Float(allow_none=True, required=True)
    values = fields.Dict(keys=fields.String(), values=fields.Raw(), allow_none=True, required=True)
    text = fields.String(allow_none=True, required=True)
    no_answer = fields.Boolean(required=True)
    revision = fields.Integer(required=True)
    saved_at = fields.DateTime(required=True)


class PartFeedbackSchema(Schema):
    """The panel's previous-round answers to one question part (k-suppressed)."""

    part = fields.String(required=True)
    n = fields.Integer(allow_none=True, required=True, metadata={"description": "Null under k"})
    median = _number()
    q1 = _number()
    q3 = _number()
    histogram = fields.List(fields.Nested(BinSchema), required=True)
    own = _number("Your own previous answer")
    consensus = fields.Boolean(allow_none=True, required=True)
    pooled = _number("Pooled probability (log-odds), percent")


class ItemFeedbackSchema(Schema):
    """Feedback from the previous round for one item."""

    round = fields.Integer(required=True)
    questions = fields.Dict(
        keys=fields.String(), values=fields.List(fields.Nested(PartFeedbackSchema)), required=True
    )
    reasons = fields.List(fields.String(), required=True)
    reasons_withheld = fields.Boolean(required=True)
    own_reason = fields.String(allow_none=True, required=True)


class ExpertItemSchema(Schema):
    """An item of the open round: wording, questions, own answers, feedback."""

    key = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    text = fields.String(required=True)
    version = fields.Integer(required=True)
    change_note = fields.String(allow_none=True, required=True)
    questions = fields.List(fields.Nested(QuestionSchema), required=True)
    answers = fields.Dict(keys=fields.String(), values=fields.Nested(AnswerSchema), required=True)
    feedback = fields.Nested(ItemFeedbackSchema, allow_none=True, required=True)


class ProgressSchema(Schema):
    """The expert's progress in the round."""

    answered = fields.Integer(required=True, metadata={"description": "Items fully answered"})
    total = fields.Integer(required=True)
    submitted_at = fields.DateTime(allow_none=True, required=True)
    submit_count = fields.Integer(required=True)


class ExpertRoundSchema(Schema):
    """The open round, in the expert's language."""

    number = fields.Integer(required=True)
    deadline = fields.DateTime(allow_none=True, required=True)
    message = fields.String(required=True)
    items = fields.List(fields.Nested(ExpertItemSchema), required=True)
    progress = fields.Nested(ProgressSchema, required=True)


class AnswerInputSchema(Schema):
    """One question's answer: `value`, or `values` (by part), or `text`, or `no_answer`."""

    value = fields.Float(allow_none=True, load_default=None, allow_nan=False)
    values = fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)),
        values=fields.Raw(allow_none=True),
        allow_none=True,
        load_default=None,
        metadata={
            "description": "Part -> number; conditional questions: event -> {given, given_not}"
        },
    )
    text = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=20000))
    no_answer = fields.Boolean(load_default=False)


class AnswersByQuestion(fields.Dict):
    """Question key -> answer; errors are reported by question key alone.

    marshmallow nests a mapping's errors under "key"/"value" markers; dropping them gives
    clients the plain path ("answers.probability.value").
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        """Deserialize as a Dict, with the key/value markers removed from errors."""
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as error:
            if not isinstance(error.messages, dict):
                raise
            cleaned: dict[Any, Any] = {}
            for key, nested in error.messages.items():
                if isinstance(nested, dict) and set(nested) <= {"key", "value"}:
                    for marker in ("key", "value"):
                        if marker in nested:
                            cleaned[key] = nested[marker]
                else:
                    cleaned[key] = nested
            raise ValidationError(cleaned) from None


class SaveItemSchema(Schema):
    """One item's answers, by question key; saved all together or not at all."""

    answers = AnswersByQuestion(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.Nested(AnswerInputSchema),
        required=True,
        validate=validate.Length(min=1, max=50),
    )


class SavedItemSchema(Schema):
    """What is stored for the item after a save."""

    item = fields.String(required=True)
    answers = fields.Dict(keys=fields.String(), values=fields.Nested(AnswerSchema), required=True)
    saved_at = fields.DateTime(allow_none=True, required=True)


class IdempotencyHeaderSchema(Schema):
    """The optional Idempotency-Key header of a save."""

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=validate.Length(min=8, max=64),
        metadata={"description": "8-64 characters; the same key and body replay the save"},
    )


class SubmittedSchema(Schema):
    """A submitted round (revisable until it closes)."""

    round = fields.Integer(required=True)
    submitted_at = fields.DateTime(required=True)
    submit_count = fields.Integer(required=True)


# ---------------------------------------------------------------------------------------------
# Scenarios and trend impact analysis (over the final estimates)


class EventEstimateSchema(Schema):
    """One event's pooled probability (0-1) and what the scenario methods made of it."""

    key = fields.String(required=True)
    probability = _number("Pooled (log-odds), 0-1")
    round = fields.Integer(required=True, metadata={"description": "Round the estimate is from"})
    coherent = _number("SMIC's coherent probability (SMIC on the pooled inputs)")
    coherent_experts = _number(
        "The probability under the average of the experts' own SMIC distributions"
    )
    simulated = _number("Share of cross-impact plays in which it occurred")


class RankedScenarioSchema(Schema):
    """A scenario (the events that occur; the others do not) and its probability."""

    rank = fields.Integer(required=True)
    occurring = fields.List(fields.String(), required=True)
    probability = _number()
    lower = _number()
    upper = _number()


class MethodSummarySchema(Schema):
    """One scenario method's most likely scenarios and its settings."""

    method = fields.String(
        required=True,
        metadata={
            "description": "smic (SMIC on the pooled inputs) | smic_experts (SMIC per expert, "
            "the experts' scenario probabilities averaged) | maxent | crossimpact"
        },
    )
    events = fields.List(fields.String(), required=True)
    top = fields.List(fields.Nested(RankedScenarioSchema), required=True)
    facts = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), required=True)


class ScenarioEstimateSchema(Schema):
    """A named scenario's probability under one method."""

    method = fields.String(required=True)
    probability = _number()
    lower = _number()
    upper = _number()
    note = fields.String(required=True)


class NamedScenarioSchema(Schema):
    """A scenario the survey file names, and its estimates."""

    key = fields.String(required=True)
    title = _texts("Language -> title")
    description = _texts("Language -> description")
    expression = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    estimates = fields.List(fields.Nested(ScenarioEstimateSchema), required=True)
    missing_events = fields.List(fields.String(), required=True)


class IntervalSchema(Schema):
    """A statistic on the whole panel and its bootstrap percentile interval (0-1)."""

    estimate = fields.Float(allow_none=True, required=True)
    lower = fields.Float(allow_none=True, required=True)
    upper = fields.Float(allow_none=True, required=True)


class RankRangeSchema(Schema):
    """A scenario's rank on the whole panel and the range of its ranks over the resamples."""

    occurring = fields.List(fields.String(), required=True)
    probability = fields.Nested(IntervalSchema, required=True)
    rank = fields.Integer(required=True)
    rank_lower = fields.Integer(required=True)
    rank_upper = fields.Integer(required=True)


class ScenarioBootstrapSchema(Schema):
    """Bootstrap over experts of the scenario probabilities (fast pairwise log-linear model)."""

    method = fields.String(required=True, metadata={"description": "how the intervals were made"})
    resamples = fields.Integer(required=True)
    seed = fields.Integer(required=True)
    level = fields.Float(required=True, metadata={"description": "e.g. 0.9 for 5-95 %"})
    experts = fields.Integer(required=True)
    note = fields.String(required=True, metadata={"description": "a warning for small panels"})
    scenario_method = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    named = fields.Dict(keys=fields.String(), values=fields.Nested(IntervalSchema), required=True)
    top = fields.List(fields.Nested(RankRangeSchema), required=True)
    pooled = fields.Dict(keys=fields.String(), values=fields.Nested(IntervalSchema), required=True)


class CoherenceViolationSchema(Schema):
    """One check on an expert's answers about the pair (event, given) that fails."""

    kind = fields.String(
        required=True,
        metadata={
            "description": "total_probability | frechet_joint | frechet_joint_not | reciprocity"
        },
    )
    event = fields.String(required=True)
    given = fields.String(required=True)
    size = fields.Float(required=True, metadata={"description": "Percentage points"})


class ExpertCoherenceSchema(Schema):
    """One expert's coherence, by pseudonym (never a name)."""

    expert = fields.String(required=True, metadata={"description": "Pseudonym"})
    checks = fields.Integer(required=True)
    violations = fields.Integer(required=True, metadata={"description": "Checks above tolerance"})
    mean_violation = _number("Mean violation over the checks, percentage points")
    max_violation = _number("Largest violation, percentage points")
    score = _number("1 - mean violation as a probability; 1 is fully coherent")
    details = fields.List(fields.Nested(CoherenceViolationSchema), required=True)
    smic_objective = _number(
        "SMIC's distance from the expert's answers to the nearest coherent set"
    )


class CoherenceSummarySchema(Schema):
    """The panel's coherence: figures over all experts, naming nobody."""

    tolerance = _number("Violations above this many points are counted")
    experts = fields.Integer(required=True)
    checked = fields.Integer(required=True, metadata={"description": "Experts with a check"})
    coherent = fields.Integer(required=True, metadata={"description": "Checked, no violation"})
    mean_score = _number()
    median_score = _number()
    checks = fields.Integer(required=True)
    violations = fields.Integer(required=True)
    mean_violation = _number("Percentage points")
    max_violation = _number("Percentage points")
    per_expert_shown = fields.Boolean(
        required=True,
        metadata={"description": "False in an anonymous study with fewer than k experts"},
    )


class ScenarioResultsSchema(Schema):
    """Scenario probabilities from the final estimates, under every method."""

    round = fields.Integer(required=True)
    seed = fields.Integer(required=True)
    events = fields.List(fields.Nested(EventEstimateSchema), required=True)
    key_events = fields.List(fields.String(), required=True)
    independent_pairs = fields.List(
        fields.List(fields.String()),
        required=True,
        metadata={
            "description": "[i, j] pairs filled in as independent (unasked_pairs = independent)"
        },
    )
    unasked_pairs = fields.List(
        fields.List(fields.String()),
        required=True,
        metadata={"description": "[i, j]: nobody was asked P(i | j) (unknown unless declared)"},
    )
    settings = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "scenario_pooling (inputs | experts | both), unasked_pairs"},
    )
    coherence = fields.Nested(CoherenceSummarySchema, required=True)
    coherence_experts = fields.List(
        fields.Nested(ExpertCoherenceSchema),
        required=True,
        metadata={"description": "Per pseudonym; empty in an anonymous study under k experts"},
    )
    methods = fields.List(fields.Nested(MethodSummarySchema), required=True)
    named = fields.List(fields.Nested(NamedScenarioSchema), required=True)
    notes = fields.List(fields.String(), required=True)
    bootstrap = fields.Nested(ScenarioBootstrapSchema, allow_none=True, required=True)
    pooled_intervals = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.Nested(IntervalSchema)),
        required=True,
        metadata={
            "description": "event key -> pooling method -> bootstrap interval of its pooled "
            "probability (0-1)"
        },
    )


class TiaEventSchema(Schema):
    """An event in a trend's impact analysis (medians of the panel's impact profile)."""

    key = fields.String(required=True)
    probabilities = fields.List(
        fields.List(fields.Float(allow_none=True)),
        required=True,
        metadata={"description": "[year, P(occurred by then)] pairs"},
    )
    t1 = fields.Float(required=True)
    t2 = fields.Float(required=True)
    t3 = fields.Float(required=True)
    i_max = fields.Float(required=True)
    i_ss = fields.Float(required=True)
    contribution = _number("Expected change of the trend by the end year")


class ForecastYearSchema(Schema):
    """The trend in one year: baseline, expected value and the simulated band."""

    year = fields.Integer(required=True)
    baseline = _number()
    expected = _number()
    p10 = _number()
    p50 = _number()
    p90 = _number()
    expected_lower = _number(
        "Lower end of the 90 % bootstrap interval of the expected value (experts resampled)"
    )
    expected_upper = _number("Upper end of the same interval")


class TrendImpactSchema(Schema):
    """One trend's impact analysis."""

    key = fields.String(required=True)
    title = _texts("Language -> title")
    unit = _texts("Language -> unit")
    impacts = fields.String(required=True, metadata={"description": "relative | absolute"})
    round = fields.Integer(allow_none=True, required=True)
    baseline = fields.List(fields.List(fields.Float()), required=True)
    start_year = fields.Integer(required=True)
    end_year = fields.Integer(required=True)
    events = fields.List(fields.Nested(TiaEventSchema), required=True)
    forecast = fields.List(fields.Nested(ForecastYearSchema), required=True)
    panel_estimate = _number()
    seed = fields.Integer(required=True)
    runs = fields.Integer(required=True)
    notes = fields.List(fields.String(), required=True)


# ---------------------------------------------------------------------------------------------
# Exports (anonymous: pseudonyms, never names or emails)


class AnswerRowSchema(Schema):
    """One number (or text) of one expert's current answer, identified by pseudonym only."""

    round = fields.Integer(required=True)
    expert = fields.String(required=True, metadata={"description": "Pseudonym"})
    group = fields.String(
        required=True, metadata={"description": "Panel group; blank for groups smaller than k"}
    )
    item = fields.String(required=True)
    item_version = fields.Integer(required=True)
    question = fields.String(required=True)
    part = fields.String(required=True)
    value = fields.Float(allow_none=True, required=True)
    no_answer = fields.Boolean(required=True)
    text = fields.String(allow_none=True, required=True)
    kept = fields.Boolean(
        required=True,
        metadata={"description": "The expert kept their previous round's answer unchanged"},
    )
    synthetic = fields.Boolean(required=True)


class AnswersExportSchema(Schema):
    """The study's current answers as tidy rows."""

    study = fields.String(required=True, metadata={"description": "The study's key"})
    columns = fields.List(fields.String(), required=True)
    rows = fields.List(fields.Nested(AnswerRowSchema), required=True)
