"""Sessions and the signed-in user, read per request by compiled queries: what Django's own would answer."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone

from labeling.web.sessions import SessionStore
from labeling.web.signin import ThrottledModelBackend
from tests.factories import UserFactory


@pytest.fixture
def stored(db):
    store = SessionStore()
    store["answer"] = 42
    store.create()
    return store.session_key


def test_a_live_session_is_read_with_its_data(stored):
    assert SessionStore(stored).load() == {"answer": 42}


def test_an_expired_session_is_not_read_and_its_key_is_dropped(stored):
    Session.objects.filter(session_key=stored).update(expire_date=timezone.now() - timedelta(seconds=1))
    store = SessionStore(stored)

    assert store.load() == {}
    assert store.session_key is None  # as Django's database store: a new key is made if the session is saved


def test_a_deleted_session_is_not_read(stored):
    SessionStore(stored).delete()

    assert SessionStore(stored).load() == {}
    assert SessionStore("no-such-key-at-all-0000000000000000").load() == {}


def test_the_backend_loads_active_users_only(db):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob", is_active=False)
    backend = ThrottledModelBackend()

    assert backend.get_user(str(alice.pk)) == alice  # the session holds the id as text
    assert backend.get_user(alice.pk).username == "alice"
    assert backend.get_user(str(bob.pk)) is None  # deactivated: signed out on their next request
    assert backend.get_user(str(bob.pk + 1000)) is None


def test_a_signed_in_expert_stays_signed_in_until_they_sign_out(client, db):
    UserFactory(username="erin")
    user = get_user_model().objects.get(username="erin")
    client.force_login(user)
    assert client.get("/").wsgi_request.user == user

    client.post("/logout/")

    assert not client.get("/").wsgi_request.user.is_authenticated
