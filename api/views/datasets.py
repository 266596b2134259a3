"""Eval datasets for engineers: datasets, versions, rows, streamed downloads, diffs, "build now" and a lead's
"withdraw".

Reads take a key with the `read` scope of the project in the URL, or a signed-in engineer, lead or
admin of it; anyone else is told the project does not exist (404). Creating a dataset and "build now" take a
key with the `datasets` scope (a CI job's), or a signed-in engineer, lead or admin (with CSRF, as DRF's
SessionAuthentication enforces); a dataset's definition and build state are also shown to a `datasets` key,
so that the job can wait for its build. Withdrawing a version takes the same, and then a lead or admin: signed in,
or the issuer of the key (403 otherwise). A signed-in operator who is not a member reads what the datasets pages
show them: the list, a dataset, its versions and their downloads (audited); the rows, the diffs and every write stay
the members' (a 403 saying so).
"""

import base64
import itertools
import re
from functools import cached_property

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import parse_etags
from django.utils.log import log_response
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView
from rest_framework.response import Response

from api.callers import ProjectOfCaller
from api.negotiation import NamesItsOwnFile
from api.pagination import DatasetPagination, RowPagination, VersionPagination
from api.parameters import KnownParametersOnly
from api.permissions import CanBuildDatasetsOrSignedIn, CanReadOrSignedIn, CanWatchDatasetsOrSignedIn
from api.serializers.datasets import (
    DIFF_LIMIT,
    BuildOut,
    BuildQuery,
    DatasetIn,
    DatasetOut,
    DiffOut,
    DiffQuery,
    DownloadQuery,
    RowOut,
    RowsQuery,
    VersionOut,
    WithdrawIn,
)
from api.serializers.outputs import ErrorsOut
from labeling.exceptions import InvalidInput
from labeling.rules.access import (
    DATASET_ROLES,
    DATASETS_REFUSED,
    check_can_withdraw_versions,
    version_download_project,
)
from labeling.selectors.datasets import (
    LATEST,
    dataset_of_project,
    dataset_with_state,
    datasets_of_project,
    questions_of_versions,
    ready_version,
    rows_of_version,
    split_names,
    version_of_dataset,
    versions_of_dataset,
)
from labeling.services.datasets import create_dataset, request_build, version_diff, withdraw_version
from labeling.services.exports import FORMATS
from labeling.services.version_files import file_for_download, file_states, record_operator_download

VERSION_HEADER = "X-Dataset-Version"
_UNKNOWN = OpenApiResponse(ErrorsOut, description="No such project, dataset or version, or not yours to read.")
_READ_ERRORS = {
    401: OpenApiResponse(ErrorsOut, description="No credentials: a key, or a signed-in session."),
    403: OpenApiResponse(ErrorsOut, description="The key lacks the `read` scope; signed in, an expert of the project."),
    404: _UNKNOWN,
}
_WATCH_ERRORS = {
    **_READ_ERRORS,
    403: OpenApiResponse(
        ErrorsOut,
        description="The key has neither the `read` nor the `datasets` scope; signed in, an expert of the project.",
    ),
}
_WRITE_ERRORS = {
    401: _READ_ERRORS[401],
    403: OpenApiResponse(
        ErrorsOut,
        description="The key lacks the `datasets` scope; signed in, an expert of the project, or no CSRF token.",
    ),
    404: _UNKNOWN,
}
_BAD_CURSOR = OpenApiResponse(
    ErrorsOut,
    description="A cursor not handed out for this list (pass back `next` or `previous` as given), or a `page_size` "
    "that is not a whole number of 1 or more; the error's `field` names the parameter.",
)
_NOT_READY = OpenApiResponse(ErrorsOut, description="The version is building or failed: it has no rows.")
_WITHDRAWN = OpenApiResponse(
    ErrorsOut, description="Withdrawn (by a lead, or after an end user's erasure): the note says why."
)
_PREPARING = OpenApiResponse(
    ErrorsOut,
    description="Parquet or hf only: a worker is preparing the file (new, or made again after the disk sweep). Try "
    "again after `Retry-After` seconds.",
)
PREPARING_RETRY_SECONDS = 5
_VERSION = OpenApiParameter(
    "version",
    {"type": "string", "pattern": rf"^({LATEST}|\d{{1,9}})$"},  # as version_of_dataset reads it: else a 404
    OpenApiParameter.PATH,
    description="A version number, or `latest`: the newest ready version.",
)
# A withdrawal names its version by number only (the view answers `latest` with a 400 saying why).
_NUMBERED_VERSION = OpenApiParameter(
    "version",
    {"type": "string", "pattern": r"^\d{1,9}$"},
    OpenApiParameter.PATH,
    description="A version number (not `latest`, which moves once one is withdrawn: a retry would withdraw the "
    "version before it).",
)


class _DatasetView(ProjectOfCaller, KnownParametersOnly):
    """The project and dataset named in the URL, if the caller may read them (NotFound otherwise)."""

    permission_classes = [CanReadOrSignedIn]
    project_roles = DATASET_ROLES
    project_refusal = DATASETS_REFUSED

    def project_slug(self) -> str:
        return self.kwargs["project_slug"]

    @cached_property
    def dataset(self):
        return dataset_of_project(self.project, self.kwargs["dataset_slug"])

    def dataset_url(self, dataset) -> str:
        path = reverse("api:dataset", kwargs={"project_slug": self.project.slug, "dataset_slug": dataset.slug})
        return self.request.build_absolute_uri(path)


class DatasetListView(_DatasetView, ListAPIView):
    serializer_class = DatasetOut
    pagination_class = DatasetPagination

    def get_permissions(self):
        if self.request.method == "POST":
            return [CanBuildDatasetsOrSignedIn()]
        return [CanWatchDatasetsOrSignedIn()]

    @property
    def project_operators(self) -> bool:  # type: ignore[override]
        """An operator reads the list, as the datasets page shows it them; defining a dataset stays the members'."""
        return self.request.method in ("GET", "HEAD")

    def get_queryset(self):
        return datasets_of_project(self.project)

    @extend_schema(
        operation_id="create_dataset",
        summary="Define a dataset (a `datasets` key, or a signed-in engineer, lead or admin)",
        description=(
            'The definition the "new dataset" form makes; every field but `name` is optional. The filters may be '
            "top-level or nested under `filters` as `GET` shows them, so a GET's `filters` object posts back as it "
            "is (given both ways, they must agree; the GET's `slug`, `latest_version`, `build` and `created_at` are "
            "not fields of a POST). The slug is made from the name: its Latin letters and "
            "digits, or `dataset-<n>` for a name with none (e.g. all Japanese); the name is kept as typed. One 400 "
            "names every problem, each with its field: an unknown field, a text that is not a JSON string, split "
            "shares that do not add up to 100, a queue the project does not have, a question key no version of its "
            "rubric has (and a name already taken, beside them). A definition whose one problem is a name another "
            "dataset of the project has (its slug) is a 409 Conflict naming it, field `name`. Nothing is stored "
            "then. No version is built: ask for one with `POST …/build`."
        ),
        request=DatasetIn,
        # The docs page's "Try it out" starts from it; Swagger UI's own is placeholders, a 400 on most fields.
        examples=[
            OpenApiExample(
                "Every queue and question, train 80 / test 20",
                value={"name": "Nightly eval", "splits": {"train": 80, "test": 20}},
                request_only=True,
            )
        ],
        responses={
            201: DatasetOut,
            400: ErrorsOut,
            **_WRITE_ERRORS,
            409: OpenApiResponse(
                ErrorsOut,
                description="The name is taken: another dataset of the project has its slug. The error's `field` is "
                "`name` and its message names the dataset.",
            ),
        },
    )
    def post(self, request, *args, **kwargs):
        project = self.project  # who may write first: a 404 before any 400
        definition = DatasetIn(data=request.data, context={"tzinfo": project.tzinfo, "project": project})
        definition.is_valid(raise_exception=True)
        dataset = create_dataset(project=project, spec=definition.spec(), actor=request.user, api_key=self.api_key)
        shown = dataset_with_state(project, dataset.slug)
        headers = {"Location": self.dataset_url(dataset)}
        return Response(DatasetOut(shown).data, status=status.HTTP_201_CREATED, headers=headers)

    @extend_schema(
        operation_id="list_datasets",
        summary="List the project's eval datasets",
        responses={200: DatasetOut(many=True), 400: _BAD_CURSOR, **_WATCH_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DatasetDetailView(_DatasetView, RetrieveAPIView):
    permission_classes = [CanWatchDatasetsOrSignedIn]
    project_operators = True  # the dataset's page shows an operator its definition and build state
    serializer_class = DatasetOut

    def get_object(self):
        return dataset_with_state(self.project, self.kwargs["dataset_slug"])

    @extend_schema(
        operation_id="get_dataset",
        summary="Get a dataset's definition, newest ready version and build state",
        description="After `POST …/build`, poll `build.state` here: a key with `read` or `datasets` may.",
        responses={200: DatasetOut, **_WATCH_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class VersionListView(_DatasetView, ListAPIView):
    permission_classes = [CanWatchDatasetsOrSignedIn]  # a version's status and figures, no rows
    project_operators = True  # the dataset's page lists its versions to an operator
    serializer_class = VersionOut
    pagination_class = VersionPagination

    def get_queryset(self):
        return versions_of_dataset(self.dataset)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        context = {
            **self.get_serializer_context(),
            "file_states": file_states(versions=page),
            "questions": questions_of_versions(self.dataset, page),  # the whole page's rubric versions at once
        }
        return self.get_paginated_response(VersionOut(page, many=True, context=context).data)

    @extend_schema(
        operation_id="list_dataset_versions",
        summary="List a dataset's versions, newest first",
        description="Each version as `GET …/versions/<v>` gives it, `questions` included: what each question meant "
        "in each rubric version its rows answered, and `changed` where a key changed meaning between them, so versions "
        "compare without a call each.",
        responses={200: VersionOut(many=True), 400: _BAD_CURSOR, **_WATCH_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class VersionDetailView(_DatasetView, RetrieveAPIView):
    permission_classes = [CanWatchDatasetsOrSignedIn]
    project_operators = True  # one row of that list
    serializer_class = VersionOut

    @cached_property
    def version(self):
        return version_of_dataset(self.dataset, self.kwargs["version"])

    def get_object(self):
        return self.version

    def get_serializer_context(self):
        return {
            **super().get_serializer_context(),
            "file_states": file_states(versions=[self.version]),
            "questions": questions_of_versions(self.dataset, [self.version]),
        }

    @extend_schema(
        operation_id="get_dataset_version",
        summary="Get one version (any status)",
        description=f"`latest` is the newest ready version; the `{VERSION_HEADER}` header names the version served. "
        "`questions` says what each question meant in each rubric version the rows answered, and flags a key that "
        "changed meaning between them (`changed`): compare its values within one `rubric_version` only.",
        parameters=[_VERSION],
        responses={200: VersionOut, **_WATCH_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response[VERSION_HEADER] = str(response.data["number"])
        return response


class RowListView(_DatasetView, ListAPIView):
    serializer_class = RowOut
    pagination_class = RowPagination

    @cached_property
    def version(self):
        return ready_version(self.dataset, self.kwargs["version"])

    def get_queryset(self):
        query = RowsQuery(data=self.request.query_params, context={"splits": split_names(self.version)})
        query.is_valid(raise_exception=True)
        return rows_of_version(self.version, split=query.validated_data.get("split"))

    def pinned_url(self, request) -> str:
        """This page's URL with `latest` replaced by the version's number."""
        path = reverse("api:dataset-rows", kwargs={**self.kwargs, "version": str(self.version.number)})
        query = request.GET.urlencode()
        return request.build_absolute_uri(path) + (f"?{query}" if query else "")

    @extend_schema(
        operation_id="list_dataset_rows",
        summary="Page through a ready version's rows, in order",
        description=(
            "Each row is the version's canonical JSON row, as in the JSONL download. `page_size` is 100 by "
            "default and at most 1,000 (larger values are lowered to 1,000; one that is not a whole number of 1 or "
            "more is a 400). Follow `next`: it names the version even when "
            f"you asked for `latest`, as does the `{VERSION_HEADER}` header. An unknown `split` is a 400 "
            "that lists the dataset's splits; a cursor that was not handed out for this version and split is a 400."
        ),
        parameters=[_VERSION, RowsQuery],
        responses={200: RowOut(many=True), 400: ErrorsOut, **_READ_ERRORS, 409: _NOT_READY, 410: _WITHDRAWN},
    )
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response[VERSION_HEADER] = str(self.version.number)
        return response


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match compares weakly (RFC 9110 13.1.2): a `W/` prefix does not matter; `*` matches anything."""
    tags = parse_etags(if_none_match) if if_none_match else []
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)


def _answer_header(name: str, description: str, statuses: list[int], *, required: bool = True) -> OpenApiParameter:
    return OpenApiParameter(
        name, str, OpenApiParameter.HEADER, description=description, response=statuses, required=required
    )


# The headers a download answers with (README, Downloads): a client checks, resumes and caches the file with them.
_DOWNLOAD_HEADERS = [
    _answer_header("ETag", "Strong: names the stored rows and the format's revision.", [200, 206, 304, 416]),
    _answer_header(VERSION_HEADER, "The version's number.", [200, 206, 304, 416]),
    _answer_header(
        "Repr-Digest",
        "RFC 9530 `sha-256=:<base64>:` of the whole file (a range's too): jsonl, parquet and hf.",
        [200, 206, 416],
        required=False,
    ),
    _answer_header("Content-Disposition", "`attachment; filename=…`.", [200, 206]),
    _answer_header("Content-Range", "`bytes <a>-<b>/<size>`; for a 416, `bytes */<size>`.", [206, 416]),
    _answer_header("Accept-Ranges", "`bytes`: parquet and hf.", [200, 206, 416], required=False),
    _answer_header(
        "X-Rows",
        "The file's rows: the version's for the formats of every row; `0` for an empty openai-chat, "
        "openai-preference or openai-evals file (absent when such a file has rows: counted only as it streams).",
        [200, 206, 304],
        required=False,
    ),
    _answer_header("X-Rows-Note", "With `X-Rows: 0`: which rows the format takes.", [200], required=False),
]


def _a_copy_begins(request, response) -> bool:
    """Whether the answer starts a copy of the file: a GET's whole file, or its first part (a download resumed or
    fetched in ranges asks for the rest in more requests, and a HEAD takes nothing): one audit entry per copy."""
    if request.method != "GET":
        return False
    # The range served, not the one asked for: `bytes=00-` or a suffix longer than the file serve it from byte 0 too.
    return response.status_code == 200 or (
        response.status_code == 206 and response.get("Content-Range", "").startswith("bytes 0-")
    )


class VersionDownloadView(NamesItsOwnFile, _DatasetView, GenericAPIView):
    @cached_property
    def access(self) -> tuple:
        """The project, and whether an operator who is not a member downloads (they read the dataset pages: the same
        rule lets them take the files those pages link to, audited)."""
        return version_download_project(slug=self.kwargs["project_slug"], user=self.request.user, api_key=self.api_key)

    @cached_property
    def project(self):
        return self.access[0]

    @extend_schema(
        operation_id="download_dataset_version",
        summary="Download a ready version as JSONL, CSV, Parquet or an eval format (streamed)",
        description=(
            "**jsonl** (default): the canonical rows, one JSON object a line; the body's SHA-256 is the version's "
            "`sha256`. **csv**: the columns id, split, output, expected_output, rubric_version, model, occurred_at, "
            "labeled_at, then input, label, annotations, metadata and tags as JSON text; a text cell starting with "
            "`=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` so spreadsheets never run it. "
            "**parquet**: the same columns; rubric_version int64, occurred_at / labeled_at timestamp[us, UTC], input "
            "`list<struct<role, content>>`, tags `list<string>`, label a struct per question of `{value, method}` "
            "(value typed by the question's kind: binary bool, rating double, choice/text/correction string, "
            "multi_choice list<string>), annotations `list<struct<annotator, rubric_version, answers>>`, every answer "
            "typed by the rubric version that asked it (a question every rubric version of the labels asked; a key an "
            "older version asked as another kind has a field `<key>@<kind>` for those answers); metadata, free-form "
            "per row, stays JSON text.\n\n"
            "Eval formats, from the same rows. A row's *verdict* is the gold value of the first binary question of "
            "its rubric version (kept by the dataset); its *correction* is `expected_output` (not blank, not the "
            "output itself); its *ideal* answer is the correction, else the output when the verdict passes — none "
            "for a tie or an unresolved row. "
            '**openai-chat**: `{"messages": [...input, {"role": "assistant", "content": ideal}]}` for rows '
            'with an ideal answer. **openai-preference**: `{"input": {"messages"}, "preferred_output": '
            '[assistant correction], "non_preferred_output": [assistant output]}` for failing rows with a '
            'correction. **openai-evals**: `{"input": [...messages], "ideal"}` for rows with an ideal answer. '
            "The OpenAI formats leave out inputs OpenAI refuses (roles other than system/user/assistant, empty "
            "content, a late system message, not ending with a user message). **langsmith** `{id, inputs: "
            "{messages}, outputs: {answer} | null, metadata, split}`, **langfuse** `{id, input: {messages}, "
            "expectedOutput, metadata}`, **braintrust** `{id, input: {messages}, expected, metadata, tags}`: every "
            "row; id a UUID of project, dataset and external id; metadata has external_id, project, dataset, "
            "version, version_sha256, split, label, verdict, judged_output, model, rubric_version, occurred_at, tags, "
            "output_metadata. **hf**: a zip of `README.md` (a dataset card: license, configs per split, features, "
            "provenance, how gold was decided) and `data/<split>.jsonl`, every column one type (as Parquet; "
            "metadata JSON text, timestamps ISO strings).\n\n"
            'Headers: a strong `ETag` (`"<sha256>"` for jsonl, `"<sha256>-<format>.v<revision>"` otherwise: the '
            "revision grows when a format's layout or rules change, e.g. `-parquet.v4`), "
            f"`{VERSION_HEADER}`, and `Content-Disposition` with the file name "
            "`<project>-<dataset>-v<number>.<ext>` (`jsonl`, `csv`, `parquet`, `<format>.jsonl`, `hf.zip`). Send the "
            "ETag back in `If-None-Match` to get a 304. jsonl, parquet and hf also carry `Repr-Digest` (RFC 9530): "
            "`sha-256=:<base64>:` of the whole file (the version's `sha256` for jsonl, its `files` entry's otherwise), "
            "to check the bytes received.\n\n"
            "**parquet** and **hf** are rendered once by a worker when the version becomes ready and served as a file "
            "(with `Content-Length`; one byte `Range` is honoured, `If-Range` with the ETag). Until the file is ready "
            f"the answer is a 503 with `Retry-After: {PREPARING_RETRY_SECONDS}` and an error saying the file is being "
            "prepared; retry then. The files of a superseded version nobody downloaded lately (two weeks by default) "
            "are deleted to save disk and made again on the first download (a 503 meanwhile, then the same bytes "
            "under the same ETag). The other formats are streamed at once.\n\n"
            "Besides a `read` key and a signed-in engineer, lead or admin, a signed-in operator who is not a member "
            "downloads (the dataset pages link here): each such download is written to the project's audit log."
        ),
        parameters=[
            _VERSION,
            DownloadQuery,
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="An ETag you hold."),
            OpenApiParameter(
                "Range", str, OpenApiParameter.HEADER, description="parquet and hf: one byte range, `bytes=<a>-<b>`."
            ),
            OpenApiParameter(
                "If-Range", str, OpenApiParameter.HEADER, description="The ETag of your partial copy: else the whole."
            ),
            *_DOWNLOAD_HEADERS,
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
            (200, "application/zip"): OpenApiTypes.BINARY,
            (206, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
            (206, "application/zip"): OpenApiTypes.BINARY,
            304: OpenApiResponse(description="Not modified: your copy is current."),
            416: OpenApiResponse(description="The byte range starts past the file's end (see `Content-Range`)."),
            400: ErrorsOut,
            **_READ_ERRORS,
            409: _NOT_READY,
            410: _WITHDRAWN,
            503: _PREPARING,
        },
    )
    def get(self, request, *args, **kwargs):
        dataset = self.dataset  # who may see it first: a 404 before any 400
        query = DownloadQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        version = ready_version(dataset, self.kwargs["version"])
        response = self.download(request, dataset=dataset, version=version, query=query)
        if self.access[1] and _a_copy_begins(request, response):
            record_operator_download(version=version, fmt=query.validated_data["format"], actor=request.user)
        return response

    def download(self, request, *, dataset, version, query) -> HttpResponse:
        export = FORMATS[query.validated_data["format"]]
        headers = {
            "ETag": export.etag(version),
            VERSION_HEADER: str(version.number),
            "Cache-Control": "no-store",
        }
        if not export.takes:  # a file of every row
            headers["X-Rows"] = str(version.row_count)
        if etag_matches(request.headers.get("If-None-Match", ""), headers["ETag"]):
            return HttpResponseNotModified(headers=headers)
        # Both slugs are slugs by construction ([a-z0-9-]), so the name needs no quoting.
        filename = f"{self.project.slug}-{dataset.slug}-v{version.number}.{export.extension}"
        if export.stored:
            fmt = query.validated_data["format"]
            return self.stored_file(request, version=version, fmt=fmt, filename=filename, headers=headers)
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        if query.validated_data["format"] == "jsonl":  # the canonical bytes, whose SHA-256 is the version's
            headers["Repr-Digest"] = repr_digest(version.sha256)
        chunks = export.chunks(version=version)
        if export.takes:
            # A format of some rows may have none: an empty 200 said nothing. Its first chunk (its first record alone),
            # read before the headers go, tells; how many rows a file with some holds is known only once it has
            # streamed. An empty file is read through first: no stored count says which rows a format takes.
            first = next(chunks, None)
            if first is None:
                headers["X-Rows"] = "0"
                headers["X-Rows-Note"] = (
                    f"None of version {version.number}'s {version.row_count} rows is in "
                    f"{query.validated_data['format']}, which takes {export.takes}."
                )
            chunks = itertools.chain([first] if first is not None else [], chunks)
        return StreamingHttpResponse(chunks, content_type=export.content_type, headers=headers)

    def stored_file(self, request, *, version, fmt: str, filename: str, headers: dict[str, str]) -> HttpResponse:
        """The file a worker rendered (a byte range of it when asked), or 503 with Retry-After while it is prepared."""
        stored = file_for_download(version=version, fmt=fmt)
        if stored is None:
            return self.preparing(request, version=version, fmt=fmt, headers=headers)
        try:
            file = default_storage.open(stored.name, "rb")
        except FileNotFoundError:  # swept (or lost) since it was read as ready: asked for again, like any lost file
            file_for_download(version=version, fmt=fmt)
            return self.preparing(request, version=version, fmt=fmt, headers=headers)
        export = FORMATS[fmt]
        headers["Accept-Ranges"] = "bytes"
        if stored.sha256:  # of the whole file, a byte range's answer too
            headers["Repr-Digest"] = repr_digest(stored.sha256)
        wanted = byte_range(request.headers.get("Range", ""), stored.size)
        if wanted is not None and request.headers.get("If-Range", headers["ETag"]) != headers["ETag"]:
            wanted = None  # the client's partial copy is of other bytes: send the whole file
        if wanted == "unsatisfiable":
            file.close()
            headers["Content-Range"] = f"bytes */{stored.size}"
            return HttpResponse(status=status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE, headers=headers)
        if wanted is None:
            return FileResponse(
                file, as_attachment=True, filename=filename, content_type=export.content_type, headers=headers
            )
        start, end = wanted
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        headers["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
        headers["Content-Length"] = str(end - start + 1)
        return StreamingHttpResponse(
            _file_slice(file, start, end), content_type=export.content_type, headers=headers, status=206
        )

    @staticmethod
    def preparing(request, *, version, fmt: str, headers: dict[str, str]) -> Response:
        """503 with Retry-After: a worker is making the file."""
        message = (
            f"The {fmt} file of version {version.number} is being prepared by a worker: "
            f"try again in {PREPARING_RETRY_SECONDS} seconds."
        )
        answer = {"errors": [{"index": None, "field": "format", "message": message}]}
        retry = {"Retry-After": str(PREPARING_RETRY_SECONDS), VERSION_HEADER: headers[VERSION_HEADER]}
        response = Response(answer, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=retry)
        # An expected state that clients poll through, not a failure: logged at INFO, which marks the response as
        # logged, so django.request does not log it again at ERROR (as it does every other 5xx) on each poll.
        log_response("File being prepared: %s", request.path, response=response, request=request._request, level="info")
        return response


def repr_digest(sha256_hex: str) -> str:
    """The `Repr-Digest` header (RFC 9530) of bytes with this SHA-256: a client checks what it received against it."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode()}:"


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str, size: int) -> tuple[int, int] | str | None:
    """The one byte range a `Range` header asks for, as inclusive (start, end); None for the whole file (no header,
    several ranges, or one this does not read); "unsatisfiable" for a range that starts past the end."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        length = int(last)
        return (max(size - length, 0), size - 1) if length and size else "unsatisfiable"
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end else None


def _file_slice(file, start: int, end: int, *, block: int = 256 * 1024):
    """The bytes start..end (inclusive) of an open file, a block at a time; the file is closed at the end."""
    try:
        file.seek(start)
        left = end - start + 1
        while left > 0:
            data = file.read(min(block, left))
            if not data:
                return
            left -= len(data)
            yield data
    finally:
        file.close()


class DatasetDiffView(_DatasetView, GenericAPIView):
    serializer_class = DiffOut

    @extend_schema(
        operation_id="diff_dataset_versions",
        summary="External ids added, removed and changed between two ready versions, and what changed in each",
        description=f"Each list holds its first {DIFF_LIMIT} ids, sorted; `added_left_out`, `removed_left_out` and "
        "`changed_left_out` count the ids past them (0 when every one is listed). For every id of a larger diff, "
        "compare the two versions' downloads.",
        parameters=[DiffQuery],
        responses={200: DiffOut, 400: ErrorsOut, **_READ_ERRORS, 409: _NOT_READY, 410: _WITHDRAWN},
    )
    def get(self, request, *args, **kwargs):
        dataset = self.dataset  # who may see it first: a 404 before any 400
        query = DiffQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        old = ready_version(dataset, query.validated_data["from"], field="from")
        new = ready_version(dataset, query.validated_data["to"], field="to")
        diff = version_diff(old=old, new=new, details=DIFF_LIMIT, limit=DIFF_LIMIT)
        return Response(DiffOut({"from": old.number, "to": new.number, **diff}).data)


class DatasetBuildView(_DatasetView, GenericAPIView):
    permission_classes = [CanBuildDatasetsOrSignedIn]
    serializer_class = BuildOut

    @extend_schema(
        operation_id="build_dataset",
        summary="Build a new version now (a `datasets` key, or a signed-in engineer, lead or admin)",
        description=(
            "A worker builds it; no version is made when nothing changed since the last one. The answer's "
            "`status_url` (also the `Location` header) is the dataset: poll its `build.state` until it is `idle` "
            "(or `failed`); `latest_version` is then the version to download. An unknown parameter is a 400 naming "
            "it, and nothing is built."
        ),
        parameters=[BuildQuery],
        request=None,
        responses={202: BuildOut, 400: ErrorsOut, **_WRITE_ERRORS},
    )
    def post(self, request, *args, **kwargs):
        dataset = dataset_with_state(self.project, self.kwargs["dataset_slug"])  # a 404 before any 400
        # A JSON body such as `{"full": true}` would otherwise be an ordinary build that answered as the full one.
        if request.content_type.startswith("application/json") and request.data:
            field = next(iter(request.data), None) if isinstance(request.data, dict) else None
            raise InvalidInput("A build takes no body: ask for a full rebuild with ?full=true.", field=field)
        query = BuildQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        request_build(dataset=dataset, actor=request.user, full=query.validated_data["full"], api_key=self.api_key)
        url = self.dataset_url(dataset)
        answer = {"status": "requested", "status_url": url, "latest_version": dataset.latest_version}
        return Response(BuildOut(answer).data, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


WITHDRAWAL_REASON_EXAMPLE = "Gold answers of the refund items were wrong: rebuilt after adjudication"


class VersionWithdrawView(_DatasetView, GenericAPIView):
    permission_classes = [CanBuildDatasetsOrSignedIn]
    serializer_class = VersionOut

    @extend_schema(
        operation_id="withdraw_dataset_version",
        summary="Withdraw a ready version (a lead or admin: signed in, or a `datasets` key one of them issued)",
        description=(
            "For a version that holds bad gold, or text redacted since: its rows and rendered files are deleted, the "
            "record stays (number, checksum, counts, who withdrew it, when and why, in `withdrawn_by`, "
            "`withdrawn_by_key`, `withdrawn_at` and `withdrawn_note`), and its downloads, rows and diffs answer 410 "
            "Gone with the reason; `latest` names the newest version still ready. Audited as "
            "`dataset.version_withdrawn`, and sent to the webhooks that take `dataset.version_withdrawn`. Name the "
            "version by its number (`latest` is a 400: a retry would withdraw the next one). A version withdrawn "
            "already is answered as it is, unchanged (a retry is harmless); one still building, or failed, is a 409. "
            "An engineer, or a key an engineer issued, is a 403."
        ),
        parameters=[_NUMBERED_VERSION],
        request=WithdrawIn,
        # "Try it out" starts from it: Swagger UI's own is {"reason": "string"}, a withdrawal for no reason anyone
        # could read in the 410s after it if executed.
        examples=[
            OpenApiExample(
                "A version whose gold was wrong",
                value={"reason": WITHDRAWAL_REASON_EXAMPLE},
                request_only=True,
            )
        ],
        responses={
            200: VersionOut,
            400: ErrorsOut,
            **_WRITE_ERRORS,
            403: OpenApiResponse(
                ErrorsOut,
                description="The key lacks the `datasets` scope or was issued by someone who is not a lead or admin; "
                "signed in, an engineer or an expert; or no CSRF token.",
            ),
            409: OpenApiResponse(ErrorsOut, description="The version is building or failed: nothing to withdraw."),
        },
    )
    def post(self, request, *args, **kwargs):
        dataset = self.dataset  # who may see it first: a 404, then who may withdraw: a 403, before any 400
        grant = check_can_withdraw_versions(
            self.project, user=request.user, api_key=self.api_key, membership=self.membership
        )
        ref = self.kwargs["version"]
        if ref == LATEST:
            raise InvalidInput(
                f"Name the version to withdraw by its number: `{LATEST}` moves once one is withdrawn, so a retry "
                "would withdraw the version before it.",
                field="version",
            )
        version = version_of_dataset(dataset, ref)  # a number that names no version: 404
        answer = WithdrawIn(data=request.data)
        answer.is_valid(raise_exception=True)
        withdrawal = withdraw_version(
            dataset=dataset,
            number=version.number,
            reason=answer.validated_data["reason"],
            actor=request.user,
            api_key=self.api_key,
            grant=grant,  # asked once, above
        )
        shown = versions_of_dataset(dataset).get(pk=withdrawal.version.pk)  # with who withdrew it, as lists show it
        context = {
            **self.get_serializer_context(),
            "file_states": {},
            "questions": questions_of_versions(dataset, [shown]),
        }
        return Response(VersionOut(shown, context=context).data, headers={VERSION_HEADER: str(shown.number)})
