"""The explore bar's choices (model boxes, tag, metadata and key lists): counted by the database, they are what
counting the newest outputs one by one in Python gave, in the same order (PostgreSQL and SQLite)."""

import html
import re
from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import Output
from labeling.rules.explore import typed_pair, typed_value
from labeling.selectors.explore_page import MAX_SUGGESTIONS, RECENT, filter_choices
from tests.factories import OutputFactory

pytestmark = pytest.mark.django_db


def counted_in_python(project) -> tuple[list[str], list[str], list[str], list[str]]:
    """The rule as it was written before the database counted: each of the newest RECENT outputs read in turn, most
    frequent first, ties in the order first met."""
    models, tags, keys, values = Counter(), Counter(), Counter(), Counter()
    recent = Output.objects.filter(project=project).order_by("-occurred_at", "-pk")
    for model, output_tags, metadata in recent.values_list("model", "tags", "metadata")[:RECENT]:
        if model:
            models[model] += 1
        tags.update(typed_value(tag) for tag in output_tags or [] if isinstance(tag, str))
        for key, value in (metadata or {}).items() if isinstance(metadata, dict) else ():
            keys[typed_value(key)] += 1
            if isinstance(value, str) and len(value) <= 60:
                values[typed_pair(key, value)] += 1
            elif isinstance(value, bool):
                values[typed_pair(key, str(value).lower())] += 1

    def top(counts: Counter) -> list[str]:
        return [value for value, _ in counts.most_common(MAX_SUGGESTIONS)]

    return top(models), top(tags), top(keys), top(values)


def bar_choices(page: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """The model boxes' values and the three lists' options, as the browser reads them."""

    def datalist(name: str) -> list[str]:
        body = re.search(rf'<datalist id="{name}">(.*?)</datalist>', page, re.S)[1]
        return [html.unescape(value) for value in re.findall(r'<option value="([^"]*)">', body)]

    models = [
        html.unescape(value) for value in re.findall(r'<input type="checkbox" name="model" value="([^"]*)"', page)
    ]
    return models, datalist("tag-choices"), datalist("meta-choices"), datalist("meta-keys")


ODD_TAGS = [" vip", "vip", '"quoted"', "a,b", "<b>&amp;</b>", "émoji 🎉", "tab\tin", "new\nline", "", "x:y"]
ODD_METADATA = [
    {"locale": "en-GB", "nested": {"deep": "x"}, "tokens": 12, "ok": True, "none": None},
    {"ok": False, "locale": "de-DE", "list": [1, "a"], "ratio": 0.5, "0": "zero-key"},
    {" padded ": " both ends ", "a:b": "colon key", '"q': "leading quote", "": "empty key"},
    {'x:":y': "c", "x:": 'y":c'},  # two pairs typed alike (`typed_pair`): one choice
    {"long": "y" * 61, "sixty": "z" * 60, "ok": "true", "flag": "false"},
    {"b": "1", "a": "1", "zz": "1", "é": "ü"},  # one output's keys in its stored order break the ties
    ["not", "an", "object"],
    "a string",
    {},
]


@pytest.fixture
def varied(project):
    """RECENT + 60 outputs: many models, tags and metadata values (more than the lists take, with ties at their end),
    odd characters, nested and non-text values; several at one instant (newest by pk then); the oldest 60 hold
    models, tags and keys of their own, which no list may show."""
    now = timezone.now()
    rows = []
    for n in range(RECENT + 60):
        old = n >= RECENT
        rows.append(
            OutputFactory.build(
                project=project,
                occurred_at=now - timedelta(seconds=n // 3),
                model=f"old-model-{n % 3}" if old else ["", "bot-1", " bot-2 ", "bot-3", f"m{n % 97}"][n % 5],
                tags=(
                    [f"old-{n}"]
                    if old
                    else [ODD_TAGS[n % len(ODD_TAGS)], f"t{n % 47}", f"t{n % 47}", 7, None, ["nested"]][: 1 + n % 6]
                ),
                metadata=(
                    {"old-key": "old"}
                    if old
                    else ODD_METADATA[n % len(ODD_METADATA)] | {f"k{n % 43}": f"v{n % 41}"}
                    if isinstance(ODD_METADATA[n % len(ODD_METADATA)], dict)
                    else ODD_METADATA[n % len(ODD_METADATA)]
                ),
            )
        )
    Output.objects.bulk_create(rows)
    return rows


def test_the_bar_offers_the_choices_counting_in_python_gave(client, lead, project, varied):
    """Same choices, same order (ties too), same limits, of the newest RECENT only."""
    expected = counted_in_python(project)
    client.force_login(lead)

    models, tags, metadata_values, metadata_keys = bar_choices(
        client.get(reverse("labeling:explore", args=[project.slug])).text
    )

    assert models == [typed_value(model) for model in expected[0]]
    assert (tags, metadata_keys, metadata_values) == (expected[1], expected[2], expected[3])
    assert len(tags) == len(metadata_values) == MAX_SUGGESTIONS and len(models) == MAX_SUGGESTIONS
    assert not [choice for choice in [*models, *tags, *metadata_values, *metadata_keys] if choice.startswith("old-")]


def test_a_project_without_outputs_offers_no_choices(project, other_project):
    OutputFactory(project=other_project, model="bot-elsewhere", tags=["elsewhere"], metadata={"k": "v"})

    choices = filter_choices(project)

    assert (choices.models, choices.tags, choices.metadata_keys, choices.metadata_values) == ([], [], [], [])
