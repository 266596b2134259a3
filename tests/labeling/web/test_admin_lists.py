"""The operator's admin lists of outputs and usage events open at once however many rows the tables hold: no query
of theirs reads a whole table (a COUNT(*) for the paginator, a DISTINCT for a filter's choices)."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from labeling.models import UsageEvent
from tests.factories import OutputFactory, UserFactory

pytestmark = pytest.mark.django_db

TABLES = {"output": "labeling_output", "usageevent": "labeling_usageevent"}


@pytest.fixture
def operator_client():
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def _events(project, count: int) -> None:
    UsageEvent.objects.bulk_create(
        UsageEvent(
            project=project,
            end_user_id=f"user-{n}",
            name="signup",
            occurred_at=project.created_at,
            received_at=project.created_at,
        )
        for n in range(count)
    )


@pytest.mark.parametrize("model", ["output", "usageevent"])
def test_a_change_list_reads_no_whole_table(operator_client, project, model):
    OutputFactory.create_batch(3, project=project)
    _events(project, 3)
    with CaptureQueriesContext(connection) as queries:
        response = operator_client.get(f"/admin/labeling/{model}/")
    assert response.status_code == 200
    assert re.search(rf"3 {'outputs' if model == 'output' else 'usage events'}", response.content.decode())
    reads = [query["sql"] for query in queries.captured_queries if f'FROM "{TABLES[model]}"' in query["sql"]]
    assert reads, "the list reads its table"
    assert not [sql for sql in reads if "DISTINCT" in sql]
    # (The page's rows are one page's, LIMITed, once the count is past a page: Django's ChangeList.)
    assert [sql for sql in reads if "COUNT(" in sql and "LIMIT" not in sql] == []
