"""What a failure theme reads of an output: its answer first, then the end of what the end user asked; a long system
prompt shared by every output neither crowds the answer out nor makes a theme."""

import random
from collections import Counter
from datetime import timedelta

import pytest

from labeling.models import FailureTheme, FailureThemeOutput
from labeling.rules import calendar
from labeling.services.themes import INPUT_CHARS, refresh_week_themes
from tests.factories import OutputFactory
from tests.helpers.themes import planted_corpus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PROMPT_WORDS = (
    "store policy assistant answer customer politely concise escalate refunds shipping accounts warranty products "
    "catalogue opening hours languages tone brand voice"
).split()


def test_a_long_system_prompt_does_not_crowd_the_failing_answers_out(project):
    week = calendar.current_week(project) - timedelta(days=7)
    prompt = " ".join(random.Random(1).choice(PROMPT_WORDS) for _ in range(900))  # about 6,000 characters
    question = "Where is my order? " * (2 * INPUT_CHARS // 19)  # a long question: only its end is read
    assert len(prompt) > 5_000 and len(question) > INPUT_CHARS
    documents, truth = planted_corpus(11, {"refund": 24, "tracking": 16, "account": 10})
    kinds = {}
    for n, (doc_id, text) in enumerate(documents):
        transcript = [{"role": "system", "content": prompt}, {"role": "user", "content": question}]
        out = OutputFactory(project=project, occurred_at=calendar.week_start(project, week) + timedelta(hours=1 + n),
                            feedback_score=-1, input=transcript, output=text)  # fmt: skip
        kinds[out.pk] = truth[doc_id]

    assert refresh_week_themes(project=project, week=week) == 3
    themes = FailureTheme.objects.filter(project=project, week=week).order_by("rank")
    assert [theme.size for theme in themes] == [24, 16, 10]
    for theme in themes:
        members = FailureThemeOutput.objects.filter(theme=theme).values_list("output_id", flat=True)
        assert len(Counter(kinds[pk] for pk in members)) == 1  # each theme is one planted kind
        assert not set(PROMPT_WORDS) & {word for term in theme.terms for word in term.split()}
