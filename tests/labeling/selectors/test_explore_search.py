"""Search semantics on PostgreSQL: phrases, OR, -word, stems, accents, ids, hostile strings; and that one
project's search never finds another project's outputs with the same texts."""

import pytest
from django.db import connection

from labeling.exceptions import InvalidFilter
from labeling.rules.explore import parse_filter
from labeling.selectors.explore import filter_outputs, result_page, summary
from labeling.services.search_index import index_outputs
from tests.factories import OutputFactory, ProjectFactory

pytestmark = pytest.mark.django_db

TEXTS = {
    "refunded": "Your payment was refunded yesterday.",
    "date-promise": "Your refund will arrive by 14 March, I promise.",
    "refund-policy": "Refunds take five working days under our policy.",
    "creme": "The crème brûlée is back on the menu.",
    "order": "Order ORD-48213 left the warehouse.",
    "other-order": "Order ORD-48214 is delayed.",
    "ticket": "Ticket #99120 is closed.",
    "shipping": "Shipping is free above 50 euros.",
    "email": "Please write to help@example.com, don't call.",
}


@pytest.fixture
def projects():
    """Two projects with the same texts; only the first one's ids are asked for."""
    made = []
    for slug in ("shop", "twin"):
        project = ProjectFactory(slug=slug)
        outputs = [
            OutputFactory(project=project, external_id=name, input="Hi", output=text, session_id=f"s-{name}")
            for name, text in TEXTS.items()
        ]
        index_outputs(project_id=project.pk, output_ids=[output.pk for output in outputs])
        made.append(project)
    return made


def found(project, **params) -> set[str]:
    spec = parse_filter({name: [value] for name, value in params.items()})
    return set(filter_outputs(project, spec).values_list("external_id", flat=True))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("refunds", {"refunded", "date-promise", "refund-policy"}),  # stems: refunds finds refunded and refund
        ('"refund will arrive"', {"date-promise"}),  # a phrase
        ('"arrive refund"', set()),  # a phrase is in order
        ("refund -policy", {"refunded", "date-promise"}),  # -word
        ("creme OR shipping", {"creme", "shipping"}),
        ("brulee", {"creme"}),  # accents folded
        ("Crème", {"creme"}),
        ("ORD-48213", {"order"}),  # an order number, exactly
        ("99120", {"ticket"}),
        ("#99120", {"ticket"}),
        ("order", {"order", "other-order"}),
        ("help@example.com", {"email"}),
        ("don't call", {"email"}),
        ("refund!!!", {"refunded", "date-promise", "refund-policy"}),  # punctuation is ignored
        ("s-shipping", {"shipping"}),  # a session id
        ("-ORD-48213", set(TEXTS) - {"order"}),  # an order number left out: it used to be required instead
    ],
)
def test_search_semantics(projects, q, expected):
    assert found(projects[0], q=q) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("warehouse OR menu", {"order", "creme"}),
        ("warehouse or menu", {"order", "creme"}),  # as websearch_to_tsquery reads it, in any case
        ("payment OR shipping OR menu", {"refunded", "shipping", "creme"}),
        ("payment refunded OR shipping free", {"refunded", "shipping"}),  # terms AND-ed, OR between the groups
        ("payment OR shipping warehouse", {"refunded"}),
        ("refund OR shipping -policy", {"refunded", "date-promise", "refund-policy", "shipping"}),  # -word in its group
        ('"refund will arrive" OR warehouse', {"date-promise", "order"}),
        ("OR warehouse OR", {"order"}),  # an OR with nothing on one side is dropped
    ],
)
def test_or_means_the_same_on_postgresql_and_on_the_sqlite_demo(projects, q, expected):
    """The demo's SQLite searches substrings, not a search index; the search box's OR meant the word "or" there
    ("refund OR exchange" found every "sorry"). Both now read OR as websearch_to_tsquery does."""
    assert found(projects[0], q=q) == expected


@pytest.mark.parametrize(
    "q", ["'", "\\", ":*", "!", "&|", '"unbalanced', "refund & | !", "(((", "a:*b", "' OR 1=1 --", "\u00e9\u0301"]
)
def test_hostile_query_strings_find_or_say_why_not(projects, q):
    try:
        page = result_page(projects[0], parse_filter({"q": [q]}))
    except InvalidFilter as refused:
        assert "Nothing to search for" in refused.problems["q"]
    else:
        assert page.total.value == len(page.rows) <= len(TEXTS)


def test_a_nul_or_a_huge_query_is_refused_with_a_message(projects):
    with pytest.raises(InvalidFilter, match="NUL"):
        parse_filter({"q": ["refund\x00"]})
    with pytest.raises(InvalidFilter, match="at most 500 characters"):
        parse_filter({"q": ["refund " * 2000]})


def test_the_other_project_with_the_same_texts_never_shows(projects):
    shop, twin = projects
    for q in ("refund", "ORD-48213", "s-order"):
        page = result_page(shop, parse_filter({"q": [q]}))
        assert page.rows and {row.output.project_id for row in page.rows} == {shop.pk}
    assert summary(shop, parse_filter({})).total.value == len(TEXTS)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_matches_are_marked_in_the_result(projects):
    page = result_page(projects[0], parse_filter({"q": ["refunds"]}))
    marked = {text.lower() for row in page.rows for text, hit in row.pieces if hit}
    assert marked == {"refunded", "refund", "refunds"}


def test_a_match_past_the_first_400_characters_is_shown_marked(project):
    """A long answer whose match comes late: the row shows the text around the match, not its first 400
    characters without it. PostgreSQL's headline picks such a fragment; the demo's SQLite excerpt did not."""
    late = "Thanks for your patience. " * 40 + "Your refund will arrive by 14 March."
    output = OutputFactory(project=project, external_id="late", output=late)
    index_outputs(project_id=project.pk, output_ids=[output.pk])  # as routing does

    [row] = result_page(project, parse_filter({"q": ['"refund will arrive"']})).rows

    marked = " ".join(text for text, hit in row.pieces if hit).lower()
    assert "refund" in marked and "arrive" in marked  # one phrase on SQLite, word by word in a headline
    assert len("".join(text for text, _ in row.pieces)) <= 400


def test_words_searched_together_are_shown_where_they_stand_together(project):
    """A search of several words whose first word also comes early (`refund will arrive by`): the row shows the
    place where they stand together, late in a long answer, not the first words where only "refund" is."""
    answer = "About your refund: thanks for your patience. " * 20 + "Your refund will arrive by 14 March."
    output = OutputFactory(project=project, external_id="late", output=answer)
    index_outputs(project_id=project.pk, output_ids=[output.pk])

    [row] = result_page(project, parse_filter({"q": ["refund will arrive by"]})).rows

    shown = "".join(text for text, _ in row.pieces)
    assert "Your refund will arrive" in shown  # a headline ends at its last searched word ("by" is not indexed)
    assert "arrive" in " ".join(text for text, hit in row.pieces if hit)  # word by word in a headline, one phrase here
