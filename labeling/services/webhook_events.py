"""The webhook events, as each service that makes one happen emits it (in its transaction, through `emit`).

Payloads carry ids and links (absolute, from SITE_URL), never the texts of inputs and outputs, except for
endpoints that opted in (`include_transcripts`), each text cut to TRANSCRIPT_MAX_CHARS. README "Webhooks"
shows one of each.
"""

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from django.urls import reverse

from labeling.models import (
    Alert,
    DatasetVersion,
    Flag,
    Item,
    Output,
    ReviewCycle,
    WebhookEndpoint,
    WebhookEvent,
    WebhookKind,
    week_label,
)
from labeling.rules.annotators import annotator_pseudonym
from labeling.rules.moments import stored_moments_in_utc, utc_moment
from labeling.rules.text import isolated
from labeling.selectors.digest import headline_lines, meeting_url, project_digest_lines, site_url

from .webhooks import Message, emit, emit_each

# An output's input or output may be megabytes (whole conversations); a delivery stores and sends its body per
# endpoint and attempt, so each text a receiver gets is cut to this many characters (and marked "truncated").
TRANSCRIPT_MAX_CHARS = 100_000


def _listening(project_id: int, event: str) -> bool:
    """Whether any enabled endpoint of the project wants the event: most projects have none, and the
    payload need not be built for nobody."""
    return _listeners(project_id, event)[0]


def _listeners(project_id: int, event: str) -> tuple[bool, bool]:
    """Whether any enabled endpoint wants the event, and whether one of them takes the texts: only then are an
    output's input and output (megabytes, at worst) read."""
    wanting = [
        with_texts and kind == WebhookKind.STANDARD
        for events, with_texts, kind in WebhookEndpoint.objects.filter(project_id=project_id, enabled=True).values_list(
            "events", "include_transcripts", "kind"
        )
        if event in events
    ]
    return bool(wanting), any(wanting)


def _slack(text: str) -> str:
    """Text for a Slack message: its three control characters escaped, as Slack asks (names may contain them)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _output(output: Output) -> dict:
    return {
        "id": output.pk,
        "external_id": output.external_id,
        "url": site_url(reverse("api:output-detail", args=[output.external_id])),
    }


def _capped(value: Any) -> tuple[Any, bool]:
    """The value, or its first TRANSCRIPT_MAX_CHARS characters (a structured one as its JSON text) and whether
    it was cut."""
    if value is None or (isinstance(value, str) and len(value) <= TRANSCRIPT_MAX_CHARS):
        return value, False
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    if len(text) <= TRANSCRIPT_MAX_CHARS:
        return value, False
    return text[:TRANSCRIPT_MAX_CHARS], True


def _transcript(output: Output) -> dict:
    (given, cut_input), (answered, cut_output) = _capped(output.input), _capped(output.output)
    transcript = {"input": given, "output": answered}
    if cut_input or cut_output:
        transcript["truncated"] = True
    return {"transcript": transcript}


def with_texts_made_again(body: str, output: Output, *, note: Callable[[str], str]) -> str:
    """A body with the texts (an endpoint that opted in) made again: the transcript from the output's stored texts,
    the flag's note through `note`. Other bodies come back as they are."""
    message = msgspec.json.decode(body)
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict) or ("transcript" not in data and "note" not in data):
        return body
    if "transcript" in data:
        data.update(_transcript(output))
    if isinstance(data.get("note"), str):
        data["note"] = note(data["note"])
    return msgspec.json.encode(message).decode()


def with_withdrawal_note(body: str, *, note: Callable[[str], str]) -> str:
    """A `dataset.version_withdrawn` body with the reason (`data.version.note`, which a lead may have quoted personal
    data in) through `note`. Other bodies come back as they are."""
    message = msgspec.json.decode(body)
    data = message.get("data") if isinstance(message, dict) else None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, dict) or not isinstance(version.get("note"), str):
        return body
    version["note"] = note(version["note"])
    return msgspec.json.encode(message).decode()


def output_flagged(flag: Flag) -> int:
    """An expert flagged an item for the weekly meeting."""
    item = flag.item
    listening, with_texts = _listeners(item.project_id, WebhookEvent.OUTPUT_FLAGGED)
    if not listening:
        return 0
    project = item.project
    output = Output.objects.only("pk", "external_id", *(("input", "output") if with_texts else ())).get(
        pk=item.output_id
    )
    data = {
        "project": project.slug,
        # The expert as datasets and the label export name them: their user name stays in the project.
        "flag": {
            "id": flag.pk,
            "created_at": utc_moment(flag.created_at),
            "annotator": annotator_pseudonym(item.project_id, flag.expert_id),
        },
        "item": _item(item),
        "output": _output(output),
        "meeting_url": site_url(reverse("labeling:meeting", args=[project.slug])),
    }
    # The note is the expert's own words, and may quote the conversation: it goes with the transcript.
    return emit(
        project_id=project.pk,
        event=WebhookEvent.OUTPUT_FLAGGED,
        data=data,
        transcripts={**_transcript(output), "note": flag.note} if with_texts else None,
        output_id=output.pk,
    )


def _item(item: Item) -> dict:
    """An item as the item events name it: `week` its cycle's first day (receivers read it so), `week_label` the week
    as the REST API and the `cycle.*` events write it ("2026-W47"), so a receiver can match the two."""
    return {"id": item.pk, "queue": item.queue.slug, "week": item.week.isoformat(), "week_label": week_label(item.week)}


def adjudication_heard(project_id: int) -> bool:
    """Whether an enabled endpoint of the project wants `item.needs_adjudication` (resolution locks outputs for it)."""
    return _listening(project_id, WebhookEvent.ITEM_NEEDS_ADJUDICATION)


def items_need_adjudication(*, project_id: int, item_ids: Iterable[int], reason: str) -> int:
    """Items whose gold answer became a lead's to decide (`reason`: "tie" when the labels tie or disagree
    with no majority, "marked" when a lead sent the item there)."""
    item_ids = list(item_ids)
    listening, with_texts = _listeners(project_id, WebhookEvent.ITEM_NEEDS_ADJUDICATION) if item_ids else (False, False)
    if not listening:
        return 0
    texts = ("output__input", "output__output") if with_texts else ()
    items = (
        Item.objects.filter(pk__in=item_ids)
        .select_related("project", "queue", "output")
        .only("pk", "week", "project__slug", "queue__slug", "output__id", "output__external_id", *texts)
        .order_by("pk")
    )
    messages = [
        Message(
            data={
                "project": item.project.slug,
                "reason": reason,
                "item": _item(item),
                "output": _output(item.output),
                "adjudication_url": site_url(reverse("labeling:adjudicate", args=[item.project.slug, item.pk])),
            },
            transcripts=_transcript(item.output) if with_texts else None,
            output_id=item.output_id,
        )
        for item in items
    ]
    return emit_each(project_id=project_id, event=WebhookEvent.ITEM_NEEDS_ADJUDICATION, messages=messages)


def dataset_version_ready(version: DatasetVersion) -> int:
    """A dataset build finished with a new version."""
    if not _listening(version.dataset.project_id, WebhookEvent.DATASET_VERSION_READY):
        return 0
    data = _about_version(
        version,
        splits=version.split_counts,
        built_at=utc_moment(version.built_at),
        download_url=site_url(reverse("api:dataset-download", args=_version_args(version))),
    )
    return emit(project_id=version.dataset.project_id, event=WebhookEvent.DATASET_VERSION_READY, data=data)


def dataset_version_withdrawn(version: DatasetVersion, *, latest_version: int | None) -> int:
    """A ready version was withdrawn (by a lead, or an end user's erasure): its rows and downloads are gone.
    `latest_version`: the number `latest` names now (None when no ready version is left)."""
    if not _listening(version.dataset.project_id, WebhookEvent.DATASET_VERSION_WITHDRAWN):
        return 0
    data = _about_version(
        version,
        withdrawn_at=utc_moment(version.withdrawn_at),
        note=version.withdrawn_note,
    )
    data["latest_version"] = latest_version
    return emit(project_id=version.dataset.project_id, event=WebhookEvent.DATASET_VERSION_WITHDRAWN, data=data)


def _version_args(version: DatasetVersion) -> list[str]:
    return [version.dataset.project.slug, version.dataset.slug, str(version.number)]


def _about_version(version: DatasetVersion, **details: Any) -> dict:
    """What the dataset events say of a version: its project, dataset, number, counts, checksum and links, with
    `details` added to the version's part."""
    dataset = version.dataset
    project_slug, dataset_slug, _ = args = _version_args(version)
    return {
        "project": project_slug,
        "dataset": {"slug": dataset_slug, "name": dataset.name},
        "version": {
            "number": version.number,
            "rows": version.row_count,
            "sha256": version.sha256,
            **details,
            "url": site_url(reverse("api:dataset-version", args=args)),
        },
        "page_url": site_url(reverse("labeling:dataset", args=[project_slug, dataset_slug])),
    }


def cycle_closed(cycle: ReviewCycle) -> int:
    """A week was closed: its report is frozen. Also the weekly digest (`cycle.digest`), the text the experts'
    e-mail has; Slack endpoints get each as a short message."""
    project = cycle.project
    report = cycle.report or {}
    link = meeting_url(cycle)
    headline = headline_lines(report)
    closed = _about_closed_week(cycle)
    sent = 0
    name = isolated(project.name)  # as the digest's lines isolate it: an override in it reverses nothing after it
    if _listening(project.pk, WebhookEvent.CYCLE_CLOSED):
        slack = _slack("\n".join([f"*{name}*: the week {cycle.label} is closed.", *headline, f"The meeting: {link}"]))
        sent += emit(project_id=project.pk, event=WebhookEvent.CYCLE_CLOSED, data=closed, slack_text=slack)
    if _listening(project.pk, WebhookEvent.CYCLE_DIGEST):
        lines = project_digest_lines(cycle)
        digest = {"project": project.slug, "week": cycle.label, "text": "\n".join(lines), "meeting_url": link}
        slack = _slack("\n".join([f"*{name}*, after {cycle.label}:", *headline, "", *lines]))
        sent += emit(project_id=project.pk, event=WebhookEvent.CYCLE_DIGEST, data=digest, slack_text=slack)
    return sent


def _about_closed_week(cycle: ReviewCycle) -> dict:
    """What the events of a closed week say of it: its project, week, close, the report's headline and links."""
    project = cycle.project
    return {
        "project": project.slug,
        "week": cycle.label,
        "week_start": cycle.week.isoformat(),
        "closed_at": utc_moment(cycle.closed_at),
        "headline": (cycle.report or {}).get("headline") or {},
        "meeting_url": meeting_url(cycle),
        "report_url": site_url(reverse("api:cycle-report", args=[cycle.label])) + f"?project={project.slug}",
    }


def cycle_compared_again(cycle: ReviewCycle, *, restated_from: str | None = None) -> int:
    """A closed week's headline was made again from an earlier week's final report (it closed after this one): its
    comparison with the week before, or (`restated_from`, that week's label) only its week-1 retention by verdict
    from that week's final gold answers. The restated headline, as `cycle.closed` has it; `compared_again` (from which
    week, when: the report's, or for `restated_from` that week and the `gold_restated` moment); `gold_restated` as
    the report has it (null if never). For endpoints that keep the figures `cycle.closed` sent; no Slack message (the
    meeting page says it)."""
    if not _listening(cycle.project_id, WebhookEvent.CYCLE_COMPARED_AGAIN):
        return 0
    report = cycle.report or {}
    gold = report.get("gold_restated") or None
    if restated_from is None:
        restated = report.get("compared_again") or {}
    else:
        restated = {"with_week": restated_from, "at": (gold or {}).get("at")}
    # Stored as the report's moments are; sent as every moment of a payload is.
    data = _about_closed_week(cycle) | stored_moments_in_utc({"compared_again": restated, "gold_restated": gold})
    return emit(project_id=cycle.project_id, event=WebhookEvent.CYCLE_COMPARED_AGAIN, data=data)


def _alert_facts(facts: dict) -> dict:
    """An alert's facts with each moment (a fact named `…_at`) written as every moment of a payload is. The rules
    store them as they found them (`+00:00`, a week's end in the project's zone), and rows stored so stay."""
    return stored_moments_in_utc(facts)


def _alert_data(alert: Alert) -> dict:
    project = alert.project
    return {
        "project": project.slug,
        "alert": {
            "id": alert.pk,
            "rule": alert.rule,
            "key": alert.key,
            "state": alert.state,
            "title": alert.title,
            "detail": alert.detail,
            "facts": _alert_facts(alert.facts),
            "opened_at": utc_moment(alert.opened_at),
            "resolved_at": utc_moment(alert.resolved_at),
        },
        "project_url": site_url(reverse("labeling:project", args=[project.slug])) + "#alerts",
    }


def alert_opened(alert: Alert) -> int:
    """An alert opened (once per condition: it is not told again while it stays open or acknowledged)."""
    project = alert.project
    if not _listening(project.pk, WebhookEvent.ALERT_OPENED):
        return 0
    data = _alert_data(alert)
    slack = _slack(f"*{isolated(project.name)}*: {alert.title}.\n{alert.detail}\n{data['project_url']}")
    return emit(project_id=project.pk, event=WebhookEvent.ALERT_OPENED, data=data, slack_text=slack)


def alert_resolved(alert: Alert) -> int:
    """An alert's condition cleared."""
    project = alert.project
    if not _listening(project.pk, WebhookEvent.ALERT_RESOLVED):
        return 0
    data = _alert_data(alert)
    slack = _slack(f"*{isolated(project.name)}*: resolved: {alert.title}.\n{data['project_url']}")
    return emit(project_id=project.pk, event=WebhookEvent.ALERT_RESOLVED, data=data, slack_text=slack)
