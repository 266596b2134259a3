"""A form as the page showed it: what a browser would post if the user submitted it unchanged (for tests of a stale
page: read the form, let someone else save, then post what the page showed with one change)."""

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.data = form_id, False, {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
            return
        if not self.inside or not attrs.get("name") and tag != "option":
            return
        if tag in ("input", "textarea", "select") and "disabled" in attrs:
            return  # a browser posts no disabled control
        if tag == "input":
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self._add(attrs["name"], attrs.get("value") or ("on" if kind in ("checkbox", "radio") else ""))
        elif tag == "textarea":
            self._textarea = attrs["name"]
            self._add(self._textarea, "")
        elif tag == "select":
            self._select, self._select_first, self._select_chosen = attrs["name"], None, False
        elif tag == "option" and self._select:
            value = attrs.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in attrs:
                self._add(self._select, value)
                self._select_chosen = True

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select:
            if not self._select_chosen and self._select_first is not None:
                self._add(self._select, self._select_first)
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][-1] += data


def form_as_shown(html: str, form_id: str) -> dict[str, list[str]]:
    """The fields of the form with this id, as a browser would post them unchanged (lists: Client.post takes them)."""
    reader = _FormReader(form_id)
    reader.feed(html)
    # A browser drops the newline right after <textarea> (Django writes one).
    return {name: [v[1:] if v.startswith("\n") else v for v in values] for name, values in reader.data.items()}


def stale_page_after_another_leads_save(lead_client, project, url: str, form_id: str, changes: dict) -> dict:
    """The form of `url` as lead A's page showed it, after another lead of the project ("lou") opened the same page
    and saved `changes` on it: what A's stale page still posts."""
    from django.test import Client

    from tests.factories import MembershipFactory, UserFactory

    page_a = form_as_shown(lead_client.get(url).content.decode(), form_id)
    other = UserFactory(username="lou")
    MembershipFactory(project=project, user=other, role="lead")
    client_b = Client()
    client_b.force_login(other)
    page_b = form_as_shown(client_b.get(url).content.decode(), form_id)
    assert client_b.post(url, {**page_b, **changes}).status_code == 302
    return page_a
