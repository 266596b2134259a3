"""The guard: hostile input anywhere a client can put it is a 4xx, never a server error.

Nothing here is a hand-kept list of endpoints. The targets come from the application itself:
every URL pattern of the URLconf (`django.urls.get_resolver`), every parameter the OpenAPI schema
names (drf-spectacular's `SchemaGenerator`), every field of every form the pages render (GET each
page as a lead, an expert and the admin, parse its <form>s), and every `request.GET` / `request.POST`
/ `query_params` name the views read. Each hostile value goes into one field at a time, the others
keeping the values the page rendered, so the value gets as deep as a real user's would.

It runs on PostgreSQL because that is where a NUL in text or an out-of-range integer fails.

About 11,000 requests in all: the tests of test_guard.py each send one `Part` of them (every request belongs to
exactly one part), so each reports its own. They run on one xdist worker and share one seeded demo and one discovery
(the first part's crawl of every page); each sends only its own requests.
"""

import enum
import inspect
import json
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote_from_bytes, urljoin, urlsplit

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.core.signals import got_request_exception
from django.db import DatabaseError, transaction
from django.test import Client, client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from drf_spectacular.generators import SchemaGenerator

from labeling.models import (
    Alert,
    AlertRule,
    ApiKey,
    Dataset,
    DatasetVersion,
    Decision,
    Invitation,
    Item,
    Membership,
    Output,
    Project,
    Queue,
    ReviewCycle,
    SavedView,
)
from labeling.services.api_keys import create_api_key


class Part(enum.Enum):
    """A share of the guard's requests, by where they go: each request belongs to exactly one."""

    WEB_GET = "web pages, GET"
    WEB_POST = "web pages, POST"
    ADMIN = "the admin"
    API = "the API (with its JSON bodies)"

    @classmethod
    def of(cls, path: str, method: str) -> "Part":
        """The part a request to `path` (a URL path or a URL pattern's route) with `method` belongs to."""
        path = path.lstrip("/")
        if path.startswith("admin/"):
            return cls.ADMIN
        if path.startswith("api/"):
            return cls.API
        return cls.WEB_GET if method == "GET" else cls.WEB_POST


# The families, as the bytes a client sends (percent-encoded into URLs and form bodies).
FAMILIES: dict[str, bytes] = {
    "nul": b"a\x00b",
    "lone surrogate": b"\xed\xa0\x80",  # U+D800 as WTF-8: what a sloppy encoder writes
    "invalid utf-8": b"\xff\xfe\xc3",
    "1e309": b"1e309",
    "-1": b"-1",
    "2**63": str(2**63).encode(),
    "10**100": str(10**100).encode(),
    "0001-01-01": b"0001-01-01",
    "9999-12-31": b"9999-12-31T23:59:59+00:00",
    "0001-W01": b"0001-W01",
    "9999-W52": b"9999-W52",
    "deep json": b"[" * 10_000 + b"]" * 10_000,
    "long string": b"x" * 10_000,
}
# The same families inside a JSON document (a value, and a key where a key can be hostile).
JSON_VALUES: dict[str, bytes] = {
    "nul": b'"a\\u0000b"',
    "lone surrogate": b'"\\ud800"',
    "invalid utf-8": b'"\xff\xfe"',
    "1e309": b"1e309",
    "-1": b"-1",
    "2**63": str(2**63).encode(),
    "10**100": str(10**100).encode(),
    "0001-01-01": b'"0001-01-01T00:00:00Z"',
    "9999-12-31": b'"9999-12-31T23:59:59Z"',
    "0001-01-01+01:00": b'"0001-01-01T00:00:00+01:00"',
    "9999-12-31-01:00": b'"9999-12-31T23:59:59-01:00"',
    "0001-W01": b'"0001-W01"',
    "deep json": b"[" * 10_000 + b"]" * 10_000,
    "long string": b'"' + b"x" * 10_000 + b'"',
    # Legal JSON, or what lenient encoders write, that a strict reader must still answer with a 4xx.
    "NaN": b"NaN",
    "-Infinity": b"-Infinity",
    "1e400": b"1e400",
    "-0.0": b"-0.0",
    "24:00": b'"2026-11-20T24:00:00Z"',
    "leap second": b'"2016-12-31T23:59:60Z"',
    "no zone": b'"2026-11-20T09:00:00"',
    "array of objects": b'[{"a": 1}]',
    "object": b'{"a": {"b": []}}',
}
JSON_KEYS: dict[str, bytes] = {
    "nul key": b'"a\\u0000b"',
    "lone surrogate key": b'"\\ud800"',
    "invalid utf-8 key": b'"\xff\xfe"',
}


@dataclass
class Target:
    """One place input goes: a URL and method, the fields to fuzz and the defaults of the others."""

    url: str
    method: str
    persona: str
    fields: list[str] = field(default_factory=list)
    defaults: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Guard:
    clients: dict[str, Client]
    part: Part
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    errors: list[BaseException] = field(default_factory=list)
    timings: dict = field(default_factory=lambda: defaultdict(float))

    def send(self, persona: str, method: str, url: str, *, body: bytes = b"", content_type: str = "", what: str):
        """Send one request in its own savepoint (a failed statement must not poison the next ones)."""
        assert Part.of(urlsplit(url).path, method) == self.part, f"{method} {url[:80]} is not {self.part}"
        self.sent += 1
        self.errors.clear()
        began = time.monotonic()
        status = None
        try:
            with transaction.atomic():
                response = self.clients[persona].generic(method, url, body, content_type=content_type)
                status = response.status_code
        except DatabaseError as exc:  # the savepoint could not be released: the view hit a database error
            self.errors.append(exc)
            status = status or 500
        self.timings[(method, urlsplit(url).path[:60])] += time.monotonic() - began
        if status >= 500:
            cause = ", ".join(f"{type(e).__name__}: {str(e)[:120]}" for e in self.errors) or "no exception"
            self.failures.append(f"{status} {method} {url[:150]!r} as {persona} [{what}] ← {cause}")
        return status


# Discovery -----------------------------------------------------------------------------------------------------


def url_patterns(resolver=None, prefix: str = ""):
    """(route, pattern) for every URL pattern, resolvers included."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from url_patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
_READS = re.compile(r"""(?:request\.(?:GET|POST|query_params)|data)\.get\(\s*["'](\w+)["']""")


def fill(route: str, values: dict[str, str], override: tuple[str, str] | None = None) -> str | None:
    """The route with its parameters filled in (one of them, maybe, by a raw hostile percent-encoding)."""
    if route.startswith("^") or "(?P" in route:
        return None  # a regex route (the admin's catch-alls): the admin's own named routes cover its views

    def one(match):
        name = match["name"]
        if override and override[0] == name:
            return override[1]
        return quote_from_bytes(values[name].encode(), safe="/") if name in values else None

    try:
        return "/" + _PARAM.sub(lambda m: one(m) or _missing(m["name"]), route).lstrip("^").rstrip("$")
    except KeyError:
        return None


def _missing(name):
    raise KeyError(name)


def view_reads(callback) -> set[str]:
    """The parameter names a view (function or class) reads from GET, POST or query_params."""
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None) or callback
    while hasattr(view, "__wrapped__"):
        view = view.__wrapped__
    try:
        source = inspect.getsource(view)
    except (OSError, TypeError):
        return set()
    names = set(_READS.findall(source))
    # The forms it builds: every field they declare.
    for name, value in getattr(view, "__globals__", {}).items():
        if isinstance(value, type) and issubclass(value, forms.BaseForm) and re.search(rf"\b{name}\(", source):
            names.update(value.base_fields)
    return names


class FormParser(HTMLParser):
    """The forms of a page: action, method, and every named control with the value it would send."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.links: list[str] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh" and "url=" in a.get("content", ""):
            self.links.append(a["content"].split("url=", 1)[1])
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "method": (a.get("method") or "get").upper(),
                               "fields": []})  # fmt: skip
            return
        if not self.forms or not a.get("name"):
            return
        fields = self.forms[-1]["fields"]
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                fields.append((a["name"], None))  # known, not sent by default
            elif kind not in ("submit", "button", "image", "reset", "file"):
                fields.append((a["name"], a.get("value") or ""))
        elif tag == "button" and (a.get("type") or "submit") == "submit":
            fields.append((a["name"], None))
        elif tag == "textarea":
            self._textarea = a["name"]
            fields.append((a["name"], ""))
        elif tag == "select":
            self._select = a["name"]
            fields.append((a["name"], None))
        elif tag == "option" and self._select:
            name, value = self._select, a.get("value", "")
            for position, (known, current) in enumerate(fields):
                if known == name and (current is None or "selected" in a):
                    fields[position] = (name, value)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            fields = self.forms[-1]["fields"]
            fields[-1] = (fields[-1][0], fields[-1][1] + data)


def openapi_parameters() -> dict[tuple[str, str], list[str]]:
    """(path template, method) → the query parameter names the schema documents."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found: dict[tuple[str, str], list[str]] = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            found[(path, method.upper())] = names
            if "requestBody" in operation:
                found[(path, "JSON")] = [path]
    return found


def _route_as_openapi(route: str) -> str:
    return "/" + _PARAM.sub(lambda m: "{" + m["name"] + "}", route)


# The run ------------------------------------------------------------------------------------------------------


def _an_alert(project: Project) -> Alert:
    """The demo's first alert, or one made for the guard (the demo evaluates none)."""
    return Alert.objects.filter(project=project).order_by("pk").first() or Alert.objects.create(
        project=project, rule=AlertRule.QUEUE_IDLE, key="guard", title="Nobody labeled in Guard for 3 day(s)"
    )


def _path_values(project: Project) -> dict[str, str]:
    """A real value for every path parameter name, so each URL reaches its view."""
    queue = Queue.objects.filter(project=project).order_by("pk").first()
    version = DatasetVersion.objects.filter(dataset__project=project).order_by("-pk").first()
    cycle = ReviewCycle.objects.filter(project=project, status="closed").order_by("-week").first()
    item = Item.objects.filter(project=project).order_by("pk").first()
    decision = Decision.objects.filter(cycle__project=project).order_by("pk").first()
    user_model = get_user_model()
    return {
        "slug": project.slug,
        "project_slug": project.slug,
        "queue_slug": queue.slug,
        "queue_id": str(queue.pk),
        "item_id": str(item.pk),
        "dataset_slug": Dataset.objects.filter(project=project).order_by("pk").first().slug,
        "version": str(version.number),
        "week": cycle.label,
        "week_label": cycle.label,
        "decision_id": str(decision.pk),
        "alert_id": str(_an_alert(project).pk),
        "external_id": Output.objects.filter(project=project).order_by("pk").first().external_id,
        # The team screens: an expert's membership, the demo's pending invitation, its key, a saved view.
        "membership_id": str(Membership.objects.get(project=project, user__username="expert2").pk),
        "invitation_id": str(Invitation.objects.filter(project=project).order_by("pk").first().pk),
        "key_id": str(ApiKey.objects.filter(project=project).order_by("pk").first().pk),
        "view_id": str(SavedView.objects.filter(project=project).order_by("pk").first().pk),
        "token_id": "1",  # an operator token (none exists: the revoke answers 404)
        # A password reset link (of user 1, with no reset started: the "link does not work" page).
        "uidb64": "MQ",
        "token": "set-password",
        # The admin's own routes.
        "app_label": "labeling",
        "object_id": str(project.pk),
        "user_id": str(user_model.objects.get(username="lead").pk),
        "id": str(project.pk),
    }


# Screens whose forms the crawl must find, so a broken sign-in or crawl cannot pass by sending nothing.
MUST_FIND_FORMS = {
    "item", "item-skip", "item-flag", "item-comment", "adjudicate", "rubric", "queue-create", "queue-edit",
    "dataset-create", "decision-add", "dashboard", "login", "project-create", "project-settings", "member-invite",
    "member-role", "api-keys", "audit", "password_reset", "platform-usage",
}  # fmt: skip


@dataclass
class Discovery:
    """Where input goes, found once per demo and shared by the parts: every request belongs to one part, but finding
    them (the URLconf, the schema, a crawl of every page as each persona) is the same work for each."""

    path_probes: list[tuple[str, str, str, str]]  # (persona, method, url, what): a hostile value in a path parameter
    targets: list[Target]
    json_routes: list[tuple[str, str]]
    form_names: set[str]
    # A page as a user reaches it, without any hostile value, answered with a server error: (its part, the line).
    crawl_failures: list[tuple[Part, str]]


@dataclass
class Site:
    """The guard's demo for a package of parts: the seeded project, an API key and an alert made with it (committed,
    so every part sees the same rows), and the discovery the first part made."""

    project: Project
    key_secret: str
    discovery: Discovery | None = None


def make_site(project: Project) -> Site:
    """The rows the guard needs besides the demo's, committed with it: the key its `key` persona sends, an alert."""
    _an_alert(project)
    key = create_api_key(project=project, name="guard", scopes=["ingest", "read"])
    return Site(project=project, key_secret=key.secret)


def run_guard(site: Site, part: Part) -> None:
    """Send every hostile family everywhere `part` covers; fail on any 5xx, or if the crawl missed a form."""
    started = time.monotonic()
    user_model = get_user_model()
    clients = {"anonymous": Client(raise_request_exception=False)}
    for persona, username in (("lead", "lead"), ("expert", "expert1"), ("admin", "admin")):
        clients[persona] = Client(raise_request_exception=False)
        clients[persona].force_login(user_model.objects.get(username=username))
    clients["key"] = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {site.key_secret}")
    guard = Guard(clients, part)

    def record(sender, request, **kwargs):
        guard.errors.append(sys.exc_info()[1])

    got_request_exception.connect(record)
    try:
        # Only status codes are read: skip the test client's copy of the context of every template rendered
        # (a page with the 599 time zones renders 1,200 templates), a twentieth of the guard's time.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(client, "store_rendered_templates", lambda *args, **kwargs: None)
            if site.discovery is None:
                site.discovery = _discover(guard, site.project)
            found = site.discovery
            _send(guard, found)
    finally:
        got_request_exception.disconnect(record)
    elapsed = time.monotonic() - started
    print(f"hostile-input guard, {part.value}: {guard.sent} requests in {elapsed:.1f} s")
    for where, spent in sorted(guard.timings.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {spent:6.2f} s {where}")
    assert MUST_FIND_FORMS <= found.form_names, f"forms not found: {sorted(MUST_FIND_FORMS - found.form_names)}"
    assert guard.sent > 100, f"only {guard.sent} requests for {part.value}: is the discovery broken?"
    assert not guard.failures, f"{len(guard.failures)} server errors:\n" + "\n".join(guard.failures)


def _personas(route: str) -> list[str]:
    if route in ("login/", "logout/", "admin/login/", "admin/logout/"):
        return ["anonymous"]  # signing a persona out would silently turn every later request into a redirect
    if route.startswith("admin/"):
        return ["admin"]
    if route == "projects/new":
        return ["admin"]  # staff create projects; the demo's lead may not
    if route.startswith(("platform/", "api/v1/platform/")):
        return ["admin", "lead"]  # operators (a superuser) reach the views; a lead is refused
    if route.startswith("api/"):
        return ["key", "lead"]
    return ["lead", "expert"]


def _route_of(path: str) -> str | None:
    try:
        return resolve(path).route
    except Resolver404:
        return None


def _discover(guard: Guard, project: Project) -> Discovery:
    """Every place a hostile value can go, for every part: the path parameters of each route, the fields each view and
    the schema name, and the forms and query links of every page, crawled as each persona with `guard`'s clients."""
    values = _path_values(project)
    schema = openapi_parameters()
    targets: list[Target] = []
    json_routes: list[tuple[str, str]] = []
    path_probes: list[tuple[str, str, str, str]] = []
    crawl_failures: list[tuple[Part, str]] = []
    pages: list[tuple[str, str]] = []  # (persona, url) to read forms and links from
    for route, pattern in url_patterns():
        url = fill(route, values)
        if url is None or (route.startswith("admin/") and not _admin_in_scope(route)):
            continue
        api_route = _route_as_openapi(route)
        params = view_reads(pattern.callback) | set(
            schema.get((api_route, "GET"), []) + schema.get((api_route, "POST"), [])
        )
        if (api_route, "JSON") in schema:
            json_routes.append((route, url))
        for persona in _personas(route):
            # Path parameters: each one replaced by each family, GET and POST. A value its converter refuses
            # is a 404 from the resolver before any of our code runs: not sent.
            converters = getattr(pattern.pattern, "converters", {})
            for _, name in _PARAM.findall(route):
                for family, raw in FAMILIES.items():
                    converter = converters.get(name)
                    if converter and not re.fullmatch(converter.regex, raw.decode("utf-8", "replace")):
                        continue
                    hostile = fill(route, values, (name, quote_from_bytes(raw, safe="")))
                    for method in ("GET", "POST"):
                        path_probes.append((persona, method, hostile, f"path {name} = {family}"))
            for method in ("GET", "POST"):
                targets.append(Target(url, method, persona, fields=sorted(params)))
            pages.append((persona, url))
    # Crawl: one page per route and persona, following links and redirects, to find forms and query links.
    harvested: set[tuple[str, str]] = set()
    form_names: set[str] = set()
    while pages:
        persona, url = pages.pop(0)
        route = _route_of(urlsplit(url).path)
        if route is None or (persona, route) in harvested or route.endswith("logout/"):
            continue
        page = guard.clients[persona].get(url)
        if page.status_code >= 500 and page.status_code != 503:
            # A page as a user reaches it, without any hostile value: a server error here is a bug all the same
            # (503 is an answer by design: /readyz while the test runs no Celery worker).
            line = f"{page.status_code} GET {url[:150]!r} as {persona} [crawl, no hostile value]"
            crawl_failures.append((Part.of(urlsplit(url).path, "GET"), line))
        if page.status_code in (301, 302) and page["Location"].startswith("/"):
            pages.insert(0, (persona, page["Location"]))
            continue
        if page.status_code != 200 or "html" not in page.get("Content-Type", ""):
            continue
        harvested.add((persona, route))
        parser = FormParser()
        parser.feed(page.content.decode())
        for form in parser.forms:
            action = urlsplit(urljoin(url, form["action"] or url))
            if not action.path.startswith("/") or action.path.endswith("logout/"):
                continue
            defaults = [(n, v) for n, v in form["fields"] if v is not None]
            names = sorted({n for n, _ in form["fields"]})
            targets.append(Target(action.path, form["method"], persona, fields=names, defaults=defaults))
            if _route_of(action.path) is not None:
                form_names.add(resolve(action.path).url_name)
        for link in parser.links:
            parts = urlsplit(urljoin(url, link))
            if parts.netloc not in ("", "testserver") or not parts.path.startswith("/"):
                continue
            pages.append((persona, parts.path + (f"?{parts.query}" if parts.query else "")))
            if parts.query:
                names = sorted({pair.split("=", 1)[0] for pair in parts.query.split("&") if pair})
                targets.append(Target(parts.path, "GET", persona, fields=names))
    return Discovery(path_probes, targets, json_routes, form_names, crawl_failures)


def _send(guard: Guard, found: Discovery) -> None:
    """Send the hostile values of `guard`'s part to where `found` says input goes."""
    guard.failures += [line for part, line in found.crawl_failures if part == guard.part]
    for persona, method, url, what in found.path_probes:
        if Part.of(url, method) == guard.part:
            guard.send(persona, method, url, what=what)
    _send_fields(guard, [target for target in found.targets if Part.of(target.url, target.method) == guard.part])
    if guard.part == Part.API:
        _send_json(guard, found.json_routes)


def _admin_in_scope(route: str) -> bool:
    # The admin's changelists and change forms of this project's models; Django's auth screens are Django's.
    return route.startswith("admin/labeling/") or route in ("admin/", "admin/login/")


_FORMSET_MANAGEMENT = ("-TOTAL_FORMS", "-INITIAL_FORMS", "-MIN_NUM_FORMS", "-MAX_NUM_FORMS")


def _send_fields(guard: Guard, targets: list[Target]) -> None:
    done: set[tuple[str | None, str, str]] = set()
    # The admin's own screens last: its forms change memberships and keys the other screens rely on.
    for target in sorted(targets, key=lambda target: target.persona == "admin"):
        admin_site = (_route_of(target.url) or "").startswith("admin/")
        if admin_site and target.method == "POST" and not target.url.endswith("/add/"):
            continue  # posting the admin's change and delete forms would change who may do what
        for name in target.fields:
            if name == "csrfmiddlewaretoken" or name.endswith(_FORMSET_MANAGEMENT) or name.startswith("_"):
                # The test client does not check CSRF tokens (a real server answers 403); formset management
                # fields and the admin's submit buttons are Django's own, answered with a 400 by Django.
                continue
            # One persona per route and field: the same code would only be exercised twice.
            key = (_route_of(target.url), target.method, name)
            if key in done:
                continue
            done.add(key)
            others = [(n, v) for n, v in target.defaults if n != name]
            for family, raw in FAMILIES.items():
                pairs = "&".join(
                    [f"{quote_from_bytes(n.encode(), safe='')}={quote_from_bytes(v.encode(), safe='')}"
                     for n, v in others]
                    + [f"{quote_from_bytes(name.encode(), safe='')}={quote_from_bytes(raw, safe='')}"]
                )  # fmt: skip
                what = f"{'query' if target.method == 'GET' else 'form'} {name} = {family}"
                if target.method == "GET":
                    guard.send(target.persona, "GET", f"{target.url}?{pairs}", what=what)
                else:
                    guard.send(
                        target.persona, "POST", target.url, body=pairs.encode(),
                        content_type="application/x-www-form-urlencoded", what=what,
                    )  # fmt: skip


def _send_json(guard: Guard, routes: list[tuple[str, str]]) -> None:
    """Every JSON body endpoint: hostile documents, and each hostile value in every field of a real record."""
    record_fields = json.loads(json.dumps(_RECORD_FIELDS))
    for _route, url in routes:
        persona = "key"
        bodies: dict[str, bytes] = {f"body = {name}": value for name, value in JSON_VALUES.items()}
        for name, key in JSON_KEYS.items():
            bodies[f"body {name}"] = b"{" + key + b": 1}"
        envelope = next((name for name in ("outputs", "events", "feedback") if url.endswith(name)), None)
        if envelope:
            for fname, base in record_fields[envelope].items():
                for family, value in JSON_VALUES.items():
                    record = json.dumps(base).encode()
                    record = record.replace(f'"{fname}": "@"'.encode(), f'"{fname}": '.encode() + value)
                    bodies[f"{envelope}[0].{fname} = {family}"] = b'{"' + envelope.encode() + b'": [' + record + b"]}"
                for kname, key in JSON_KEYS.items():
                    record = json.dumps(base).encode()[:-1] + b", " + key + b': "x"}'
                    bodies[f"{envelope}[0] {kname}"] = b'{"' + envelope.encode() + b'": [' + record + b"]}"
        for what, body in bodies.items():
            guard.send(persona, "POST", url, body=body, content_type="application/json", what=what)
            guard.send("lead", "POST", url, body=body, content_type="application/json", what=what)
        if url.endswith("/otel/v1/traces"):
            for what, body in _protobuf_bodies().items():
                guard.send(persona, "POST", url, body=body, content_type="application/x-protobuf", what=what)


def _protobuf_bodies() -> dict[str, bytes]:
    """Binary OTLP exports that are cut short, padded, or lie about a length: a 400, never a server error."""
    from labeling.services.otlp import request_from_json
    from tests.helpers.otlp import export, span

    attributes = {"gen_ai.operation.name": "chat", "gen_ai.completion.0.content": "hi"}
    whole = request_from_json(export(span(attrs=attributes))).SerializeToString()
    bodies = {f"protobuf cut to {size} bytes": whole[:size] for size in (1, 2, len(whole) // 2, len(whole) - 1)}
    bodies["protobuf followed by garbage"] = whole + b"\xff\xff\xff"
    bodies["protobuf sent twice"] = whole + whole
    bodies["protobuf field longer than the body"] = b"\x0a\xff\xff\xff\xff\x0f" + whole
    bodies["protobuf length past 2 GiB"] = b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x01"
    bodies["protobuf nested 10,000 deep"] = _nested_protobuf(10_000)
    return bodies


def _nested_protobuf(depth: int) -> bytes:
    """resource_spans (field 1) holding a resource (field 1) holding itself, `depth` times: each level a
    length-delimited field 1 around the next."""
    body = b""
    for _ in range(depth):
        size, varint = len(body), b""
        while True:
            byte, size = size & 0x7F, size >> 7
            varint += bytes([byte | (0x80 if size else 0)])
            if not size:
                break
        body = b"\x0a" + varint + body
    return body


def _with_hole(record: dict) -> dict[str, dict]:
    """One copy of the record per field, that field's value replaced by the placeholder "@"."""
    return {name: {**record, name: "@"} for name in record}


_RECORD_FIELDS = {
    "outputs": _with_hole(
        {
            "external_id": "guard-1",
            "output": "hi",
            "input": "hello",
            "occurred_at": "2026-11-20T09:00:00Z",
            "model": "m",
            "end_user_id": "u",
            "session_id": "s",
            "context": {"a": 1},
            "metadata": {"k": "v"},
            "tags": ["t"],
            "feedback": {"score": 1},
        }  # fmt: skip
    ),
    "events": _with_hole(
        {
            "end_user_id": "u",
            "name": "n",
            "external_id": "e-1",
            "occurred_at": "2026-11-20T09:00:00Z",
            "properties": {"k": "v"},
        }  # fmt: skip
    ),
    "feedback": _with_hole({"external_id": "guard-1", "score": 1, "comment": "c"}),
}
