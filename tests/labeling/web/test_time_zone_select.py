"""The time zone select of the new-project and project settings pages: every IANA zone, the chosen one selected, its
options written once per process (labeling/web/project_forms.py, `_PlainSelect`)."""

import re
import zoneinfo
from html.parser import HTMLParser

import pytest
from django import forms
from django.forms.widgets import ChoiceWidget

from labeling.web.project_forms import NewProjectForm

SELECT = re.compile(r'<select name="time_zone".*?</select>', re.DOTALL)


class _Select(HTMLParser):
    """A select as a browser reads it: its attributes, and each option's value, text and whether it is selected."""

    def __init__(self, html: str):
        super().__init__()
        self.attrs: dict = {}
        self.options: list[list] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "select":
            self.attrs = dict(attrs)
        elif tag == "option":
            found = dict(attrs)
            self.options.append([found["value"], "", "selected" in found])

    def handle_data(self, data):
        if self.options and data.strip():
            self.options[-1][1] += data

    def read(self) -> tuple:
        return self.attrs, [tuple(option) for option in self.options]


def _as_django_writes_it(form: forms.Form) -> tuple:
    """The field rendered by Django's own Select, with the same choices and the same attributes."""
    form.fields["time_zone"].widget = forms.Select(choices=form.fields["time_zone"].choices)
    return _Select(str(form["time_zone"])).read()


@pytest.fixture
def built_options(monkeypatch) -> list[str]:
    """Every option Django's select widgets build, by value (a real count of ChoiceWidget.create_option)."""
    built: list[str] = []
    create_option = ChoiceWidget.create_option

    def counted(self, name, value, *args, **kwargs):
        built.append(str(value))
        return create_option(self, name, value, *args, **kwargs)

    monkeypatch.setattr(ChoiceWidget, "create_option", counted)
    return built


def test_the_settings_page_lists_every_zone_with_the_projects_selected(client, project, lead, built_options):
    """Before: the page built and rendered ~600 option dicts on every request (9-35 ms in-process); now the options
    are written once per process and the page shows the same select."""
    project.time_zone = "Europe/Berlin"
    project.save(update_fields=["time_zone"])
    client.force_login(lead)

    pages = [client.get(f"/p/{project.slug}/manage/settings/") for _ in range(2)]

    attrs, options = _Select(SELECT.search(pages[1].content.decode()).group()).read()
    assert [value for value, _label, _selected in options] == sorted(zoneinfo.available_timezones())
    assert all(value == label for value, label, _selected in options)
    assert [value for value, _label, selected in options if selected] == ["Europe/Berlin"]
    assert attrs == {"name": "time_zone", "id": "id_time_zone", "aria-describedby": "id_time_zone_helptext"}
    assert SELECT.search(pages[0].content.decode()).group() == SELECT.search(pages[1].content.decode()).group()
    assert "Europe/Berlin" not in built_options and len(built_options) < 50  # the weekdays' select, not the zones


@pytest.mark.parametrize(
    "posted",
    [None, {"time_zone": "Asia/Tokyo"}, {"time_zone": "Mars/Olympus"}, {"time_zone": "UTC"}, {"time_zone": "a<b"}],
)
def test_the_select_reads_as_djangos_own(db, posted):
    """A guard: what a browser reads (attributes, options, the selected one, an invalid value's aria-invalid) is what
    Django's Select writes, unbound (UTC selected) or bound to what was posted."""
    form = NewProjectForm(posted, copyable=[]) if posted else NewProjectForm(copyable=[])
    if posted:
        form.is_valid()

    shown = _Select(str(form["time_zone"])).read()

    assert shown == _as_django_writes_it(form)
    chosen = (posted or {}).get("time_zone", "UTC")
    expected = [chosen] if chosen in zoneinfo.available_timezones() else []
    assert [value for value, _label, selected in shown[1] if selected] == expected
