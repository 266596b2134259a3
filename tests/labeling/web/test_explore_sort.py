"""The explore page's order (`sort`): part of the filter's URL, so a link, the next page and a saved view keep it; a
bad one is a 400 beside its menu (Django test client)."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from labeling.models import SavedView
from tests.factories import OutputFactory

pytestmark = [pytest.mark.django_db]


def explore(project, query: str = "") -> str:
    return reverse("labeling:explore", args=[project.slug]) + (f"?{query}" if query else "")


def test_a_saved_view_keeps_its_order(client, lead, project):
    client.force_login(lead)
    response = client.post(
        reverse("labeling:explore-view-save", args=[project.slug]), {"name": "Slow ones", "query": "sort=slowest"}
    )
    assert response.status_code == 302 and response.url == explore(project, "sort=slowest")
    assert SavedView.objects.get(project=project).query == "sort=slowest"


def test_the_default_order_leaves_the_url_and_a_bad_one_is_a_400_beside_the_menu(client, lead, project):
    OutputFactory(project=project, external_id="first", occurred_at=datetime(2026, 11, 2, tzinfo=UTC))
    OutputFactory(project=project, external_id="second", occurred_at=datetime(2026, 11, 3, tzinfo=UTC))
    client.force_login(lead)
    assert client.get(explore(project, "q=&sort=newest")).url == explore(project)  # the bar's full form, shortened
    page = client.get(explore(project, "sort=oldest")).content.decode()
    assert page.index('data-output="first"') < page.index('data-output="second"')
    assert '<option value="oldest" selected>Oldest first</option>' in page
    refused = client.get(explore(project, "sort=random"))
    assert refused.status_code == 400
    assert "&#x27;random&#x27; is not a sort. Use one of: newest, oldest, slowest, longest." in refused.content.decode()
