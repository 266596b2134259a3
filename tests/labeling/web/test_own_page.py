"""A person's own page (/me/, the top bar's name links it): their password, and their own figures in each project.

The figures are theirs alone and are the ones the leads see for them (the experts page this week, the weekly close's
rows, with agreement with the gold answer, for the weeks before). The password is changed with the old one, through
a CSRF-protected form; an account without a password (single sign-on) is told so instead of shown the form.
"""

from datetime import timedelta

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from labeling.metrics.agreement import MIN_GOLD_ITEMS
from labeling.models import Flag, Item, Label, Queue, SignInThrottle, Skip, Slot
from labeling.rules.calendar import week_start
from labeling.selectors.metrics import week_range
from labeling.selectors.metrics_api import expert_gold_rows
from labeling.services.metrics import refresh_week_metrics
from labeling.services.rubrics import publish_rubric
from tests.factories import PASSWORD, MembershipFactory, OutputFactory, UserFactory
from tests.helpers.labeling import label_outputs
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.django_db]

NEW_PASSWORD = "a brand new passphrase 42"
OWN_PAGE = "/me/"
CHANGE = "/me/password"


def signed_in(client, user):
    client.force_login(user)
    return client


def own_rows(response) -> dict:
    return {entry["figures"].project.slug: entry for entry in response.context["projects"]}


def item_on(project, queue, week) -> Item:
    item = Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project), week=week,
                               overlap=2)  # fmt: skip
    for number in (1, 2):
        Slot.objects.create(item=item, queue=queue, number=number)
    return item


@pytest.fixture
def work(project, expert, other_expert, this_week):
    """This week's work of erin and of ezra: labels, a skip, flags, a live lease."""
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = Queue.objects.create(project=project, slug="all", name="All", overlap=2)
    for seconds in (30, 50, 400):
        Label.objects.create(item=item_on(project, queue, this_week), expert=expert, rubric=rubric, answers={},
                             seconds_spent=seconds)  # fmt: skip
    Label.objects.create(item=item_on(project, queue, this_week), expert=other_expert, rubric=rubric, answers={},
                         seconds_spent=7)  # fmt: skip
    Skip.objects.create(item=item_on(project, queue, this_week), expert=expert)
    Flag.objects.create(item=item_on(project, queue, this_week), expert=expert, note="discuss")
    Flag.objects.create(item=item_on(project, queue, this_week), expert=other_expert, note="mine")
    leased = item_on(project, queue, this_week)
    Slot.objects.filter(item=leased, number=1).update(
        state="leased", expert=expert, lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    return queue


# Who sees what ---------------------------------------------------------------------------------------------------


def test_the_page_needs_a_signed_in_user(client, db):
    for path in (OWN_PAGE, CHANGE):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("persona", ["expert", "lead", "engineer", "outsider"])
def test_the_top_bar_links_every_signed_in_user_to_their_page(client, persona, request):
    page = signed_in(client, request.getfixturevalue(persona)).get("/", follow=True).content.decode()

    assert 'class="who" href="/me/"' in page
    assert client.get(OWN_PAGE).status_code == 200


def test_an_expert_sees_their_own_figures_and_nobody_elses(client, project, expert, other_expert, work):
    response = signed_in(client, expert).get(OWN_PAGE)

    assert response.status_code == 200
    (entry,) = response.context["projects"]
    progress = entry["figures"].progress
    assert progress.user == expert
    assert (progress.labels_this_week, progress.labels_all_time, progress.skips, progress.flags) == (3, 3, 1, 1)
    assert entry["median"] == "50 s"
    page = response.content.decode()
    assert "ezra" not in page and "mine" not in page


def test_the_figures_are_those_the_lead_sees_for_the_expert(client, project, expert, other_expert, lead, work):
    lead_rows = {
        row["progress"].user.username: row
        for row in signed_in(Client(), lead).get(f"/p/{project.slug}/manage/experts/").context["rows"]
    }

    for person in (expert, other_expert, lead):
        (own,) = signed_in(Client(), person).get(OWN_PAGE).context["projects"]
        seen_by_lead = lead_rows[person.username]
        assert own["figures"].progress == seen_by_lead["progress"]
        assert own["median"] == seen_by_lead["median"]


def test_an_engineer_or_an_outsider_elsewhere_sees_no_figures_of_this_project(client, engineer, outsider, work):
    assert signed_in(client, engineer).get(OWN_PAGE).context["projects"] == []  # engineers do not label
    assert [
        entry["figures"].project.slug for entry in signed_in(Client(), outsider).get(OWN_PAGE).context["projects"]
    ] == ["sql-assistant"]


def test_past_weeks_show_the_weekly_close_figures_with_agreement_with_the_gold(client, project, last_week):
    """Five of last week's items labeled by three experts (a majority gold answer): erin's row is the one the weekly
    close stored, and its agreement the one the metrics API gives the leads."""
    occurred = week_start(project, last_week) + timedelta(days=2)
    experts = [UserFactory(username=name) for name in ("erin", "ezra", "ella")]
    for person in experts:
        MembershipFactory(project=project, user=person, role="expert")
    answers = ({"correct": True, "helpful": 2}, {"correct": True, "helpful": 4}, {"correct": True, "helpful": 4})
    items = label_outputs(project, MIN_GOLD_ITEMS, answers=answers, experts=experts, occurred_at=occurred)
    assert {item.week for item in items} == {last_week}
    refresh_week_metrics(project=project, week=last_week)

    response = signed_in(client, experts[0]).get(OWN_PAGE)

    (entry,) = response.context["projects"]
    (row,) = entry["figures"].past_weeks
    (lead_sees,) = [
        row for row in expert_gold_rows(project=project, weeks=week_range(project=project, first=last_week,
                                                                          last=last_week)) if row["expert"] == "erin"
    ]  # fmt: skip
    assert (row.week, row.labels, row.gold_rate, row.gold_compared) == (
        last_week, MIN_GOLD_ITEMS, lead_sees["gold_rate"], lead_sees["compared"]
    )  # fmt: skip
    assert row.gold_rate == 0.5  # erin's yes agrees with the gold answer each time, her 2 for helpful never
    cells = response.content.decode().split(f'data-week="{last_week.isoformat()}"')[1].split("</tr>")[0]
    assert f"{round(row.gold_rate * 100)}%" in cells and f"of {row.gold_compared} answers" in cells
    assert "too few" not in cells


def test_a_week_whose_agreement_with_the_gold_stands_on_too_few_items_shows_no_rate(client, project, last_week):
    """Two items compared with the gold: 50% over two items means nothing, so the row says why it shows no rate, in
    the sentence the agreement figures use; the stored rate and the metrics API's are unchanged (flagged there)."""
    occurred = week_start(project, last_week) + timedelta(days=2)
    experts = [UserFactory(username=name) for name in ("erin", "ezra", "ella")]
    for person in experts:
        MembershipFactory(project=project, user=person, role="expert")
    answers = ({"correct": True, "helpful": 2}, {"correct": True, "helpful": 4}, {"correct": True, "helpful": 4})
    label_outputs(project, 2, answers=answers, experts=experts, occurred_at=occurred)
    refresh_week_metrics(project=project, week=last_week)

    response = signed_in(client, experts[0]).get(OWN_PAGE)

    (row,) = own_rows(response)[project.slug]["figures"].past_weeks
    assert row.gold_rate == 0.5
    cells = response.content.decode().split(f'data-week="{last_week.isoformat()}"')[1].split("</tr>")[0]
    assert f"2 items: too few for a gold agreement figure ({MIN_GOLD_ITEMS} needed)" in cells
    assert "50%" not in cells


def test_the_page_runs_two_queries_more_per_project(client, project, other_project, expert, django_assert_num_queries):
    signed_in(client, expert)
    # session, user, memberships with their projects, past weeks, then per project its members' counts and seconds
    with django_assert_num_queries(6):
        client.get(OWN_PAGE)
    MembershipFactory(project=other_project, user=expert, role="expert")
    with django_assert_num_queries(8):
        client.get(OWN_PAGE)


# Password ---------------------------------------------------------------------------------------------------------


def change(client, old=PASSWORD, new=NEW_PASSWORD, again=None):
    return client.post(CHANGE, {"old_password": old, "new_password1": new, "new_password2": again or new})


def test_an_expert_changes_their_password_with_the_old_one_and_stays_signed_in(client, expert):
    elsewhere = signed_in(Client(), expert)  # another browser signed in as erin
    signed_in(client, expert)
    assert 'href="/me/password"' in client.get(OWN_PAGE).content.decode()

    response = change(client)

    assert response.status_code == 302 and response["Location"] == OWN_PAGE
    assert "Your password is changed." in client.get(OWN_PAGE).content.decode()
    expert.refresh_from_db()
    assert expert.check_password(NEW_PASSWORD) and not expert.check_password(PASSWORD)
    assert client.get(OWN_PAGE).status_code == 200  # still signed in here
    assert elsewhere.get(OWN_PAGE).status_code == 302  # signed out there


@pytest.mark.parametrize(
    ("old", "new", "again", "field"),
    [
        ("not my password", NEW_PASSWORD, None, "old_password"),
        ("", NEW_PASSWORD, None, "old_password"),
        (PASSWORD, NEW_PASSWORD, "something else entirely", "new_password2"),
        (PASSWORD, "123", None, "new_password2"),
    ],
)
def test_a_refused_change_says_why_and_changes_nothing(client, expert, old, new, again, field):
    response = change(signed_in(client, expert), old, new, again)

    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert 'role="alert"' in response.content.decode()
    expert.refresh_from_db()
    assert expert.check_password(PASSWORD)


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=3, SIGNIN_ADDRESS_FAILURE_LIMIT=1000, SIGNIN_LOCKOUT_SECONDS=600)
def test_wrong_old_passwords_lock_the_change_as_they_lock_the_sign_in(client, expert):
    """A stolen session cannot guess the old password without limit: the change counts as a sign-in does."""
    signed_in(client, expert)

    answers = [change(client, old=f"guess {n}") for n in range(3)]

    assert [answer.status_code for answer in answers] == [400, 400, 429]  # the 3rd failure locks
    refused = change(client)  # now even the right old password
    assert refused.status_code == 429
    assert "Too many failed sign-ins for this account: sign-in is locked for 10 minutes." in refused.content.decode()
    expert.refresh_from_db()
    assert expert.check_password(PASSWORD) and not expert.check_password(NEW_PASSWORD)
    # The same lock as the login page's.
    login = Client().post("/login/", {"username": expert.username, "password": PASSWORD})
    assert login.status_code == 429


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=1, SIGNIN_ADDRESS_FAILURE_LIMIT=1000, SIGNIN_LOCKOUT_SECONDS=600)
def test_the_lockout_page_of_a_refused_change_speaks_of_the_password_change(client, expert):
    """Someone changing their password on /me/ is told their change was refused, not a sign-in they never tried."""
    signed_in(client, expert)

    locking = change(client, old="a guess").content.decode()  # the failure that locks
    while_locked = change(client).content.decode()  # then any try while the lock lasts

    for page in (locking, while_locked):
        assert "<title>Password change refused · expertloop</title>" in page
        assert "<h1>Password change refused</h1>" in page
        assert '<a href="/me/password">Back to the password change</a>' in page
        assert "Sign-in refused" not in page and "Back to sign in" not in page
    # The sign-in's own lockout page keeps its words.
    login = Client().post("/login/", {"username": expert.username, "password": PASSWORD}).content.decode()
    assert "<h1>Sign-in refused</h1>" in login and "Back to sign in" in login


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=3, SIGNIN_ADDRESS_FAILURE_LIMIT=1000, SIGNIN_LOCKOUT_SECONDS=600)
def test_the_right_old_password_clears_the_failures_as_a_sign_in_does(client, expert):
    signed_in(client, expert)
    change(client, old="guess 1")
    change(client, old="guess 2")
    assert SignInThrottle.objects.get(kind="account", key=expert.username).failures == 2

    assert change(client).status_code == 302
    assert not SignInThrottle.objects.filter(kind="account", key=expert.username).exists()


def test_the_password_form_is_protected_against_csrf(expert):
    client = signed_in(Client(enforce_csrf_checks=True), expert)
    assert "csrfmiddlewaretoken" in client.get(CHANGE).content.decode()

    assert change(client).status_code == 403
    expert.refresh_from_db()
    assert expert.check_password(PASSWORD)


def account_without_password(project, username):
    user = get_user_model().objects.create_user(username=username, email=f"{username}@example.com")  # no password
    MembershipFactory(project=project, user=user, role="expert")
    return user


def refuses_to_change(client, user) -> bool:
    refused = client.get(CHANGE).status_code == 404 and change(client, old="").status_code == 404
    user.refresh_from_db()
    return refused and not user.has_usable_password()


@override_settings(OIDC_ISSUER="https://idp.example.com", OIDC_NAME="Acme sign-in")
def test_an_account_that_signs_in_through_the_provider_is_told_it_has_no_password_instead_of_shown_the_form(
    client, project
):
    user = account_without_password(project, "sam")
    SocialAccount.objects.create(user=user, provider="sso", uid="sam-at-the-provider")
    page = signed_in(client, user).get(OWN_PAGE).content.decode()

    assert "Your account has no password: you sign in with Acme sign-in, so there is none to change here." in page
    # No reset link either: the login page's "Forgot your password?" gives such an account no first password.
    assert 'href="/me/password"' not in page and 'href="/password-reset/"' not in page
    assert refuses_to_change(client, user)


def test_an_account_made_without_a_password_is_pointed_to_choosing_one_by_email(client, project):
    user = account_without_password(project, "nina")  # as create_project adds a member
    page = signed_in(client, user).get(OWN_PAGE).content.decode()

    assert "Your account has no password yet." in page and "a link is sent to <bdi>nina@example.com</bdi>" in page
    assert 'href="/me/password"' not in page and 'href="/password-reset/"' in page
    assert refuses_to_change(client, user)


@override_settings(PASSWORD_SIGN_IN=False, OIDC_ISSUER="https://idp.example.com", OIDC_NAME="Acme sign-in")
def test_with_password_sign_in_off_no_password_is_offered(client, expert):
    page = signed_in(client, expert).get(OWN_PAGE).content.decode()

    assert "Password sign-in is turned off here: you sign in with Acme sign-in" in page
    assert 'href="/me/password"' not in page
    assert change(client).status_code == 404
    expert.refresh_from_db()
    assert expert.check_password(PASSWORD)
