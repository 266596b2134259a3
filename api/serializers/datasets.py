import msgspec
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.parameters import QueryBooleanField, choice_parameter
from api.serializers.annotation import GoldAnswerOut, answers_field
from labeling.models import Dataset, DatasetVersion, QuestionKind, VersionFileState, week_label
from labeling.rules.dataset_filters import FILTER_KEYS, METADATA_HELP, TEXT_ANY_HELP
from labeling.rules.gold import ASKED_CHANGES
from labeling.rules.ids import is_whole_number, whole_number_up_to
from labeling.rules.moments import stored_utc_moment
from labeling.rules.row_changes import TEXT_LIMIT
from labeling.selectors.datasets import LATEST, build_state
from labeling.services.datasets import REASON_MAX_CHARS, definition_problems
from labeling.services.exports import FORMATS


class BuildStateOut(serializers.Serializer):
    state = serializers.SerializerMethodField(
        help_text="`queued`: asked for, no worker has started it; `building`: a worker is building `version`; "
        "`failed`: the last build failed (`error` says why); `idle`: nothing under way, `latest_version` is the "
        "newest ready version (a build that found nothing changed since the last version makes none).",
    )
    version = serializers.IntegerField(
        source="building_version", allow_null=True, help_text="The number of the version being built."
    )
    requested_at = serializers.DateTimeField(source="build_requested_at", allow_null=True)
    error = serializers.CharField(source="build_error", help_text="Why the last build failed; empty otherwise.")

    @extend_schema_field(serializers.ChoiceField(choices=["idle", "queued", "building", "failed"]))
    def get_state(self, dataset) -> str:
        return build_state(dataset)


class DatasetFiltersOut(serializers.Serializer):
    """The schema of a dataset's `filters` (rules.dataset_filters): only those set are present; every one set must
    hold."""

    tags_any = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Outputs with one of these tags."
    )
    since = serializers.DateTimeField(required=False, help_text="Outputs that occurred at or after this moment.")
    until = serializers.DateTimeField(required=False, help_text="Outputs that occurred before this moment.")
    models = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Outputs of one of these models (as stored)."
    )
    metadata = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False, help_text=METADATA_HELP
    )
    text_any = serializers.ListField(child=serializers.CharField(), required=False, help_text=TEXT_ANY_HELP)


MOMENT_FILTERS = ("since", "until")


@extend_schema_field(DatasetFiltersOut)
class FiltersField(serializers.DictField):
    """The stored filters, documented by DatasetFiltersOut: `since` and `until`, stored with the offset they were
    read at (a moment without one in the project's zone), written in UTC with `Z` as every moment the API hands out
    (rules.moments); the same instants, so the object still posts back as it is."""

    def to_representation(self, value):
        return {name: stored_utc_moment(given) if name in MOMENT_FILTERS else given for name, given in value.items()}


class DatasetOut(serializers.ModelSerializer):
    splits = serializers.DictField(child=serializers.IntegerField(), help_text="Split name → share in percent.")
    latest_version = serializers.IntegerField(allow_null=True, help_text="The newest ready version's number.")
    queues = serializers.SerializerMethodField(help_text="The queues' slugs; empty: every queue.")
    questions = serializers.ListField(child=serializers.CharField(), help_text="Question keys; empty: every one.")
    filters = FiltersField(
        help_text="`tags_any`, `since`, `until`, `models`, `metadata` and `text_any`, those set; POST takes this "
        "object as it is."
    )
    build = BuildStateOut(source="*", help_text="The state of the last build asked for: poll it after a build.")

    class Meta:
        model = Dataset
        fields = [
            "slug", "name", "description", "queues", "questions", "only_resolved", "filters", "splits",
            "auto_rebuild", "latest_version", "build", "created_at",
        ]  # fmt: skip

    def get_queues(self, dataset) -> list[str]:
        return sorted(queue.slug for queue in dataset.queues.all())


class KeyNamingDictField(serializers.DictField):
    """A JSON object whose bad values are reported on the field itself, each problem naming its key (`described`)."""

    def described(self, key: str, problems: str) -> str:
        raise NotImplementedError

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError(
                [self.described(key, " ".join(map(str, _flat(problems)))) for key, problems in exc.detail.items()]
            ) from None


class SplitsField(KeyNamingDictField):
    """Split name → share: a bad share is reported on `splits`, naming the split."""

    child = serializers.IntegerField(min_value=1, max_value=100)

    def described(self, key: str, problems: str) -> str:
        return f"The share of {key!r}: {problems}"


class TextField(serializers.CharField):
    """Text, and only text: DRF's CharField would take 5 or true as "5" or "True"."""

    # Its own key: a subclass's `invalid` (SlugField's) says what is wrong with a string, not that it is none.
    default_error_messages = {"not_text": "Not a valid string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


class SlugTextField(TextField, serializers.SlugField):
    """A slug, given as text: DRF's SlugField, a CharField, read the number 1 as the slug "1"."""


class JSONBooleanField(serializers.BooleanField):
    """A flag of a JSON body: true or false, and only those. DRF's BooleanField, made for forms and query strings,
    reads "false", "no", "off", 0 and 1 as flags, so a quoted "false" built a dataset of every output's item."""

    default_error_messages = {"invalid": "Must be true or false (a JSON boolean, not in quotes)."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class ProjectMomentField(serializers.DateTimeField):
    """An ISO 8601 moment; one without an offset is read in the project's time zone (the serializer's `tzinfo`
    context), as the web form reads it, not in the server's."""

    # DRF's "Datetime has wrong format" was said of `2026-13-01` too, written in the very format it then listed.
    default_error_messages = {
        "invalid": (
            "Not a moment: write an ISO 8601 date and time that exist, e.g. 2026-11-01T00:00:00Z, or 2026-11-01 or "
            "2026-11-01T00:00 for that moment in the project's time zone."
        ),
    }

    def default_timezone(self):
        return self.context.get("tzinfo") or super().default_timezone()


QUEUE_SLUGS_ARE_STRINGS = 'Queue slugs are strings: give each in quotes, e.g. "sample".'
FILTER_NAMES = FILTER_KEYS


def _tags_any_field() -> serializers.ListField:
    return serializers.ListField(
        child=TextField(max_length=200), required=False, max_length=200,
        help_text="Only outputs with one of these tags; empty or absent: any tags.",
    )  # fmt: skip


# The filters' types; their values (blank, too many, too long) are judged with the project's checks, in one place
# (rules.dataset_filters), and named in the same 400.
def _models_field() -> serializers.ListField:
    return serializers.ListField(
        child=TextField(allow_blank=True, trim_whitespace=False), required=False,
        help_text="Only outputs of one of these models (as stored); empty or absent: any model.",
    )  # fmt: skip


class MetadataFilterField(KeyNamingDictField):
    """Metadata key → its values: a bad value is reported on `metadata`, naming the key."""

    child = serializers.ListField(child=TextField(allow_blank=True, trim_whitespace=False), allow_empty=True)

    def described(self, key: str, problems: str) -> str:
        return f"{key!r}: {problems}"


def _flat(detail) -> list:
    if isinstance(detail, dict):
        return [problem for problems in detail.values() for problem in _flat(problems)]
    if isinstance(detail, list):
        return [problem for problems in detail for problem in _flat(problems)]
    return [detail]


def _metadata_field() -> MetadataFilterField:
    return MetadataFilterField(required=False, help_text=METADATA_HELP + ' E.g. {"plan": ["pro"]}.')


def _text_any_field() -> serializers.ListField:
    return serializers.ListField(
        child=TextField(allow_blank=True, trim_whitespace=False), required=False,
        help_text=TEXT_ANY_HELP + ' E.g. ["refund will arrive", "guaranteed by"]; absent: any answer '
        "(no phrase, [], is refused).",
    )  # fmt: skip


class DatasetFiltersIn(serializers.Serializer):
    """Which outputs a dataset takes, as GET shows them under `filters`; each may be given top-level instead."""

    tags_any = _tags_any_field()
    since = ProjectMomentField(required=False, help_text="Outputs that occurred at or after this moment.")
    until = ProjectMomentField(required=False, help_text="Outputs that occurred before this moment.")
    models = _models_field()
    metadata = _metadata_field()
    text_any = _text_any_field()

    def to_internal_value(self, data):
        # Each problem is on its filter (`filters.models`), an unknown one too: `{"tag_any": …}` was ignored.
        if not isinstance(data, dict):
            raise serializers.ValidationError(f"An object of {', '.join(FILTER_NAMES)}, as GET shows it.")
        problems = {name: ["Unknown filter."] for name in sorted(set(data) - set(self.fields))}
        try:
            attrs = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            problems = {**exc.detail, **problems}
        if problems:
            raise serializers.ValidationError(problems)
        return attrs


class DatasetIn(serializers.Serializer):
    """A dataset definition, as the "new dataset" form makes it, or as GET shows one. Unknown fields are refused,
    naming them. The project's own checks (a name taken, an unknown queue or question, split shares) are named in
    the same 400 as the fields of the wrong type: the serializer's `project` context."""

    name = TextField(
        min_length=1, max_length=200,
        help_text="The dataset's slug is made from it (its Latin letters and digits; `dataset-<n>` when it has none).",
    )  # fmt: skip
    description = TextField(max_length=5000, required=False, allow_blank=True, default="")
    queues = serializers.ListField(
        child=SlugTextField(max_length=64, error_messages={"not_text": QUEUE_SLUGS_ARE_STRINGS}),
        required=False, default=list, max_length=200, help_text="Queue slugs; empty or absent: items of every queue.",
    )  # fmt: skip
    questions = serializers.ListField(
        child=TextField(max_length=200), required=False, default=list, max_length=200,
        help_text="Question keys of the rubric (of any of its versions); empty or absent: every question.",
    )  # fmt: skip
    only_resolved = JSONBooleanField(
        required=False, default=True, help_text="Only items with a settled gold answer (ties wait for a lead)."
    )
    tags_any = _tags_any_field()
    since = ProjectMomentField(required=False, help_text="Outputs that occurred at or after this moment.")
    until = ProjectMomentField(required=False, help_text="Outputs that occurred before this moment.")
    models = _models_field()
    metadata = _metadata_field()
    text_any = _text_any_field()
    filters = DatasetFiltersIn(
        required=False,
        help_text="`tags_any`, `since`, `until`, `models`, `metadata` and `text_any` nested, as GET shows them: a "
        "GET's `filters` object posts back as it is (its `slug`, `latest_version`, `build` and `created_at` are not "
        "fields of a POST). Each may be top-level instead; given both ways, the values must agree.",
    )
    splits = SplitsField(
        required=False,
        help_text='Split name → share in percent, adding up to 100; by default {"train": 80, "test": 20}.',
    )  # fmt: skip
    auto_rebuild = JSONBooleanField(required=False, default=True, help_text="Rebuilt when a week closes.")

    def to_internal_value(self, data):
        # Every problem in one 400: unknown fields, fields of the wrong type, and the project's checks of the fields
        # that passed theirs (a misspelt `nmae` alone read "name: required"; a bad queue waited for a second round).
        errors = (
            {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
            if isinstance(data, dict)
            else {}
        )
        try:
            attrs = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict) or not isinstance(data, dict):
                raise
            errors = {**exc.detail, **errors}
            attrs = self._fields_passing(data, errors)
        attrs, conflicts = self._with_filters_unnested(attrs, data)
        errors = {**conflicts, **errors}
        if "until" not in errors and "since" in attrs and "until" in attrs and attrs["until"] <= attrs["since"]:
            errors["until"] = ["Pick a moment after `since`."]
        if errors and "project" in self.context:
            for name, problem in self._project_problems(attrs, errors):
                errors.setdefault(name, []).append(problem)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def _fields_passing(self, data, errors: dict) -> dict:
        """The fields that passed their own checks, validated one by one (DRF drops them all on one error)."""
        passing = {}
        for name, field in self.fields.items():
            if name in errors:
                continue
            try:
                passing[name] = field.run_validation(field.get_value(data))
            except (serializers.ValidationError, serializers.SkipField):
                continue
        return passing

    @staticmethod
    def _with_filters_unnested(attrs: dict, data) -> tuple[dict, dict]:
        """The nested `filters` moved top-level, where the service takes them; a filter given both ways with
        different values is a conflict, named on `filters`."""
        nested = attrs.pop("filters", None) or {}
        given = data if isinstance(data, dict) else {}
        differing = [
            name
            for name in FILTER_NAMES
            if name in nested and name in given and name in attrs and attrs[name] != nested[name]
        ]
        if differing:
            named = ", ".join(f"`{name}`" for name in differing)
            return attrs, {
                "filters": [f"{named} given both in `filters` and top-level, with different values: give one."]
            }
        return {**attrs, **nested}, {}

    def _project_problems(self, attrs: dict, errors: dict) -> list[tuple[str, str]]:
        """The project's checks (services.datasets.definition_problems) of the fields without an error of their
        own. Only when there is an error already: else create_dataset checks them (and tells a form posted twice)."""
        given = {name: attrs.get(name) for name in ("name", "splits", "queues", "questions") if name not in errors}
        filters = {name: attrs[name] for name in ("tags_any", "models", "metadata", "text_any") if name in attrs}
        return definition_problems(project=self.context["project"], **given, filters=filters)

    def spec(self) -> dict:
        """The spec `services.datasets.create_dataset` takes (moments as ISO 8601)."""
        return {
            name: value.isoformat() if name in ("since", "until") else value
            for name, value in self.validated_data.items()
        }


class QuestionAskedOut(serializers.Serializer):
    rubric_version = serializers.IntegerField(help_text="The rubric version that asked the question so.")
    key = serializers.CharField()
    kind = serializers.ChoiceField(choices=QuestionKind.values)
    prompt = serializers.CharField()
    required = serializers.BooleanField()
    help = serializers.CharField(allow_blank=True)
    options = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="A choice's options; null for other kinds."
    )
    scale = serializers.ListField(
        child=serializers.IntegerField(),
        allow_null=True,
        min_length=2,
        max_length=2,
        help_text="A rating's [min, max]; null for other kinds.",
    )


class QuestionHistoryOut(serializers.Serializer):
    key = serializers.CharField()
    changed = serializers.BooleanField(
        help_text="Whether the key changed meaning between the rubric versions the rows answered: its values under "
        "one version do not compare with those under another (filter on `rubric_version` first)."
    )
    what_changed = serializers.ListField(
        child=serializers.ChoiceField(choices=ASKED_CHANGES),
        help_text="What differs between those versions: `kind`, a rating's `scale`, a choice's `options`. Empty when "
        "unchanged (a reworded prompt or help changes no meaning).",
    )
    warning = serializers.CharField(
        allow_null=True, help_text="The warning line of the Hugging Face card for a changed key; null when unchanged."
    )
    asked = QuestionAskedOut(
        many=True,
        help_text="The question as each rubric version of the rows asked it, oldest first (a version that did not ask "
        "it is left out: its rows have no answer to it).",
    )


class StoredFileOut(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=[VersionFileState.READY, VersionFileState.PENDING, VersionFileState.ON_REQUEST],
        help_text="`ready`: the download is served at once; `pending`: a worker is making the file (the download "
        "answers 503 with Retry-After meanwhile); `on_request`: not on disk (a superseded version's file is deleted "
        "after two weeks without a download): the first download asks a worker to make it again.",
    )
    size = serializers.IntegerField(
        allow_null=True, help_text="The file's bytes, once made (a file made again has the same bytes)."
    )
    sha256 = serializers.CharField(allow_null=True, help_text="The SHA-256 of the file's bytes, once made.")
    last_render_error = serializers.CharField(
        help_text='Why the last render of the file failed, in plain words (e.g. "The last try failed (the database '
        'could not be reached); it is being made again."), while no render has made it since; else empty. The '
        "exception itself is in the workers' log."
    )


class VersionOut(serializers.ModelSerializer):
    """A version; the view gives the stored files' states of the versions it serializes as `file_states`, and their
    questions as `questions` (`selectors.datasets.questions_of_versions`): one query each for a page of versions."""

    split_counts = serializers.DictField(child=serializers.IntegerField(), help_text="Rows per split.")
    rubric_versions = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Every rubric version the rows' labels answered, ascending: each row's own (the newest of its "
        "labels) and the older versions its other labels answered.",
    )
    cycle_week_label = serializers.SerializerMethodField(
        help_text="The ISO week label of `cycle_week` (e.g. `2026-W48`), as the metrics and reports name weeks; null "
        "with it."
    )
    files = serializers.SerializerMethodField(
        help_text="The files a worker makes for a ready version (`parquet`, `hf`), by format: whether a download is "
        "served at once. Empty for a version that is not ready. The other formats are streamed at once."
    )
    questions = serializers.SerializerMethodField(
        help_text="Each question the dataset keeps, in the newest rubric's order, as each rubric version its rows "
        "answered (`rubric_versions`) asked it, with a flag for a key that changed meaning between them. Empty for a "
        "version without rows answering a rubric (building, failed)."
    )

    class Meta:
        model = DatasetVersion
        fields = [
            "number", "status", "row_count", "rows_copied", "split_counts", "sha256", "rubric_versions", "cycle_week",
            "cycle_week_label", "created_at", "built_at", "withdrawn_at", "withdrawn_note", "withdrawn_by",
            "withdrawn_by_key", "files", "questions",
        ]  # fmt: skip
        extra_kwargs = {
            "cycle_week": {
                "help_text": "The first day of the cycle week it was built in (`cycle_week_label` is its ISO label)."
            },
            "rows_copied": {
                "help_text": "Rows kept unchanged from the version before (nothing they are made from changed); the "
                "others were built new. 0 for a build from scratch."
            },
        }

    withdrawn_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Who withdrew it: the username of the lead (or of who ran the erasure); null for a key or a command.",
    )
    withdrawn_by_key = serializers.SlugRelatedField(
        slug_field="prefix",
        read_only=True,
        allow_null=True,
        help_text="The prefix of the API key that withdrew it (a CI job's, or a `privacy` key's erasure); else null.",
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_cycle_week_label(self, version) -> str | None:
        return week_label(version.cycle_week) if version.cycle_week else None

    @extend_schema_field(serializers.DictField(child=StoredFileOut()))
    def get_files(self, version) -> dict[str, dict]:
        files = self.context["file_states"].get(version.pk, {})
        return {
            fmt: {"state": file.state, "size": file.size, "sha256": file.sha256, "last_render_error": file.failure}
            for fmt, file in files.items()
        }

    @extend_schema_field(QuestionHistoryOut(many=True))
    def get_questions(self, version) -> list[dict]:
        return [
            {
                "key": history.key,
                "changed": history.changed,
                "what_changed": list(history.what_changed),
                "warning": history.warning(),
                "asked": [{"rubric_version": number, **question} for number, question in history.asked],
            }
            for history in self.context["questions"].get(version.pk, [])
        ]


class WithdrawIn(serializers.Serializer):
    """Why a version is withdrawn. Unknown fields are refused, naming them."""

    reason = TextField(
        max_length=REASON_MAX_CHARS,
        allow_blank=True,  # refused by the service, which says what a reason is for
        help_text="Why (required): the note every later request for the version is answered with (410 Gone).",
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return attrs


class MessageOut(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class AnnotationOut(serializers.Serializer):
    annotator = serializers.CharField(help_text="A pseudonym, stable within the project.")
    rubric_version = serializers.IntegerField()
    answers = answers_field(help_text="Question key → the expert's answer, for the questions the dataset keeps.")


class RowOut(serializers.Serializer):
    """One canonical row. Declared for the schema; the row itself is its stored line, parsed."""

    id = serializers.CharField(help_text="Your external_id of the output.")
    split = serializers.CharField()
    input = MessageOut(many=True)
    output = serializers.CharField()
    expected_output = serializers.CharField(allow_null=True, help_text="The gold correction, if any.")
    gold_status = serializers.ChoiceField(
        choices=["resolved", "needs_adjudication"],
        allow_null=True,
        required=False,
        help_text="`resolved`; `needs_adjudication` (a tie, or a lead sent the item back); null: complete, not "
        "resolved yet. Only a dataset with `only_resolved` false has the last two. Absent from rows stored before it "
        "existed.",
    )
    label = serializers.DictField(child=GoldAnswerOut(), help_text="Question key → the gold answer.")
    annotations = AnnotationOut(many=True)
    metadata = serializers.DictField()
    tags = serializers.ListField(child=serializers.CharField())
    model = serializers.CharField()
    rubric_version = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    labeled_at = serializers.DateTimeField()

    def to_representation(self, row):
        # The stored line is the row: serving it as parsed keeps the API and the downloads identical.
        return msgspec.json.decode(row.line.text)


class RowsQuery(serializers.Serializer):
    split = serializers.CharField(required=False, help_text="Only rows of this split, e.g. `train`.")

    def validate_split(self, split: str) -> str:
        allowed = self.context["splits"]
        if split not in allowed:
            raise serializers.ValidationError(f"Unknown split {split!r}. This dataset's splits: {', '.join(allowed)}.")
        return split


def format_field(formats) -> serializers.ChoiceField:
    """A file's `format` parameter, whose refusal names the formats there are (a guess such as `openai_chat` then
    finds the right name)."""
    return choice_parameter(formats, "format", default=next(iter(formats)))


class DownloadQuery(serializers.Serializer):
    format = format_field(FORMATS)


# What VersionRefField takes (and a version in a URL names): a number from 1 to 999,999,999, or `latest`.
VERSION_REF_SCHEMA = {"type": "string", "pattern": rf"^({LATEST}|0*[1-9]\d{{0,8}})$"}


@extend_schema_field(VERSION_REF_SCHEMA)
class VersionRefField(serializers.CharField):
    """A version number, or `latest` for the newest ready version."""

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        if value != LATEST and not (is_whole_number(value) and 0 < whole_number_up_to(value, 10**9) < 10**9):
            raise serializers.ValidationError(f"Give a version number or `{LATEST}`.")
        return value


class DiffQuery(serializers.Serializer):
    def get_fields(self):
        # `from` is a Python keyword, so the fields cannot be class attributes.
        return {
            "from": VersionRefField(help_text="The older version (a number or `latest`)."),
            "to": VersionRefField(default=LATEST, help_text="The newer version (a number or `latest`)."),
        }


# The ids a diff lists of each kind (added, removed, changed), and the changed rows it says what changed in: the rest
# are counted in `<list>_left_out`, so that the answer of two large versions stays small.
DIFF_LIMIT = 1000


class GoldMoveOut(serializers.Serializer):
    before = GoldAnswerOut(allow_null=True, help_text="The gold answer in `from` (as the row's `label`); null: none.")
    after = GoldAnswerOut(allow_null=True, help_text="The gold answer in `to`; null: none.")


class ChangedRowOut(serializers.Serializer):
    id = serializers.CharField(help_text="The external id.")
    fields = serializers.ListField(
        child=serializers.CharField(), help_text="The row's fields whose values differ (e.g. `label`), sorted."
    )
    gold = serializers.DictField(
        child=GoldMoveOut(),
        help_text=f"Question key → its gold answer before and after, for the questions whose gold moved (value or "
        f"method). Texts over {TEXT_LIMIT} characters are cut, ending with `…`: read the row for the whole text.",
    )


class DiffOut(serializers.Serializer):
    def get_fields(self):
        def ids(help_text: str) -> serializers.ListField:
            return serializers.ListField(child=serializers.CharField(), help_text=help_text)

        def left_out(listed: str) -> serializers.IntegerField:
            return serializers.IntegerField(
                help_text=f"How many more ids there are past the first {DIFF_LIMIT} of `{listed}` (0 when every one "
                "is listed)."
            )

        return {
            "from": serializers.IntegerField(),
            "to": serializers.IntegerField(),
            "added": ids(f"External ids in `to` only, sorted: the first {DIFF_LIMIT}."),
            "added_left_out": left_out("added"),
            "removed": ids(f"External ids in `from` only, sorted: the first {DIFF_LIMIT}."),
            "removed_left_out": left_out("removed"),
            "changed": ids(
                f"External ids in both whose rows differ, sorted: the first {DIFF_LIMIT} (ids only: `changed_rows` "
                "says what changed)."
            ),
            "changed_left_out": left_out("changed"),
            "changed_rows": ChangedRowOut(
                many=True,
                help_text=f"What changed in each of the first {DIFF_LIMIT} ids of `changed`, in its order: the "
                "row's fields that differ and the gold answers that moved, before and after.",
            ),
            "changed_rows_left_out": serializers.IntegerField(
                help_text=f"Changed rows past the first {DIFF_LIMIT}, not in `changed_rows` (0 when every one is "
                "there): the same count as `changed_left_out`."
            ),
        }


class BuildQuery(serializers.Serializer):
    full = QueryBooleanField(
        required=False,
        default=False,
        help_text="Build every row from scratch; by default the unchanged rows of the last version are copied "
        "(the bytes are the same either way).",
    )


class BuildOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["requested"])
    status_url = serializers.URLField(
        help_text="The dataset: poll its `build.state` until `idle` (or `failed`), then read `latest_version`."
    )
    latest_version = serializers.IntegerField(
        allow_null=True,
        help_text="The newest ready version when the build was asked for: when the build is over, a larger "
        "`latest_version` is the new version; the same one means nothing had changed, so none was made.",
    )
