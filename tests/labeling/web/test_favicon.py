"""/favicon.ico: what a browser asks for on pages that link no icon (the admin, an API answer opened in a tab)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_browser_asking_for_favicon_ico_gets_the_apps_icon(client, expert, signed_in):
    if signed_in:
        client.force_login(expert)

    response = client.get("/favicon.ico", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [("/static/labeling/favicon.svg", 301)]
    assert response["Content-Type"].startswith("image/svg+xml")
