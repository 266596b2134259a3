"""Eval datasets in the browser: the list, the "new dataset" form, a dataset's versions, "build now" and a lead's
"withdraw".

Engineers, leads and admins of the project only (`rules.access.DATASET_ROLES`); experts get the 404 page saying
why, outsiders "No such project.". Withdrawing a version is for leads and admins (engineers get the 404 page saying
why). An operator who is not a member reads the
list and a dataset's versions (`read_project`), without the buttons and without the members' view asking for failed
files to be made again, and by the same rule downloads a version's files
through the page's links (`rules.access.version_download_project`; each download is in the project's audit log). The
API shows them the same (the list, a dataset, its versions); the rest of it (a diff, the rows) stays the members'.
Downloads and diffs are served by the REST API (session auth works there); these pages link to it, except to a
Parquet or hf file a worker is still rendering, which shows "preparing…", or one swept to save disk, which shows
"Prepare" (services/version_files.py).
"""

from typing import NamedTuple

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling.exceptions import InvalidInput, InvalidSpec
from labeling.models import VersionFileState, VersionStatus, work_key
from labeling.rules.access import (
    DATASET_ROLES,
    DATASETS_REFUSED,
    check_can_withdraw_versions,
    manages,
    read_project,
    role_project,
)
from labeling.rules.dataset_filters import from_explore_query
from labeling.rules.text import isolated
from labeling.selectors.datasets import (
    dataset_of_project,
    dataset_summaries,
    questions_of_versions,
    ready_version,
    versions_of_dataset,
    with_closed_week,
)
from labeling.selectors.management import project_queues
from labeling.selectors.outbox import queued_work
from labeling.selectors.rubrics import current_rubric
from labeling.services import datasets as dataset_services
from labeling.services.exports import STORED_FORMATS
from labeling.services.version_files import FileState, download_states, file_states, prepare_file

from .dataset_forms import DatasetForm

DOWNLOAD_FORMATS = ("jsonl", "csv", "parquet", "hf")


def _frame(project, membership) -> dict:
    """What the sub-navigation needs: managers see the manage tabs, engineers only Datasets, an operator who is not a
    member the pages they read (`operator_view`, which also leaves out every button)."""
    return {
        "project": project,
        "tab": "datasets",
        "can_manage": manages(membership),
        "operator_view": membership is None,
    }


@login_required
@require_GET
def dataset_list(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = read_project(request.user, slug, DATASET_ROLES, refusal=DATASETS_REFUSED)
    summaries = dataset_summaries(project)
    context = {
        **_frame(project, membership),
        "summaries": summaries,
        "building": any(s.building for s in summaries),
        "queued": any(s.queued for s in summaries),
    }
    return render(request, "labeling/datasets/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def dataset_create(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = role_project(request.user, slug, DATASET_ROLES, refusal=DATASETS_REFUSED)
    rubric = current_rubric(project)
    # Opened from explore's "Make a dataset from this filter" (`?explore=<the filter's query>`, as a new queue's form
    # is): the query, translated (what cannot be, named); the form's own parameters stay apart from it.
    explore = request.GET.get("explore") if request.method == "GET" else None
    from_explore = from_explore_query(QueryDict(explore)) if explore is not None else None
    form = DatasetForm(
        request.POST or None,
        project=project,
        queues=project_queues(project),
        question_keys=[question["key"] for question in rubric.questions] if rubric else [],
        initial=from_explore.initial if from_explore else None,
    )
    context = {
        **_frame(project, membership),
        "form": form,
        "rubric": rubric,
        "from_explore": from_explore,
        "explore_query": explore or "",
    }
    if request.method == "GET":
        return render(request, "labeling/datasets/form.html", context)
    if form.is_valid():
        try:
            dataset = dataset_services.create_dataset(project=project, spec=form.spec(), actor=request.user)
        except InvalidSpec as exc:
            form.add_problems(exc)
        else:
            messages.success(
                request, f"Dataset “{isolated(dataset.name)}” created. Build its first version when you are ready."
            )
            return redirect("labeling:dataset", slug=project.slug, dataset_slug=dataset.slug)
    return render(request, "labeling/datasets/form.html", context, status=400)


@login_required
@require_GET
def dataset_detail(request: HttpRequest, slug: str, dataset_slug: str) -> HttpResponse:
    project, membership = read_project(request.user, slug, DATASET_ROLES, refusal=DATASETS_REFUSED)
    dataset = dataset_of_project(project, dataset_slug)
    return render(request, "labeling/datasets/detail.html", _detail_context(project, membership, dataset))


def _detail_context(project, membership, dataset, *, refused: dict | None = None) -> dict:
    """The dataset page's context; `refused`: a withdrawal sent back (its version's `number`, the `reason` typed and
    the `error`), shown open on that version's row."""
    versions = list(with_closed_week(versions_of_dataset(dataset), dataset))
    # Building once a worker took the build (its version is claimed); before that, queued: the build
    # waits in the outbox (broker unreachable) or in the broker (no worker free). A requested build always
    # set build_requested_at in the same transaction, so without it there is nothing to ask the outbox.
    work = queued_work(work_key("build_dataset", dataset.pk)) if dataset.build_requested_at else None
    building = any(v.status == VersionStatus.BUILDING for v in versions) or bool(work and work.running)
    return {
        **_frame(project, membership),
        "dataset": dataset,
        "rows": _version_rows(project, dataset, versions, member=membership is not None),
        "building": building,
        "queued": not building and (dataset.build_requested_at is not None or bool(work)),
        "unsent": bool(work and not work.sent),
        "api_base": _api_base(project, dataset),
        "formats": DOWNLOAD_FORMATS,
        "reason_max": dataset_services.REASON_MAX_CHARS,
        "refused": refused or {},
    }


@login_required
@require_POST
def dataset_build(request: HttpRequest, slug: str, dataset_slug: str) -> HttpResponse:
    project, _ = role_project(request.user, slug, DATASET_ROLES, refusal=DATASETS_REFUSED)
    dataset = dataset_of_project(project, dataset_slug)
    dataset_services.request_build(dataset=dataset, actor=request.user)
    messages.success(
        request,
        f"Build of “{isolated(dataset.name)}” requested. The new version appears below when it is ready; "
        "if nothing changed since the last version, no new one is made.",
    )
    return redirect("labeling:dataset", slug=project.slug, dataset_slug=dataset.slug)


@login_required
@require_POST
def version_withdraw(request: HttpRequest, slug: str, dataset_slug: str, number: int) -> HttpResponse:
    """A lead or admin withdraws a ready version, saying why; a reason missing or too long shows the page again (400)
    with the form open on that version."""
    project, membership = role_project(request.user, slug, DATASET_ROLES, refusal=DATASETS_REFUSED)
    dataset = dataset_of_project(project, dataset_slug)
    reason = request.POST.get("reason", "")
    grant = check_can_withdraw_versions(project, user=request.user, membership=membership)  # no second query
    try:
        withdrawal = dataset_services.withdraw_version(
            dataset=dataset, number=number, reason=reason, actor=request.user, grant=grant
        )
    except InvalidInput as exc:
        refused = {"number": number, "reason": reason, "error": exc.message}
        context = _detail_context(project, membership, dataset, refused=refused)
        return render(request, "labeling/datasets/detail.html", context, status=400)
    version = withdrawal.version
    if not withdrawal.withdrawn_now:
        when = f"{version.withdrawn_at:%Y-%m-%d %H:%M}" if version.withdrawn_at else "earlier"
        messages.info(request, f"v{version.number} was withdrawn already ({when}): nothing changed.")
    else:
        now_latest = (
            f"“latest” is now v{withdrawal.latest}."
            if withdrawal.latest is not None
            else "No version is ready now: “latest” answers 404 until the next build."
        )
        messages.success(
            request,
            f"v{version.number} withdrawn: its rows and files are deleted, and its downloads answer 410 Gone with "
            f"your reason. {now_latest}",
        )
    return redirect("labeling:dataset", slug=project.slug, dataset_slug=dataset.slug)


@login_required
@require_POST
def version_file_prepare(request: HttpRequest, slug: str, dataset_slug: str, number: int) -> HttpResponse:
    """Ask a worker to make a version's Parquet or hf file again (swept to save disk, or failed)."""
    project, _ = role_project(request.user, slug, DATASET_ROLES, refusal=DATASETS_REFUSED)
    dataset = dataset_of_project(project, dataset_slug)
    version = ready_version(dataset, str(number))
    fmt = request.POST.get("format", "")
    if fmt not in STORED_FORMATS:
        raise InvalidInput(f"No stored file format {fmt[:40]!r}: use one of {', '.join(STORED_FORMATS)}.")
    if prepare_file(version=version, fmt=fmt) is None:
        messages.success(request, f"The {fmt} file of v{version.number} is being prepared: it appears here when ready.")
    else:
        messages.info(request, f"The {fmt} file of v{version.number} is ready.")
    return redirect("labeling:dataset", slug=project.slug, dataset_slug=dataset.slug)


def _api_base(project, dataset) -> str:
    # The REST API's dataset routes (api/urls.py) are written by another change; their shape is fixed.
    return f"/api/v1/projects/{project.slug}/datasets/{dataset.slug}"


class Download(NamedTuple):
    """One format's download on a version's row, read by name in the template."""

    format: str
    url: str  # empty unless the file can be downloaded now
    # A stored file (Parquet, hf) may be `pending` (a worker prepares it: the API would answer 503) or `on_request`
    # (not made: "Prepare" asks for it); the formats streamed as they are made are always `ready`.
    state: str
    size: int | None  # in bytes, once made (None for the formats streamed as they are made)
    failure: str  # why its last render failed while none has made it since, in plain words; else empty
    error: str  # the same as stored, which the template shows operators only (it may name hosts and paths)
    swept: bool  # made and deleted to save disk


def _stored_files(versions, *, member: bool) -> dict[tuple[int, str], FileState]:
    """The versions' stored files by (version id, format). A member's view asks for those a download would (failed,
    never asked for, lost: `download_states`); a view by an operator who is not one only reads them (they change
    nothing: a failed file stays failed, and its note says a member has it made again)."""
    if member:
        return download_states(versions=versions)
    read = file_states(versions=versions)
    return {(version_id, fmt): file for version_id, files in read.items() for fmt, file in files.items()}


def _version_rows(project, dataset, versions, *, member: bool = True) -> list[dict]:
    """Each version with its downloads (`Download`) and a diff against the ready version before it.
    `changed_questions`: the warning of each key that changed meaning between the rubric versions the version's rows
    answered. Not a `member` (an operator who is not one: they download, audited, and change nothing): no diff, whose
    API is the members', no file asked for again by the view (`_stored_files`) and no "Prepare" (the template's)."""
    base = _api_base(project, dataset)
    ready = sorted(v.number for v in versions if v.status == VersionStatus.READY)
    states = _stored_files(versions, member=member)
    questions = questions_of_versions(dataset, versions)
    rows = []
    for version in versions:
        is_ready = version.status == VersionStatus.READY
        earlier = [number for number in ready if number < version.number]
        downloads = []
        for fmt in DOWNLOAD_FORMATS if is_ready else ():
            stored = states[version.pk, fmt] if fmt in STORED_FORMATS else None
            state = stored.state if stored else VersionFileState.READY
            url = f"{base}/versions/{version.number}/download?format={fmt}" if state == VersionFileState.READY else ""
            downloads.append(
                Download(
                    format=fmt,
                    url=url,
                    state=state,
                    size=stored.size if stored else None,
                    failure=stored.failure_note(operator_view=not member) if stored else "",
                    error=stored.error if stored else "",
                    swept=bool(stored and stored.swept),
                )
            )
        rows.append(
            {
                "version": version,
                "is_ready": is_ready,
                "is_latest": is_ready and version.number == ready[-1],
                "downloads": downloads,
                # Rows copied from the version before (their sources unchanged; they share its lines): the rest
                # were built this time, new or changed.
                "unchanged": version.rows_copied if is_ready else 0,
                "diff_from": earlier[-1] if is_ready and earlier else None,
                "diff_url": f"{base}/diff?from={earlier[-1]}&to={version.number}"
                if is_ready and earlier and member
                else "",
                # Keys asked differently by the rubric versions its rows answered: their values do not compare. Each
                # option in the sentence isolated on its own, so an override in one reverses no other word.
                "changed_questions": [
                    history.warning(isolate=isolated) for history in questions[version.pk] if history.changed
                ],
            }
        )
    return rows
