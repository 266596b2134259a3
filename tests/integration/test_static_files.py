"""Static files under production settings (DEBUG unset) with nothing collected: the labeling page's script,
stylesheets and icon still load, so the keyboard flow works on a server started as the README starts gunicorn
(and no browser asks for a /favicon.ico that is not there)."""

import re

import pytest

from labeling.models import Queue
from tests.helpers.labeling import make_items, take
from tests.helpers.servers import database_url, gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_labeling_page_loads_its_scripts_from_a_production_server_without_collectstatic(
    client, project, expert, rubric, tmp_path
):
    queue = Queue.objects.create(project=project, slug="all", name="All answers", overlap=1)
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    page = client.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert "/static/labeling/label.js" in assets and "/static/labeling/favicon.svg" in assets, assets

    empty_static_root = tmp_path / "staticfiles"  # what a fresh clone has: nothing collected
    with gunicorn(database_url(), STATIC_ROOT=str(empty_static_root)) as server:
        for path in assets:
            answer = server.get(path)
            assert answer.status == 200, (path, answer.status)
            kind = {".js": "javascript", ".css": "css", ".svg": "image/svg+xml"}[path[path.rindex(".") :]]
            assert kind in answer.headers["Content-Type"], (path, answer.headers["Content-Type"])
        assert "keydown" in server.get("/static/labeling/label.js").body  # the script itself, not an error page
        assert server.get("/static/labeling/no-such-file.js").status == 404
    assert not empty_static_root.exists()
    # Nothing collected is how the README starts it: no "No directory at" warning from WhiteNoise in its log.
    assert "No directory at" not in server.log
