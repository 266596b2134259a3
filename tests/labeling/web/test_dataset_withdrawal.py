"""A lead withdraws a dataset version on the dataset's page: bad gold, or text redacted since it was built.

The version's rows, the lines only it held and its rendered files go; the record stays (number, checksum, counts, who,
when, why); engineers asking for it are answered 410 Gone with the reason, and `latest` names the version before.
Only leads and admins may (engineers get a 403, experts and outsiders a 404); a second withdrawal changes nothing; a
version still building is refused; a reason missing shows the form again and changes nothing.
"""

from html import escape
from pathlib import Path

import pytest
from django.conf import settings

from labeling.models import AuditEvent, DatasetLine, DatasetRow, DatasetVersion, VersionFile, VersionStatus
from labeling.services.datasets import build_version, create_dataset
from labeling.services.version_files import version_directory
from tests.helpers.labeling import label_outputs
from tests.helpers.version_files import rendered

REASON = "The refund answers' gold says 14 days; the policy is 30 since March. Use v3 once rebuilt."
API = "/api/v1/projects/support-bot/datasets/support-eval"
PAGE = "/p/support-bot/datasets/support-eval/"


# The session and user, the lead's membership with the project, the dataset, then the withdrawal's locks, deletes,
# audit and webhook events, and the message for the next page.
WITHDRAWAL_QUERIES = 18


def withdraw_url(number) -> str:
    return f"{PAGE}v{number}/withdraw"


@pytest.fixture
def versions(project):
    """v1 (three items) and v2 (two more), both ready, their Parquet and hf files rendered."""
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    first = rendered(build_version(dataset_id=dataset.pk))
    label_outputs(project, 2)
    second = rendered(build_version(dataset_id=dataset.pk))
    return first, second


def test_a_lead_withdraws_a_version_and_engineers_are_answered_410_with_the_reason(
    client, project, lead, engineer, versions, django_capture_on_commit_callbacks
):
    first, second = versions
    directory = Path(settings.MEDIA_ROOT, version_directory(second.pk))
    assert directory.is_dir() and VersionFile.objects.filter(version=second).exists()
    lines_of = {version: set(version.rows.values_list("line_id", flat=True)) for version in versions}
    only_in_second = lines_of[second] - lines_of[first]
    client.force_login(lead)
    page = client.get(PAGE).content.decode()
    assert f'action="{withdraw_url(2)}"' in page and f'action="{withdraw_url(1)}"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(withdraw_url(2), {"reason": f"  {REASON}  "}, follow=True)

    assert response.status_code == 200
    shown = response.content.decode()
    assert "v2 withdrawn: its rows and files are deleted" in shown and "“latest” is now v1." in shown
    assert escape(REASON) in shown and "by <bdi>lena</bdi>" in shown and f'action="{withdraw_url(2)}"' not in shown
    # The record stays, with who, when and why; its rows, the lines only it held and its files are gone.
    withdrawn = DatasetVersion.objects.get(pk=second.pk)
    assert (withdrawn.status, withdrawn.withdrawn_note) == (VersionStatus.WITHDRAWN, REASON)
    assert withdrawn.withdrawn_by == lead
    assert withdrawn.withdrawn_at is not None and withdrawn.withdrawn_by_key is None
    assert (withdrawn.number, withdrawn.sha256, withdrawn.row_count) == (2, second.sha256, 5)
    assert withdrawn.split_counts == second.split_counts
    assert not DatasetRow.objects.filter(version=second).exists()
    assert only_in_second and not DatasetLine.objects.filter(pk__in=only_in_second).exists()
    assert first.rows.count() == 3  # the version before keeps every row, the lines it shares included
    assert not VersionFile.objects.filter(version=second).exists() and not directory.exists()
    [audit] = AuditEvent.objects.filter(action="dataset.version_withdrawn")
    assert audit.actor == lead
    assert audit.details | {"dataset": None} == {
        "dataset": None, "slug": "support-eval", "name": "Support eval", "version": 2, "sha256": second.sha256,
        "rows": 5, "reason": REASON,
    }  # fmt: skip

    client.force_login(engineer)
    download = client.get(f"{API}/versions/2/download?format=jsonl")
    assert download.status_code == 410
    assert download.json()["errors"][0]["message"] == f"Version 2 was withdrawn. {REASON}"
    assert client.get(f"{API}/versions/2/rows").status_code == 410
    assert client.get(f"{API}/diff?from=1&to=2").status_code == 410
    latest = client.get(f"{API}/versions/latest/download?format=jsonl")
    assert latest.status_code == 200 and latest["X-Dataset-Version"] == "1"
    assert client.get(API).json()["latest_version"] == 1
    record = client.get(f"{API}/versions/2").json()
    assert (record["status"], record["withdrawn_note"], record["withdrawn_by"]) == ("withdrawn", REASON, "lena")
    assert (record["sha256"], record["row_count"]) == (second.sha256, 5)
    engineer_page = client.get(PAGE).content.decode()
    assert escape(REASON) in engineer_page and "versions/2/download" not in engineer_page
    assert "Withdraw…" not in engineer_page  # engineers see no withdraw form


def test_withdrawing_twice_is_harmless(client, project, lead, versions):
    _, second = versions
    client.force_login(lead)
    client.post(withdraw_url(2), {"reason": REASON})

    again = client.post(withdraw_url(2), {"reason": "Another reason, sent by a second click."}, follow=True)

    assert again.status_code == 200 and "v2 was withdrawn already" in again.content.decode()
    second.refresh_from_db()
    assert second.status == VersionStatus.WITHDRAWN and second.withdrawn_note == REASON
    assert AuditEvent.objects.filter(action="dataset.version_withdrawn").count() == 1


@pytest.mark.parametrize("reason", ["", "   \n ", "x" * 2001, "bad\x00byte"])
def test_a_reason_missing_or_unstorable_shows_the_form_again_and_withdraws_nothing(
    client, project, lead, versions, reason
):
    client.force_login(lead)

    response = client.post(withdraw_url(2), {"reason": reason})

    assert response.status_code == 400
    page = response.content.decode()
    assert '<details class="withdraw-box" open>' in page and 'role="alert"' in page
    assert ("Say why the version is withdrawn" in page) is (not reason.strip())
    assert DatasetVersion.objects.get(number=2).status == VersionStatus.READY
    assert DatasetRow.objects.filter(version__number=2).count() == 5
    assert not AuditEvent.objects.filter(action="dataset.version_withdrawn").exists()


def test_a_version_still_building_or_failed_is_refused(client, project, lead, versions):
    first, _ = versions
    DatasetVersion.objects.create(dataset=first.dataset, number=3, status=VersionStatus.BUILDING)
    DatasetVersion.objects.create(dataset=first.dataset, number=4, status=VersionStatus.FAILED)
    client.force_login(lead)

    building = client.post(withdraw_url(3), {"reason": REASON})
    failed = client.post(withdraw_url(4), {"reason": REASON})

    assert building.status_code == 409 and "still being built" in building.content.decode()
    assert failed.status_code == 409 and "failed" in failed.content.decode()
    assert client.post(withdraw_url(9), {"reason": REASON}).status_code == 404
    assert client.post(withdraw_url(10**12), {"reason": REASON}).status_code == 404
    statuses = dict(DatasetVersion.objects.values_list("number", "status"))
    assert statuses == {1: "ready", 2: "ready", 3: "building", 4: "failed"}


def test_engineers_and_experts_are_told_why_and_outsiders_nothing(
    client, project, engineer, expert, outsider, versions
):
    """A 404 each, as every page a role does not open answers: the members know the project, so are told why."""
    for persona, reason in (
        (engineer, "Only the project&#x27;s leads and admins withdraw"),
        (expert, "Only the project&#x27;s engineers, leads and admins open its datasets"),
        (outsider, None),
    ):
        client.force_login(persona)
        refused = client.post(withdraw_url(2), {"reason": REASON})
        assert refused.status_code == 404
        assert (reason in refused.content.decode()) if reason else 'role="alert"' not in refused.content.decode()

    assert set(DatasetVersion.objects.values_list("status", flat=True)) == {VersionStatus.READY}
    assert not AuditEvent.objects.filter(action="dataset.version_withdrawn").exists()


def test_an_admin_withdraws_and_withdrawing_the_only_ready_version_leaves_no_latest(client, project, versions):
    from tests.conftest import _member

    client.force_login(_member(project, "ada", "admin"))
    client.post(withdraw_url(2), {"reason": REASON})

    response = client.post(withdraw_url(1), {"reason": REASON}, follow=True)

    assert "No version is ready now" in response.content.decode()
    assert client.get(f"{API}/versions/latest").status_code == 404
    assert client.get(API).json()["latest_version"] is None


def test_a_withdrawal_that_fails_midway_leaves_the_version_whole(client, project, lead, versions, monkeypatch):
    """Nothing half written: a failure after the rows were deleted (here, telling the webhooks) rolls them back, and
    the files stay on disk (they are deleted only once the withdrawal commits)."""
    from labeling.services import webhook_events

    _, second = versions
    directory = Path(settings.MEDIA_ROOT, version_directory(second.pk))

    def broken(*args, **kwargs):
        raise RuntimeError("webhook outbox unavailable")

    monkeypatch.setattr(webhook_events, "dataset_version_withdrawn", broken)
    client.force_login(lead)
    client.raise_request_exception = False

    response = client.post(withdraw_url(2), {"reason": REASON})

    assert response.status_code == 500
    second.refresh_from_db()
    assert second.status == VersionStatus.READY and second.withdrawn_note == "" and second.withdrawn_by is None
    assert DatasetRow.objects.filter(version=second).count() == 5
    assert VersionFile.objects.filter(version=second).exists() and directory.is_dir()
    assert not AuditEvent.objects.filter(action="dataset.version_withdrawn").exists()


def test_a_lead_withdrawing_is_asked_their_membership_once(client, project, lead, versions, django_assert_num_queries):
    """The page's own check (`role_project`) read the lead's role: withdrawing asks it no second time."""
    client.force_login(lead)

    with django_assert_num_queries(WITHDRAWAL_QUERIES) as captured:
        response = client.post(withdraw_url(2), {"reason": REASON})

    assert response.status_code == 302
    memberships = [query["sql"] for query in captured.captured_queries if '"labeling_membership"' in query["sql"]]
    assert len(memberships) == 1, memberships
