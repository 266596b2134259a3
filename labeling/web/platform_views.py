"""The platform team's pages (operators only; anyone else signed in gets the 404 page saying so:
`rules.access.check_operator`): every project's health side by side, usage, and the operator tokens that script the
usage API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling.exceptions import DomainError, InvalidInput
from labeling.rules.access import check_operator
from labeling.rules.text import isolated
from labeling.selectors import platform as selector
from labeling.services.exports import csv_rows
from labeling.services.operator_tokens import issue_operator_token, revoke_operator_token

from .charts import sparkline
from .platform_forms import OperatorTokenForm, UsageRangeForm

# The columns of the platform table, in order: (sort key, header). The trend column does not sort.
COLUMNS = (
    ("project", "Project"),
    ("outputs", "Outputs this week"),
    ("outputs_last", "Outputs last week"),
    ("thumbs_down", "Thumbs-down"),
    ("labels", "Labels done / wanted"),
    ("pass_rate", "Pass rate"),
    ("agreement", "Agreement α"),
    ("experts", "Experts active"),
    ("close", "Weekly close"),
    ("dataset_age", "Newest dataset"),
    ("ingest_errors", "Ingest errors (7 days)"),
    ("alerts", "Alerts"),
)


@login_required
@require_GET
def platform(request: HttpRequest) -> HttpResponse:
    check_operator(request.user)
    sort, direction = request.GET.get("sort", "project"), request.GET.get("dir", "asc")
    rows = selector.sorted_rows(selector.platform_rows(), sort=sort, direction=direction)
    context = {
        "rows": [(row, _trend(row)) for row in rows],
        "headers": [_header(request, key, name, sort, direction) for key, name in COLUMNS],
        "attention": sum(row.close.stands_out for row in rows),
        "open_alerts": sum(row.open_alerts for row in rows),
        "back_here": request.get_full_path(),  # where acknowledging an alert returns to
    }
    return render(request, "labeling/platform/platform.html", context)


def _header(request: HttpRequest, key: str, name: str, sort: str, direction: str) -> dict:
    """A sortable header: its link sorts by the column, descending first (biggest first), then toggles."""
    current = key == sort
    following = ("asc" if direction == "desc" else "desc") if current else ("asc" if key == "project" else "desc")
    return {
        "name": name,
        "href": f"{reverse('labeling:platform')}?sort={key}&dir={following}",
        "aria_sort": ("ascending" if direction == "asc" else "descending") if current else "none",
        "key": key,
    }


def _trend(row: selector.PlatformRow):
    weeks = ", ".join(f"{week:%d %b}: {'—' if outputs is None else outputs}" for week, outputs in row.trend)
    return sparkline([outputs for _, outputs in row.trend], title=f"Outputs per week, last 8 weeks ({weeks})")


@login_required
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    check_operator(request.user)
    fmt = request.GET.get("format", "html")
    if fmt not in ("html", "csv"):
        raise InvalidInput(f"The format is 'html' or 'csv', not {fmt!r}.")
    form = UsageRangeForm(request.GET)
    project, since, until = None, None, None
    if form.is_valid():
        try:
            project = selector.usage_project(request.user, form.cleaned_data["project"])
        except InvalidInput as unknown:  # a slug typed into the Project box: said beside it, as a bad date is
            form.add_error("project", unknown.message)
        else:
            try:
                since, until = selector.usage_range(
                    since=form.cleaned_data["since"],
                    until=form.cleaned_data["until"],
                    now=timezone.now(),
                    project=project,
                )
            except InvalidInput as refused:
                form.add_error(refused.field if refused.field in form.fields else None, refused.message)
    if form.errors:
        if fmt == "csv":
            raise InvalidInput("; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))
        # The page again with the filter and each problem beside its field, to correct it there.
        return render(request, "labeling/platform/usage.html", {"form": form}, status=400)
    records = [selector.usage_record(row) for row in selector.usage_rows(since=since, until=until, project=project)]
    if fmt == "csv":
        response = StreamingHttpResponse(csv_rows(selector.USAGE_COLUMNS, records), content_type="text/csv")
        # One project's file says whose it is, as a download folder of several would need.
        name = f"expertloop-usage-{project.slug}-{since}-{until}" if project else f"expertloop-usage-{since}-{until}"
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    context = {"form": form, "since": since, "until": until, "records": records, "csv_query": _csv_query(request)}
    if not records:
        context["week_starts"] = selector.week_starts_missed(since=since, until=until, project=project)
    return render(request, "labeling/platform/usage.html", context)


def _csv_query(request: HttpRequest) -> str:
    query = request.GET.copy()
    query["format"] = "csv"
    return query.urlencode()


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """GET lists the operator's tokens; POST issues one and answers with its secret, this once (never stored, nor
    put in the session, a message or a redirect)."""
    check_operator(request.user)
    form = OperatorTokenForm(request.POST or None)
    issued, status = None, 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                issued = issue_operator_token(user=request.user, name=form.cleaned_data["name"])
            except DomainError as exc:
                form.add_error("name" if exc.status_code == 400 else None, exc.message)
                status = exc.status_code
            else:
                form, status = OperatorTokenForm(), 200
    context = {
        "form": form,
        "issued": issued,
        "tokens": selector.tokens_of(request.user),
        "usage_url": request.build_absolute_uri(reverse("api:platform-usage")),
    }
    return render(request, "labeling/platform/tokens.html", context, status=status)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    check_operator(request.user)
    token = revoke_operator_token(user=request.user, token_id=token_id)
    messages.success(request, f"Token “{isolated(token.name)}” revoked: scripts using it are refused from now on.")
    return redirect("labeling:platform-tokens")
