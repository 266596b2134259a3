import pytest

from tests.helpers.explore import build_shop, delete_shops


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker):
    """The explore shop and its twin (tests/helpers/explore.py), made once per module: labeling takes a while.
    Each test's own writes still roll back."""
    with django_db_blocker.unblock():
        shops = build_shop("shop"), build_shop("twin")
    yield shops[0]
    with django_db_blocker.unblock():
        delete_shops(*shops)
