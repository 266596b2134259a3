"""Forms of the new-project page and the lead's project settings page.

Each form checks the shape of what was typed; the service's own checks (slug taken, a calendar change that
would put the counted weeks out of step) are asked in `clean()` and shown beside their fields.
"""

import zoneinfo
from dataclasses import asdict
from functools import cache, lru_cache

import msgspec
from django import forms
from django.core.validators import RegexValidator
from django.template.defaultfilters import pluralize
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from labeling.models import Project, QuestionKind, Weekday
from labeling.rules import retention_reference as reference_rule
from labeling.rules.text import has_letter_or_digit, slug_from_name
from labeling.services import projects
from labeling.services.rubric_templates import (
    SCRATCH,
    SCRATCH_QUESTIONS,
    SCRATCH_QUEUES,
    TEMPLATES,
    first_rubric,
    starter_queues,
)

from .spec_forms import ShownField, SpecForm

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
# The third way to start, beside the templates and "from scratch": another project's rubric and queues.
COPY = "copy"


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA zone this server knows, sorted (read once: listing them walks the tz database)."""
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def template_previews() -> list[dict]:
    """Each rubric template (and "from scratch") with its questions and starter queues in words, for the chooser."""
    kinds = dict(QuestionKind.choices)

    def questions(raw: list[dict]) -> list[dict]:
        return [{**question, "kind_label": kinds[question["kind"]]} for question in raw]

    def queues(raw: list[dict]) -> list[dict]:
        return [
            {"name": queue["name"], "description": queue["description"], "settings": _settings_in_words(queue)}
            for queue in raw
        ]

    previews = [
        {
            "key": template.key,
            "title": template.title,
            "summary": template.summary,
            "questions": questions(template.questions),
            "queues": queues(template.queues),
        }
        for template in TEMPLATES
    ]
    previews.append(
        {
            "key": SCRATCH,
            "title": "From scratch",
            "summary": "One pass/fail question to start with; write your own questions on the rubric page.",
            "questions": questions(SCRATCH_QUESTIONS),
            "queues": queues(SCRATCH_QUEUES),
        }
    )
    return previews


def _settings_in_words(queue: dict) -> str:
    """A starter queue's sampling, quota and overlap as the queue will be created (the spec's defaults for what it
    leaves out): "20 % of what its rule matches, up to 50 items a week, 2 experts each"."""
    spec = msgspec.convert(queue, projects.QueueSpec)
    if spec.sample_rate == 1:
        share = "all it matches"
    elif spec.sample_rate == 0:
        share = "none of what it matches"
    else:
        share = f"{spec.sample_rate * 100:g} % of what its rule matches"
    weekly = "no weekly quota" if spec.weekly_quota is None else f"up to {spec.weekly_quota} items a week"
    return f"{share}, {weekly}, {spec.overlap} expert{pluralize(spec.overlap)} each"


class _ProblemsForm(SpecForm):
    """Shows the service's problems (a dict by field) beside the fields they name."""

    def show_problems(self, problems: dict[str, list[str]]) -> None:
        for name, messages in problems.items():
            if name not in self.errors:  # else the form has said what is wrong with the field already
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)


@lru_cache(maxsize=8)
def _options_html(choices: tuple[tuple[str, str], ...]) -> tuple[str, dict[str, int]]:
    """The options of a plain select as Django's template writes them, none selected, and where each value's
    ` selected` goes: made once per process for a list of choices."""
    parts: list[str] = []
    selected_at: dict[str, int] = {}
    length = 0
    for value, label in choices:
        opening = f'\n  <option value="{conditional_escape(str(value))}"'
        selected_at.setdefault(str(value), length + len(opening))  # the first option of a value, as Django marks
        parts.append(f"{opening}>{conditional_escape(label)}</option>")
        length += len(parts[-1])
    return "".join(parts), selected_at


class _PlainSelect(forms.Select):
    """A select of many plain options (no groups, no per-option attributes), its options written once per process:
    Django's Select builds a dict and includes a template per option on every render, ~22 ms for the ~600 time zones
    on every page that shows the field (the hostile-input guard's pages among them)."""

    template_name = "labeling/widgets/plain_select.html"

    def optgroups(self, name, value, attrs=None):
        return []  # the template writes `options` instead

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        html, selected_at = _options_html(tuple(self.choices))
        at = next((selected_at[chosen] for chosen in context["widget"]["value"] if chosen in selected_at), None)
        # Escaped as it was written (_options_html).
        context["widget"]["options"] = mark_safe(html if at is None else f"{html[:at]} selected{html[at:]}")
        return context


def _time_zone_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Time zone",
        choices=time_zone_choices,
        widget=_PlainSelect,
        initial="UTC",
        error_messages={"invalid_choice": "%(value)s is not a known IANA time zone; choose one, e.g. Europe/Berlin."},
    )


def _weekday_field(help_text: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label="Weeks start on", choices=Weekday.choices, coerce=int, initial=Weekday.MONDAY, help_text=help_text
    )


class NewProjectForm(_ProblemsForm):
    name = forms.CharField(max_length=projects.NAME_MAX)
    slug = forms.CharField(
        required=False,  # left blank, the name suggests it (as projects.js does while the lead types)
        max_length=64,
        validators=[
            RegexValidator(SLUG_PATTERN, "Use lowercase letters, digits and hyphens, starting with a letter or digit.")
        ],
        help_text="Lowercase letters, digits and hyphens; in every URL and API call, and it cannot change later. "
        "Left blank, it is made from the name (project-<n> for a name without Latin letters or digits).",
    )
    description = forms.CharField(
        required=False, max_length=projects.DESCRIPTION_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )
    time_zone = _time_zone_field()
    cycle_weekday = _weekday_field("Each cycle week starts at midnight of this day in the project's time zone.")
    rubric_template = forms.ChoiceField(
        label="Start from",
        choices=[(template.key, template.title) for template in TEMPLATES] + [(SCRATCH, "From scratch")],
        initial=TEMPLATES[0].key,
        widget=forms.RadioSelect,
    )
    # A slug, not a choice the form checks: the service answers 404 for a project the user may not copy, as
    # every page does for a project they cannot see (a forged POST learns nothing from a form error).
    copy_from = forms.CharField(required=False, max_length=64, label="Project to copy")

    def __init__(self, *args, copyable: list[Project], created_by=None, **kwargs):
        """`copyable`: the projects whose rubric and queues the user may copy (`access.copyable_projects`);
        `created_by`: who posts it (a slug they took moments ago is the service's to judge: the same form again?)."""
        super().__init__(*args, **kwargs)
        self.created_by = created_by
        # The slug left blank for a name without Latin letters: `project-<n>`, whose number the service picks.
        self.slug_generated = False
        if copyable:
            field = self.fields["rubric_template"]
            field.choices = [*field.choices, (COPY, "Copy the rubric and queues of …")]
            self.fields["copy_from"].widget = forms.Select(
                choices=[("", "Choose a project")] + [(project.slug, project.name) for project in copyable]
            )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug:
            return slug
        name = self.data.get("name", "")
        if not has_letter_or_digit(name):
            raise forms.ValidationError("Choose a slug: the name has no letters or digits to make one from.")
        self.slug_generated = not slug_from_name(name)
        return projects.slug_for_new_project(name)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("rubric_template") == COPY and not cleaned.get("copy_from"):
            self.add_error("copy_from", "Choose the project whose rubric and queues to copy.")
        if not self.errors:
            self.show_problems(projects.spec_problems(self.spec(), created_by=self.created_by))
        return cleaned

    def source_slug(self) -> str | None:
        """The project to copy the rubric and queues of, when that was the choice."""
        return self.cleaned_data["copy_from"] if self.cleaned_data["rubric_template"] == COPY else None

    def spec(self) -> dict:
        """The project spec `services.projects.create_project` takes (`copy_project` adds the copied parts)."""
        cleaned = self.cleaned_data
        spec = {
            "slug": cleaned["slug"],
            "name": cleaned["name"],
            "description": cleaned.get("description", ""),
            "time_zone": cleaned["time_zone"],
            "cycle_weekday": Weekday(cleaned["cycle_weekday"]).label.lower(),
        }
        if cleaned["rubric_template"] != COPY:
            spec |= {
                "rubric": first_rubric(cleaned["rubric_template"]),
                "queues": starter_queues(cleaned["rubric_template"]),
            }
        return spec


class ProjectSettingsForm(_ProblemsForm, ShownField):
    name = forms.CharField(max_length=projects.NAME_MAX)
    description = forms.CharField(
        required=False, max_length=projects.DESCRIPTION_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )
    time_zone = _time_zone_field()
    cycle_weekday = _weekday_field(
        "Can change until the first outputs are placed in a queue or the first week has a cycle: the weeks "
        "already counted would overlap the new ones."
    )
    experts_can_explore = forms.BooleanField(
        label="Experts may open the explore page",
        required=False,
        help_text="Leads, engineers and admins always may.",
    )
    raw_retention_days = forms.IntegerField(
        label="Keep raw outputs (days)",
        required=False,
        min_value=1,
        max_value=projects.RETENTION_DAYS_MAX,
        help_text=(
            "Outputs older than this are deleted nightly unless they are gold answers or in a dataset. Empty: forever."
        ),
    )

    retention_reference = forms.CharField(
        label="Retention you expect (week-N rates)",
        required=False,
        max_length=reference_rule.TEXT_MAX,
        widget=forms.TextInput(attrs={"placeholder": reference_rule.EXAMPLE, "autocomplete": "off"}),
        help_text=(
            f"Share of a week's new end users who come back N weeks later, e.g. “{reference_rule.EXAMPLE}” "
            f"(weeks {reference_rule.FIRST_WEEK}–{reference_rule.LAST_WEEK}). Drawn on the retention "
            "chart and compared with each week's cohort. Empty: no reference. Shown in the running week's report and "
            "the weeks closed from now on; a closed week keeps its report."
        ),
    )
    retention_reference_source = forms.CharField(
        label="Where this retention comes from",
        required=False,
        max_length=reference_rule.SOURCE_MAX,
        widget=forms.TextInput(attrs={"placeholder": "e.g. our 2025 app benchmark, or a URL"}),
        help_text="A benchmark, a report or a URL: the meeting sees it beside the comparison.",
    )

    def __init__(self, *args, project: Project, **kwargs):
        shown = asdict(projects.settings_of(project))
        kwargs.setdefault("initial", {**shown, "shown": shown})
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["time_zone"].help_text = (
            "Weeks start at midnight here. A change applies to the running week and later ones; closed weeks keep "
            "their dates and reports. Refused in the hours when it would move the running week."
        )
        fixed = projects.week_start_fixed(project)
        if fixed:
            # Shown disabled with why, so no choice is offered only to be refused; a browser then posts no value
            # and the field keeps the project's day (Django's disabled field).
            self.fields["cycle_weekday"].disabled = True
            self.fields["cycle_weekday"].help_text = fixed

    def clean_cycle_weekday(self) -> int:
        field, posted = self.fields["cycle_weekday"], self.data.get("cycle_weekday")
        if field.disabled and posted not in (None, ""):
            # A page drawn before the day was fixed still posts one: a change is refused beside the field
            # (settings_problems), never dropped while the page says "Settings saved".
            return field.clean(posted)
        return self.cleaned_data["cycle_weekday"]

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            self.show_problems(projects.settings_problems(project=self.project, values=self.values()))
        return cleaned

    def values(self) -> projects.ProjectSettings:
        cleaned = self.cleaned_data
        return projects.ProjectSettings(
            name=cleaned["name"],
            description=cleaned.get("description", ""),
            time_zone=cleaned["time_zone"],
            cycle_weekday=cleaned["cycle_weekday"],
            experts_can_explore=cleaned.get("experts_can_explore", False),
            raw_retention_days=cleaned.get("raw_retention_days"),
            retention_reference=cleaned.get("retention_reference", ""),
            retention_reference_source=cleaned.get("retention_reference_source", ""),
        )
