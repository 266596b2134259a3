"""`field__any`: the same rows as `__in`, with the list bound as one array on PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import Item, Label
from tests.helpers.labeling import label_outputs

pytestmark = pytest.mark.django_db


def test_any_finds_the_rows_in_finds_by_key_and_by_relation(project):
    items = label_outputs(project, 5)
    chosen = [items[0].pk, items[3].pk, 10**12]  # one id that no row has

    with CaptureQueriesContext(connection) as queries:
        by_key = set(Item.objects.filter(pk__any=chosen).values_list("pk", flat=True))
        by_relation = set(Label.objects.filter(item_id__any=chosen).values_list("pk", flat=True))
        by_object = set(Label.objects.filter(item__any=chosen).values_list("pk", flat=True))

    assert by_key == {items[0].pk, items[3].pk}
    assert by_relation == by_object == set(Label.objects.filter(item_id__in=chosen).values_list("pk", flat=True))
    assert len(by_relation) == 2 * len(by_key)  # two labels an item
    assert Item.objects.filter(pk__any=[]).count() == 0
    if connection.vendor == "postgresql":  # one array parameter, however long the list
        assert all("= ANY(" in query["sql"] and " IN (" not in query["sql"] for query in queries.captured_queries)
