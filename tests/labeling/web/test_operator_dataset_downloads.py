"""An operator who is not a member reads a project's dataset versions page (`rules.access.read_project`) and, by the
same rule, downloads a version's files through its links (the REST API's download, with the session); each such
download is written to the project's audit log, so its leads see who outside the project took their data. Nothing
else of the datasets API opens to them."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import AuditEvent, Dataset, DatasetVersion, OutboxMessage, VersionFile
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from labeling.services.version_files import render_version_files, sweep_superseded_files
from tests.helpers.labeling import label_outputs

pytestmark = pytest.mark.django_db

PAGE = "/p/{slug}/datasets/support-eval/"
API = "/api/v1/projects/{slug}/datasets/support-eval"


@pytest.fixture
def version(project, lead):
    label_outputs(project, 2)
    dataset = create_dataset(project=project, spec={"name": "Support eval"}, actor=lead)
    return build_version(dataset_id=dataset.pk)


def download_links(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in re.findall(r'<a class="dl" href="([^"]+)"', html)]


def test_an_operator_downloads_a_versions_files_from_the_page_and_the_leads_see_it_in_the_audit_log(
    client, project, operator, lead, version
):
    client.force_login(operator)

    page = client.get(PAGE.format(slug=project.slug)).content.decode()
    links = download_links(page)
    jsonl = next(link for link in links if link.endswith("format=jsonl"))
    csv = next(link for link in links if link.endswith("format=csv"))
    got, got_csv = client.get(jsonl), client.get(csv)

    assert links and all(link.startswith(API.format(slug=project.slug) + "/versions/1/download") for link in links)
    assert got.status_code == got_csv.status_code == 200
    body = b"".join(got.streaming_content)
    assert hashlib.sha256(body).hexdigest() == DatasetVersion.objects.get(pk=version.pk).sha256
    assert b"".join(got_csv.streaming_content).startswith(b"id,")
    events = list(AuditEvent.objects.filter(action="dataset.downloaded").order_by("pk"))
    assert [(event.project_id, event.actor, event.details["format"]) for event in events] == [
        (project.pk, operator, "jsonl"),
        (project.pk, operator, "csv"),
    ]
    assert events[0].details == {"dataset": "support-eval", "name": "Support eval", "version": 1,
                                      "format": "jsonl", "operator": True}  # fmt: skip
    client.force_login(lead)
    audit = client.get(f"/p/{project.slug}/manage/audit/").content.decode()
    assert "Downloaded version 1 of the dataset “Support eval” as JSONL (an operator, not a member)" in audit
    assert "opal" in audit


def test_a_members_download_is_not_audited_and_neither_is_an_unchanged_copy(
    client, project, engineer, operator, version
):
    """The members' downloads are theirs to make (as before); an operator's 304 (the copy they hold is current) took
    nothing."""
    client.force_login(engineer)
    assert client.get(API.format(slug=project.slug) + "/versions/1/download").status_code == 200
    client.force_login(operator)
    etag = client.get(API.format(slug=project.slug) + "/versions/1/download")["ETag"]

    unchanged = client.get(API.format(slug=project.slug) + "/versions/1/download", HTTP_IF_NONE_MATCH=etag)

    assert unchanged.status_code == 304
    assert AuditEvent.objects.filter(action="dataset.downloaded").count() == 1  # the operator's first, not the 304


def test_an_operator_reads_what_the_page_shows_not_the_rest_of_the_datasets_api(client, project, operator, version):
    """The page shows them the dataset, its versions and their downloads: so does the API (tests/api/
    test_role_refusals_api.py). The rows, the diff and every write stay the members'."""
    client.force_login(operator)
    base = API.format(slug=project.slug)

    shown = [client.get(f"{base}{path}") for path in ("", "/versions", "/versions/1")]
    reads = [client.get(f"{base}{path}") for path in ("/versions/1/rows", "/diff")]
    build = client.post(f"{base}/build", {}, content_type="application/json")
    created = client.post(
        f"/api/v1/projects/{project.slug}/datasets", {"name": "Mine"}, content_type="application/json"
    )

    # They know the project: told it is its members' (a 403 with the reason), as a member of another role is.
    assert [response.status_code for response in shown] == [200] * 3
    assert [response.status_code for response in reads] == [403] * 2
    assert build.status_code == created.status_code == 403
    assert "not as one of its members" in build.json()["errors"][0]["message"]
    assert list(Dataset.objects.values_list("slug", "build_requested_at")) == [("support-eval", None)]


def test_a_signed_in_stranger_and_another_projects_key_still_get_a_404(
    client, project, other_project, outsider, version
):
    client.force_login(outsider)
    assert client.get(API.format(slug=project.slug) + "/versions/1/download").status_code == 404
    client.logout()
    key = create_api_key(project=other_project, name="reader", scopes=["read"]).secret
    response = client.get(API.format(slug=project.slug) + "/versions/1/download", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="dataset.downloaded").exists()


def test_an_operator_sees_a_swept_file_as_not_on_disk_without_the_members_prepare_button(
    client, project, operator, version, settings
):
    """ "Prepare" asks a worker to make the file again: a change, the members'. The operator is told why no link."""
    render_version_files(version_id=version.pk)
    settings.DATASET_FILES_KEEP_LATEST = 0
    sweep_superseded_files(now=timezone.now() + timedelta(days=settings.DATASET_FILES_KEEP_DAYS + 1))
    client.force_login(operator)

    html = client.get(PAGE.format(slug=project.slug)).content.decode()

    assert [link.rsplit("=", 1)[1] for link in download_links(html)] == ["jsonl", "csv"]
    assert "PARQUET not on disk" in html and "HF not on disk" in html
    assert "Prepare" not in html and "/prepare" not in html
    assert set(VersionFile.objects.filter(version=version).values_list("state", flat=True)) == {"on_request"}


def test_an_operator_viewing_a_failed_file_asks_for_nothing_and_a_member_viewing_it_asks_for_it_again(
    client, project, operator, engineer, version, django_capture_on_commit_callbacks
):
    """Viewing the page asks a worker to make a failed file again: a change, which an operator who is not a member
    does not make (they change nothing). They read why it failed and that a member has it made again (their page has
    no link that would); a member's view asks for it, as before."""
    render_version_files(version_id=version.pk)
    failed = VersionFile.objects.filter(version=version, format="hf")
    failed.update(state="failed", error="PermissionError: [Errno 13] Permission denied: '/srv/media/7/hf.zip.part'")
    OutboxMessage.objects.all().delete()
    client.force_login(operator)

    with django_capture_on_commit_callbacks():
        html = client.get(PAGE.format(slug=project.slug)).content.decode()

    assert "HF not on disk" in html and "Prepare" not in html
    assert "The last try failed (the file could not be written); a member of the project has it made again." in html
    assert "a download makes it again" not in html
    assert failed.get().state == "failed" and not OutboxMessage.objects.exists()

    client.force_login(engineer)
    with django_capture_on_commit_callbacks():
        html = client.get(PAGE.format(slug=project.slug)).content.decode()
    assert "HF preparing…" in html and "it is being made again" in html
    assert failed.get().state == "pending"
    assert list(OutboxMessage.objects.values_list("task", flat=True)) == ["labeling.render_version_files"]


def test_an_operators_copy_is_audited_once_though_fetched_in_ranges_or_looked_at_with_head(
    client, project, operator, version
):
    """A download manager fetches a file in ranges, and looks first with HEAD: each answer was an audit entry, so one
    copy filled the leads' log. A copy is one entry: its first range (or the whole file), not a HEAD or the rest."""
    render_version_files(version_id=version.pk)
    client.force_login(operator)
    url = API.format(slug=project.slug) + "/versions/1/download?format=parquet"

    assert client.head(url).status_code == 200
    first = client.get(url, HTTP_RANGE="bytes=0-99")
    rest = client.get(url, HTTP_RANGE="bytes=100-")

    assert (first.status_code, rest.status_code) == (206, 206)
    assert AuditEvent.objects.filter(action="dataset.downloaded").count() == 1
    # The whole file asked for otherwise is a copy too: a zero written twice, a suffix longer than the file.
    for whole in ("bytes=00-", "bytes=-999999999"):
        assert client.get(url, HTTP_RANGE=whole).status_code == 206
    assert AuditEvent.objects.filter(action="dataset.downloaded").count() == 3
