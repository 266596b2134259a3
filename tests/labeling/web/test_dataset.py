"""Datasets in the browser: the list, the "new dataset" form, a dataset's versions and "build now".

Engineers, leads and admins of the project only (experts and outsiders get a 404), another project's
dataset is a 404, bad input re-renders with a 400 and stores nothing, pages run a fixed number of
queries. "Build now" enqueues the build after commit; the test runs the task itself, as a worker would.
"""

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape as html_unescape

import pytest
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.html import escape

from labeling.models import (
    Dataset,
    DatasetVersion,
    OutboxMessage,
    Project,
    VersionFile,
    VersionFileState,
    VersionStatus,
)
from labeling.services.cycles import close_week
from labeling.services.datasets import build_version, create_dataset, request_build
from labeling.services.rubrics import publish_rubric
from labeling.services.version_files import render_version_files, sweep_superseded_files
from tests.conftest import Api
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.labeling import label_outputs
from tests.helpers.rubrics import CHOICE, QUESTIONS, RATING
from tests.outbox import enqueued, run_as_worker


def form_data(**overrides) -> dict:
    """What the "new dataset" form posts, filled in as an engineer would."""
    data = {
        "name": "Support eval",
        "description": "Resolved answers of the sample queue.",
        "queues": ["sample"],
        "questions": ["correct", "fix"],
        "only_resolved": "on",
        "tags_any": "shipping, billing",
        "since": "2026-11-01",
        "until": "2026-12-01",
        "splits": "train=70, dev=10, test=20",
        "auto_rebuild": "on",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def urls(project, dataset_slug="support-eval"):
    base = f"/p/{project.slug}/datasets/"
    return {
        "list": base,
        "create": f"{base}new",
        "detail": f"{base}{dataset_slug}/",
        "build": f"{base}{dataset_slug}/build",
        "prepare": f"{base}{dataset_slug}/v1/prepare",
    }


@pytest.fixture
def engineer_client(client, engineer):
    client.force_login(engineer)
    return client


@pytest.fixture
def dataset(project):
    return create_dataset(project=project, spec={"name": "Support eval"})


# Access ---------------------------------------------------------------------------------------------------------


def test_pages_need_a_signed_in_user(client, project, dataset):
    for url in urls(project).values():
        response = client.get(url)
        assert response.status_code in (302, 405)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login/")


@pytest.mark.parametrize("persona", ["expert", "outsider"])
def test_it_validates_ownership(client, project, dataset, persona, request, django_capture_on_commit_callbacks):
    """Experts and outsiders see 404 on every dataset page, and their POSTs create or enqueue nothing."""
    client.force_login(request.getfixturevalue(persona))
    paths = urls(project)

    for name in ("list", "create", "detail"):
        assert client.get(paths[name]).status_code == 404, name
    with django_capture_on_commit_callbacks() as callbacks:
        assert client.post(paths["create"], form_data(name="Mine")).status_code == 404
        assert client.post(paths["build"]).status_code == 404

    assert callbacks == [] and not OutboxMessage.objects.exists()
    assert list(Dataset.objects.values_list("slug", flat=True)) == ["support-eval"]
    assert Dataset.objects.get().build_requested_at is None


@pytest.mark.parametrize("role", ["engineer", "lead", "admin"])
def test_engineers_leads_and_admins_may_use_datasets(client, project, dataset, role):
    client.force_login(MembershipFactory(project=project, role=role, user=UserFactory(username=f"u-{role}")).user)
    response = client.get(urls(project)["list"])
    assert response.status_code == 200
    # Engineers see the Datasets tab only; leads and admins every manage tab.
    assert ("Adjudication" in response.content.decode()) is (role != "engineer")
    assert client.get(urls(project)["detail"]).status_code == 200
    assert client.get(urls(project)["create"]).status_code == 200


def test_it_validates_ownership_of_a_dataset_slug(engineer_client, project, other_project,
                                                  django_capture_on_commit_callbacks):  # fmt: skip
    """Another project's dataset, named through this project's URLs, is a 404 and is never built."""
    foreign = create_dataset(project=other_project, spec={"name": "Theirs"})
    paths = urls(project, foreign.slug)

    assert engineer_client.get(paths["detail"]).status_code == 404
    with django_capture_on_commit_callbacks() as callbacks:
        assert engineer_client.post(paths["build"]).status_code == 404
    assert engineer_client.get(urls(other_project, foreign.slug)["detail"]).status_code == 404
    assert engineer_client.get(urls(other_project)["list"]).status_code == 404
    assert callbacks == [] and not OutboxMessage.objects.exists()
    foreign.refresh_from_db()
    assert foreign.build_requested_at is None


def tabs(html: str) -> list[str]:
    """The names of the sub-navigation's tabs."""
    nav = html[html.index('<nav class="subnav"') : html.index("</nav>", html.index('<nav class="subnav"'))]
    return re.findall(r"<a href=\"[^\"]+\"[^>]*>([^<]+)</a>", nav.split('class="tabs"', 1)[1])


def test_a_lead_keeps_every_manage_tab_on_the_dataset_and_adjudication_pages(client, lead, engineer, project):
    """The same tabs as on the queues page, not a shorter row that loses Members, Settings or the audit log."""
    client.force_login(lead)
    every = tabs(client.get(f"/p/{project.slug}/manage/queues/").content.decode())
    assert "Settings" in every and "Audit log" in every
    for page in (urls(project)["list"], urls(project)["create"], f"/p/{project.slug}/manage/adjudication/"):
        assert tabs(client.get(page).content.decode()) == every, page
    client.force_login(engineer)  # their own tabs, the same on each of their pages
    engineering = ["Datasets", "API keys", "Webhooks"]
    for page in (urls(project)["list"], f"/p/{project.slug}/keys/", f"/p/{project.slug}/manage/webhooks/"):
        assert tabs(client.get(page).content.decode()) == engineering, page


def test_build_needs_a_post(engineer_client, project, dataset):
    assert engineer_client.get(urls(project)["build"]).status_code == 405


# Create ---------------------------------------------------------------------------------------------------------


def test_an_engineer_creates_a_dataset_from_the_form(engineer_client, project):
    label_outputs(project, 1)  # the `sample` queue and the shared rubric
    page = engineer_client.get(urls(project)["create"])
    assert [key for key, _ in page.context["form"].fields["questions"].choices] == [
        "correct", "helpful", "tone", "issues", "critique", "fix",
    ]  # fmt: skip

    response = engineer_client.post(urls(project)["create"], form_data())

    assert response.status_code == 302 and response.headers["Location"] == urls(project)["detail"]
    dataset = Dataset.objects.get(project=project)
    assert (dataset.name, dataset.description) == ("Support eval", "Resolved answers of the sample queue.")
    assert [queue.slug for queue in dataset.queues.all()] == ["sample"]
    assert dataset.questions == ["correct", "fix"]
    assert dataset.only_resolved is True and dataset.auto_rebuild is True
    assert dataset.splits == {"dev": 10, "test": 20, "train": 70}
    assert dataset.filters["tags_any"] == ["shipping", "billing"]
    # Dates are midnight in the project's time zone; "until" is the first day left out.
    since = datetime.fromisoformat(dataset.filters["since"])
    assert since.astimezone(project.tzinfo).replace(tzinfo=None) == datetime(2026, 11, 1)
    assert datetime.fromisoformat(dataset.filters["until"]) > since


def test_unticked_boxes_mean_all_queues_every_question_and_every_labeled_item(engineer_client, project):
    response = engineer_client.post(
        urls(project)["create"],
        form_data(queues=None, questions=None, only_resolved=None, auto_rebuild=None, tags_any="", since="", until="",
                  splits="train=80, test=20"),
    )  # fmt: skip
    assert response.status_code == 302
    dataset = Dataset.objects.get()
    assert (list(dataset.queues.all()), dataset.questions, dataset.filters) == ([], [], {})
    assert dataset.only_resolved is False and dataset.auto_rebuild is False


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"splits": "train=90, test=20"}, "adding up to 100"),
        ({"splits": "Train Set=100"}, "Split names are lowercase"),
        ({"splits": "train=eighty"}, "whole number of percent"),
        ({"splits": "train=80, train=20"}, "given twice"),
        ({"splits": ""}, "This field is required"),
        ({"name": ""}, "This field is required"),
        ({"name": "\x00"}, "Null characters are not allowed"),
        ({"name": "!!!"}, "at least one letter or digit"),
        ({"queues": ["not-a-queue"]}, "Select a valid choice"),
        ({"questions": ["colour"]}, "Select a valid choice"),
        ({"since": "2026-12-01", "until": "2026-11-01"}, "Pick a day after the first one"),
        ({"since": "yesterday"}, "Enter a valid date"),
    ],
)
def test_bad_input_is_refused_with_400_and_nothing_is_stored(engineer_client, project, overrides, message):
    label_outputs(project, 1)
    response = engineer_client.post(urls(project)["create"], form_data(**overrides))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert "The dataset was not created." in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_taken_name_is_refused(engineer_client, project, dataset):
    response = engineer_client.post(urls(project)["create"], form_data(queues=None, questions=None))
    assert response.status_code == 400 and "exists already" in response.content.decode()
    assert Dataset.objects.count() == 1


@pytest.mark.parametrize(
    "name, slug", [("../../etc/passwd", "etcpasswd"), ("'\"; drop table datasets", "drop-table-datasets")]
)
def test_names_with_paths_or_quotes_become_plain_slugs(engineer_client, project, name, slug):
    response = engineer_client.post(urls(project)["create"], form_data(name=name, queues=None, questions=None))

    assert response.status_code == 302 and response.headers["Location"] == urls(project, slug)["detail"]
    assert Dataset.objects.get().slug == slug
    assert engineer_client.get(response.headers["Location"]).status_code == 200


# List and detail --------------------------------------------------------------------------------------------------


def test_the_list_shows_each_datasets_latest_ready_version(engineer_client, project, dataset):
    label_outputs(project, 5)
    build_version(dataset_id=dataset.pk)
    label_outputs(project, 3, start=100)
    second = build_version(dataset_id=dataset.pk)
    DatasetVersion.objects.create(dataset=dataset, number=3, status=VersionStatus.FAILED)
    create_dataset(project=project, spec={"name": "Empty one"})

    response = engineer_client.get(urls(project)["list"])

    summaries = {summary.dataset.slug: summary for summary in response.context["summaries"]}
    assert summaries["support-eval"].latest == second and summaries["empty-one"].latest is None
    html = response.content.decode()
    assert 'data-version="2"' in html and 'data-rows="8"' in html and second.sha256[:12] in html
    assert "No version yet" in html and "New dataset" in html


def test_the_list_runs_a_fixed_number_of_queries(engineer_client, project, dataset, django_assert_num_queries):
    label_outputs(project, 2)
    build_version(dataset_id=dataset.pk)
    # session, user, project with membership, datasets with latest version id, their queues, the latest versions
    with django_assert_num_queries(6):
        engineer_client.get(urls(project)["list"])
    for index in range(3):
        build_version(dataset_id=create_dataset(project=project, spec={"name": f"More {index}"}).pk)
    with django_assert_num_queries(6):
        response = engineer_client.get(urls(project)["list"])
    assert len(response.context["summaries"]) == 4


def test_the_detail_page_lists_every_version_with_downloads_and_a_diff(engineer_client, project, dataset):
    label_outputs(project, 4)
    first = build_version(dataset_id=dataset.pk)
    label_outputs(project, 2, start=100)
    second = build_version(dataset_id=dataset.pk)
    for version in (first, second):
        render_version_files(version_id=version.pk)

    response = engineer_client.get(urls(project)["detail"])

    html = response.content.decode()
    api = f"/api/v1/projects/{project.slug}/datasets/{dataset.slug}"
    for version in (first, second):
        for fmt in ("jsonl", "csv", "parquet", "hf"):
            assert f'href="{api}/versions/{version.number}/download?format={fmt}"' in html
        assert version.sha256 in html
    assert f'href="{api}/diff?from=1&amp;to=2"' in html
    assert [row["version"].number for row in response.context["rows"]] == [2, 1]
    assert 'data-rows="6"' in html and 'data-rows="4"' in html
    assert second.rows_copied == 4 and html.count(" unchanged</div>") == 1 and ">4 unchanged</div>" in html
    assert "data-building" not in html


def test_the_detail_page_warns_where_a_question_changed_meaning_between_the_rubric_versions_a_version_holds(
    engineer_client, project, dataset, read_key
):
    """v1 holds rows under rubric v1 only: no warning. v2 holds rows rated on 1-5 (v1) and on 1-7 (v2) under the
    same key: its row says so, naming the key and both scales, in the very words of the API's `warning` (one
    wording, the one the Hugging Face card prints)."""
    label_outputs(project, 2)
    build_version(dataset_id=dataset.pk)
    publish_rubric(project=project, questions=[{**q, "scale": [1, 7]} if q is RATING else q for q in QUESTIONS])
    label_outputs(project, 2, answers=({"correct": True, "helpful": 7},) * 2, start=100)
    build_version(dataset_id=dataset.pk)

    html = engineer_client.get(urls(project)["detail"]).content.decode()

    [warning] = re.findall(r'<tr data-question-changes="(\d+)".*?</tr>', html, re.S)
    assert warning == "2"
    block = re.search(r'<tr data-question-changes="2".*?</tr>', html, re.S).group(0)
    api = Api(engineer_client, read_key.secret).get(f"/api/v1/projects/{project.slug}/datasets/support-eval/versions/2")
    [changed] = [question for question in api.json()["questions"] if question["changed"]]
    [shown] = re.findall(r"<p>(.*?)</p>", block, re.S)
    assert html_unescape(re.sub(r"<[^>]+>", "", shown)) == changed["warning"]
    assert "`helpful`: rating 1–5 in v1, 1–7 in v2" in changed["warning"]


def test_an_override_in_an_option_named_in_a_warning_reverses_none_of_the_warnings_other_words(
    engineer_client, project, dataset
):
    """The page isolated the whole sentence in one <bdi>: a U+202E in an option then reversed the rest of the sentence
    ("in v2: filter on `rubric_version`…"). Each option is isolated on its own, as the Hugging Face card does."""
    label_outputs(project, 2)
    build_version(dataset_id=dataset.pk)
    options = ["friendly", "curt", "\u202erude"]
    publish_rubric(project=project, questions=[{**q, "options": options} if q is CHOICE else q for q in QUESTIONS])
    label_outputs(project, 2, start=100)
    build_version(dataset_id=dataset.pk)

    html = engineer_client.get(urls(project)["detail"]).content.decode()

    block = re.search(r'<tr data-question-changes="2".*?</tr>', html, re.S).group(0)
    [shown] = [html_unescape(p) for p in re.findall(r"<p>(.*?)</p>", block, re.S) if "`tone`" in p]
    assert '"curt", \u2068"\u202erude"\u2069) in v2' in shown
    assert shown.endswith("filter on `rubric_version` before you compare values") and "<bdi>" not in shown


def test_a_version_built_by_a_weekly_close_names_the_week_closed_not_the_week_it_ran_in(
    engineer_client, project, dataset
):
    """The close of 2026-W49 runs on Monday 7 Dec (W50): its version holds W49's data, and says so. One built by hand
    says only when it was built, not a week it might be read as holding."""
    Project.objects.filter(pk=project.pk).update(created_at=datetime(2026, 11, 1, tzinfo=UTC))
    label_outputs(project, 2, occurred_at=datetime(2026, 12, 2, 12, tzinfo=UTC))
    close_week(project_id=project.pk, week=date(2026, 11, 30), now=datetime(2026, 12, 7, 0, 5, tzinfo=UTC))
    label_outputs(project, 1, start=100, occurred_at=datetime(2026, 12, 8, 12, tzinfo=UTC))
    build_version(dataset_id=dataset.pk, now=datetime(2026, 12, 8, 10, tzinfo=UTC))

    html = engineer_client.get(urls(project)["detail"]).content.decode()

    by_close = re.search(r'<tr data-version="1".*?</tr>', html, re.S).group()
    by_hand = re.search(r'<tr data-version="2".*?</tr>', html, re.S).group()
    assert "2026-12-07 00:05" in by_close and "at the close of 2026-W49 (week of 30 Nov)" in by_close
    assert "week of 7 Dec" not in html
    assert "2026-12-08 10:00" in by_hand and "week of" not in by_hand and "close" not in by_hand


def test_the_detail_page_runs_a_fixed_number_of_queries(engineer_client, project, dataset, django_assert_num_queries):
    label_outputs(project, 2)
    build_version(dataset_id=dataset.pk)
    label_outputs(project, 1, start=100)
    build_version(dataset_id=dataset.pk)
    # session, user, project with membership, the dataset, its queues, its versions, their files, their rubrics
    with django_assert_num_queries(8):
        engineer_client.get(urls(project)["detail"])
    render_version_files(version_id=DatasetVersion.objects.get(dataset=dataset, number=1).pk)
    with django_assert_num_queries(8):
        engineer_client.get(urls(project)["detail"])


def test_parquet_and_hf_show_preparing_until_a_worker_rendered_them(engineer_client, project, dataset):
    """While the files are pending the page says so instead of linking to a 503; once rendered, it links."""
    label_outputs(project, 2)
    version = build_version(dataset_id=dataset.pk)
    api = f"/api/v1/projects/{project.slug}/datasets/{dataset.slug}/versions/1/download?format="

    html = engineer_client.get(urls(project)["detail"]).content.decode()

    assert f'href="{api}jsonl"' in html and f'href="{api}csv"' in html
    assert f'href="{api}parquet"' not in html and f'href="{api}hf"' not in html
    assert 'data-format="parquet"' in html and 'data-format="hf"' in html and "preparing…" in html

    render_version_files(version_id=version.pk)
    html = engineer_client.get(urls(project)["detail"]).content.decode()

    assert f'href="{api}parquet"' in html and f'href="{api}hf"' in html
    assert "preparing…" not in html
    made = VersionFile.objects.filter(version=version)
    assert sorted(made.values_list("format", flat=True)) == ["hf", "parquet"]
    for stored in made:  # the size of each file made, beside its format
        assert f'<span class="dl-size">{filesizeformat(stored.size)}</span>' in html


@pytest.mark.parametrize("state", [VersionFileState.FAILED, None])
def test_a_failed_or_never_asked_file_is_asked_for_again_and_shows_preparing(
    engineer_client, project, dataset, state, django_capture_on_commit_callbacks
):
    """A version built before files existed (no row) or whose render failed is asked for again by the page."""
    label_outputs(project, 2)
    version = build_version(dataset_id=dataset.pk)
    files = VersionFile.objects.filter(version=version)
    if state is None:
        files.delete()
    else:
        files.update(state=state)
    OutboxMessage.objects.all().delete()

    with django_capture_on_commit_callbacks():
        html = engineer_client.get(urls(project)["detail"]).content.decode()

    assert 'data-format="parquet"' in html and 'data-format="hf"' in html
    assert set(files.values_list("format", "state")) == {("parquet", "pending"), ("hf", "pending")}
    assert [message.task for message in OutboxMessage.objects.all()] == ["labeling.render_version_files"]


RAW_ERRORS = {
    "soft time limit": (
        "SoftTimeLimitExceeded: SoftTimeLimitExceeded()",
        "The last try failed (it took longer than the 58 minutes a file may take); it is being made again.",
    ),
    "database": (
        'OperationalError: <script>alert("x")</script> connection to server at "10.0.3.7", port 5432 failed',
        "The last try failed (the database could not be reached); it is being made again.",
    ),
    "disk": (
        "PermissionError: [Errno 13] Permission denied: '/srv/media/datasets/7/hf.r2.zip.part'",
        "The last try failed (the file could not be written); it is being made again.",
    ),
    "a full disk": (
        "OSError: [Errno 28] No space left on device",
        "The last try failed (the file could not be written); it is being made again.",
    ),
    # OSError's subclasses by name were all "the file": another library's ConnectionError (requests', an OSError) or a
    # socket's plain OSError read as a file not written.
    "a connection elsewhere": (
        "ConnectionError: HTTPSConnectionPool(host='10.0.3.7', port=443): Max retries exceeded",
        "The last try failed (a connection failed); it is being made again.",
    ),
    "a network": (
        "OSError: [Errno 101] Network is unreachable",
        "The last try failed (an unexpected error, in the workers' log); it is being made again.",
    ),
    # Only the number opening the text is the error's own: one quoted further on says nothing of the disk.
    "an error number quoted in the text": (
        "OSError: the proxy answered 502: upstream said [Errno 28] No space left on device",
        "The last try failed (an unexpected error, in the workers' log); it is being made again.",
    ),
    "a bug": (
        "KeyError: 'answers'",
        "The last try failed (an unexpected error, in the workers' log); it is being made again.",
    ),
}


def shown_failures(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<span class="dl-error" data-format="(\w+)"[^>]*>(.*?)</span>', html)


@pytest.mark.parametrize("cause", RAW_ERRORS)
def test_a_failed_render_says_why_in_plain_words_beside_the_file_until_a_render_makes_it(
    engineer_client, project, dataset, django_capture_on_commit_callbacks, cause
):
    """A file whose last render failed says why, as past (the file is prepared again meanwhile), on every view until a
    render makes it: in words a member reads, not the exception, which names database hosts and paths under
    MEDIA_ROOT (only operators see it)."""
    label_outputs(project, 2)
    version = build_version(dataset_id=dataset.pk)
    error, reason = RAW_ERRORS[cause]
    VersionFile.objects.filter(version=version, format="hf").update(state=VersionFileState.FAILED, error=error)

    for _ in range(2):  # the first view asks for the file again; the second finds it pending, the error kept
        with django_capture_on_commit_callbacks():
            html = engineer_client.get(urls(project)["detail"]).content.decode()
        assert shown_failures(html) == [("hf", escape(reason))]
        assert error.split(":")[0] not in html and "/srv/media" not in html and "10.0.3.7" not in html
        assert VersionFile.objects.get(version=version, format="hf").state == VersionFileState.PENDING

    render_version_files(version_id=version.pk)
    html = engineer_client.get(urls(project)["detail"]).content.decode()
    assert "dl-error" not in html and "The last try failed" not in html


def test_a_superuser_reads_the_failed_renders_error_itself_escaped(
    client, engineer, project, dataset, django_capture_on_commit_callbacks
):
    """The operator who mends it needs the exception: a superuser (here also a member) reads it beside the reason,
    escaped (it may quote anything)."""
    label_outputs(project, 2)
    version = build_version(dataset_id=dataset.pk)
    error, reason = RAW_ERRORS["database"]
    VersionFile.objects.filter(version=version, format="hf").update(state=VersionFileState.FAILED, error=error)
    engineer.is_superuser = True
    engineer.save(update_fields=["is_superuser"])
    client.force_login(engineer)

    with django_capture_on_commit_callbacks():
        html = client.get(urls(project)["detail"]).content.decode()

    [(fmt, text)] = re.findall(r'<span class="dl-error" data-format="(\w+)"[^>]*>(.*?)</code></span>', html)
    assert fmt == "hf" and text.startswith(escape(reason) + ' <code class="dl-error-raw"')
    assert "OperationalError: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; connection to server" in text
    assert "<script>alert" not in html


def swept_version(project, dataset, settings):
    """A version whose files were made, then swept to save disk (newer versions superseded it)."""
    label_outputs(project, 2)
    version = build_version(dataset_id=dataset.pk)
    render_version_files(version_id=version.pk)
    settings.DATASET_FILES_KEEP_LATEST = 0
    sweep_superseded_files(now=timezone.now() + timedelta(days=settings.DATASET_FILES_KEEP_DAYS + 1))
    OutboxMessage.objects.all().delete()
    return version


def test_a_swept_file_shows_a_prepare_button_and_the_page_does_not_ask_for_it(
    engineer_client, project, dataset, settings, django_capture_on_commit_callbacks
):
    version = swept_version(project, dataset, settings)
    api = f"/api/v1/projects/{project.slug}/datasets/{dataset.slug}/versions/1/download?format="

    with django_capture_on_commit_callbacks():
        html = engineer_client.get(urls(project)["detail"]).content.decode()

    assert f'href="{api}jsonl"' in html and f'href="{api}parquet"' not in html
    assert f'action="{urls(project)["prepare"]}"' in html
    assert "Prepare PARQUET</button>" in html and "Prepare HF</button>" in html
    parquet = VersionFile.objects.get(version=version, format="parquet")
    assert f"(a minute or two); {filesizeformat(parquet.size)}." in html  # what the click will make
    assert "preparing…" not in html and "data-building" not in html  # nothing to wait for: no refresh loop
    assert not OutboxMessage.objects.exists()  # viewing the page does not undo the sweep
    assert set(VersionFile.objects.filter(version=version).values_list("state", flat=True)) == {"on_request"}


def test_prepare_asks_a_worker_for_the_file_and_the_page_shows_it_preparing_then_ready(
    engineer_client, project, dataset, settings, django_capture_on_commit_callbacks
):
    version = swept_version(project, dataset, settings)

    with django_capture_on_commit_callbacks():
        response = engineer_client.post(urls(project)["prepare"], {"format": "parquet"}, follow=True)

    html = response.content.decode()
    assert response.redirect_chain == [(urls(project)["detail"], 302)]
    assert "The parquet file of v1 is being prepared" in html
    assert "PARQUET preparing…" in html and "Prepare HF</button>" in html
    [message] = enqueued("labeling.render_version_files")
    assert run_as_worker(message) == ["parquet"]
    html = engineer_client.get(urls(project)["detail"]).content.decode()
    assert f'/versions/{version.number}/download?format=parquet"' in html and "preparing…" not in html


@pytest.mark.parametrize("form", [{"format": "zip"}, {"format": "jsonl"}, {}])
def test_prepare_refuses_a_format_that_is_not_a_stored_file(engineer_client, project, dataset, settings, form):
    version = swept_version(project, dataset, settings)

    response = engineer_client.post(urls(project)["prepare"], form)

    assert response.status_code == 400 and "No stored file format" in response.content.decode()
    assert set(VersionFile.objects.filter(version=version).values_list("state", flat=True)) == {"on_request"}
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize("persona", ["expert", "outsider"])
def test_prepare_is_for_dataset_roles_only(client, project, dataset, settings, persona, request):
    swept_version(project, dataset, settings)
    client.force_login(request.getfixturevalue(persona))

    assert client.post(urls(project)["prepare"], {"format": "parquet"}).status_code == 404
    assert client.get(urls(project)["prepare"]).status_code == 405  # POST only, before anything is looked up
    assert not OutboxMessage.objects.exists()


def test_prepare_of_a_version_that_does_not_exist_is_a_404(engineer_client, project, dataset, settings):
    swept_version(project, dataset, settings)

    response = engineer_client.post(urls(project)["prepare"].replace("/v1/", "/v7/"), {"format": "parquet"})

    assert response.status_code == 404


def test_a_failed_build_shows_its_error(engineer_client, project, dataset):
    Dataset.objects.filter(pk=dataset.pk).update(build_error="Disk full")
    DatasetVersion.objects.create(dataset=dataset, number=1, status=VersionStatus.FAILED)
    html = engineer_client.get(urls(project)["detail"]).content.decode()
    assert "The last build failed." in html and "Disk full" in html and "failed" in html
    assert "/versions/1/download" not in html


# Build now ------------------------------------------------------------------------------------------------------


def test_build_now_enqueues_the_build_after_commit_and_the_new_version_shows(
    engineer_client, project, dataset, django_capture_on_commit_callbacks
):
    label_outputs(project, 6)

    with django_capture_on_commit_callbacks() as callbacks:
        response = engineer_client.post(urls(project)["build"])

    assert response.status_code == 302 and response.headers["Location"] == urls(project)["detail"]
    # One message in the outbox, written with the request; its publish is what runs after commit.
    [message] = enqueued("labeling.build_dataset")
    assert message.args == [dataset.pk] and len(callbacks) == 1
    assert not DatasetVersion.objects.exists()  # not run inline
    page = engineer_client.get(urls(project)["detail"])
    html = page.content.decode()
    assert "Build of “Support eval” requested" in html
    # No worker has taken it yet: queued, not "Building…"; the page still polls (data-building).
    assert "data-building" in html and "Queued, waiting for the worker (requested at" in html
    assert "Building…" not in html and "datasets.js" in html
    listing = engineer_client.get(urls(project)["list"]).content.decode()
    assert "data-building" in listing and "queued, waiting for the worker" in listing

    # What the worker does with the message.
    assert run_as_worker(message) == 1

    html = engineer_client.get(urls(project)["detail"]).content.decode()
    assert "building-note" not in html
    # Built; its Parquet and hf files are the render task's (queued, not run here): the page polls for them.
    assert 'data-format="parquet" data-building' in html and 'data-format="hf" data-building' in html
    assert 'data-version="1"' in html and 'data-rows="6"' in html
    assert Dataset.objects.get(pk=dataset.pk).build_requested_at is None
    message.refresh_from_db()
    assert message.started_at and message.finished_at


def test_a_build_a_worker_has_started_shows_as_building(engineer_client, project, dataset):
    request_build(dataset=dataset)
    OutboxMessage.objects.update(published_at=timezone.now(), started_at=timezone.now())

    html = engineer_client.get(urls(project)["detail"]).content.decode()

    assert "Building… (requested at" in html and "Queued" not in html


@pytest.mark.redis  # without REDIS_URL Celery runs eagerly: no publish, so no outage to see
def test_build_now_while_the_broker_is_down_says_queued_and_keeps_the_build(
    engineer_client, project, dataset, broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = engineer_client.post(urls(project)["build"])

    assert response.status_code == 302
    [message] = enqueued("labeling.build_dataset")
    assert message.attempts == 1 and message.last_error  # the publish after commit failed; kept for the sweep
    html = engineer_client.get(urls(project)["detail"]).content.decode()
    assert "Queued, waiting for the worker" in html and "cannot be reached just now" in html
    assert "Building…" not in html


def test_a_dataset_of_a_project_with_another_time_zone_keeps_its_dates(client, project):
    Project.objects.filter(pk=project.pk).update(time_zone="America/New_York")
    user = MembershipFactory(project=project, role="lead", user=UserFactory(username="lou")).user
    client.force_login(user)
    client.post(urls(project)["create"], form_data(queues=None, questions=None))
    since = datetime.fromisoformat(Dataset.objects.get().filters["since"])
    assert since.astimezone(UTC) == datetime(2026, 11, 1, 4, tzinfo=UTC)
