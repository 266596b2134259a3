"""A project, queue, dataset, saved view or key name is untrusted text put among the page's own words: a right-to-left
override in it (U+202E) must reverse the name alone, never the crumbs, buttons or sentence after it. Every template
shows such a name isolated, through `bidi_isolate` (a <bdi>, in HTML) or `isolated` (U+2068…U+2069, where no tag
may go: a <title>, an attribute, an <option>, a plain-text e-mail)."""

import re
from pathlib import Path

import pytest

from labeling.models import Label, Queue
from labeling.reports import md_text, report_markdown
from labeling.rules.text import DIRECTIONAL_FORMATTING
from labeling.services.labels import submit_label
from labeling.services.resolution import resolve_item
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, UserFactory
from tests.helpers.labeling import label_outputs, make_items, take
from tests.helpers.rubrics import QUESTIONS

TEMPLATES = Path(__file__).resolve().parents[3] / "labeling" / "templates"
# What a template calls an untrusted name: `<anything>.project.name`, `queue.name`, a meeting row's `queue`, …
NAME = re.compile(
    r"(?:^|\.)(?:project|queue|dataset|view|key|token|last_used|withdrawn_by_key)[._]name$|^(?:row|flag)\.queue$"
    r"|^record\.project$|^inviter$"
)
INTERPOLATION = re.compile(r"{{\s*([^}|\s]+)\s*((?:\|[^}]*)?)}}")
# An input's value is shown in a box of its own, and isolating characters in it would be posted back with the name.
INPUT_VALUE = re.compile(r'value="{{[^}]*}}"')
OVERRIDE = "LTR \u202eH 794 Item"


def template_lines(pattern: str = "*"):
    """(path, line number, line) of every template file matching `pattern`: what the scans below read."""
    for path in sorted(TEMPLATES.rglob(pattern)):
        if path.is_file():
            for number, line in enumerate(path.read_text().splitlines(), 1):
                yield path, number, line


def bare_names() -> list[str]:
    bare = []
    for path, number, line in template_lines():
        for expression, filters in INTERPOLATION.findall(INPUT_VALUE.sub("", line)):
            if NAME.search(expression) and "bidi_isolate" not in filters and "isolated" not in filters:
                bare.append(f"{path.relative_to(TEMPLATES)}:{number}: {{{{ {expression}{filters} }}}}")
    return bare


def test_every_template_isolates_the_untrusted_names_it_shows():
    assert bare_names() == []


@pytest.mark.django_db
def test_an_override_in_a_queue_or_project_name_reverses_nothing_after_it_on_the_labeling_screen(
    client, expert, project, other_project
):
    project.__class__.objects.filter(pk=project.pk).update(name=OVERRIDE)
    publish_rubric(project=project, questions=QUESTIONS)
    queue = Queue.objects.create(project=project, slug="all", name=OVERRIDE, weekly_quota=10)
    make_items(project, 1)
    MembershipFactory(project=other_project, user=expert, role="expert")  # so that home lists the projects
    client.force_login(expert)
    item = take(client, queue)

    pages = [client.get(f"/p/{project.slug}/items/{item.pk}/"), client.get("/"), client.get(f"/p/{project.slug}/")]

    for response in pages:
        assert response.status_code == 200, response
        html = response.content.decode()
        shown = html.count(OVERRIDE)
        assert shown and html.count(f"<bdi>{OVERRIDE}</bdi>") + html.count(f"\u2068{OVERRIDE}\u2069") == shown


def test_the_markdown_report_drops_an_override_in_a_name_so_it_reverses_nothing():
    markdown = report_markdown({"project_name": OVERRIDE, "week": "2026-W47"}, [])

    assert markdown.startswith("# LTR H 794 Item: weekly review 2026-W47\n")
    assert md_text("a\u2066b\u2069c\u202ad\u202c") == "abcd"
    # The characters dropped are the ones the pages isolate: one list (rules.text), not a copy that may drift.
    assert md_text("".join(f"{n}{char}" for n, char in enumerate(sorted(DIRECTIONAL_FORMATTING)))) == "012345678"


# Other people's free text put inline among the page's words: a flag's or resolution's note, a comment and its author,
# a decision's owner, an output's tag, a project's, queue's, dataset's or webhook endpoint's description, a dataset
# version's withdrawal note. Isolated through a filter, or the whole content of an element that isolates it: one
# carrying `dir` (HTML's rendering rules give [dir] `unicode-bidi: isolate`) or a `.chip` (app.css does).
FREE_TEXT = re.compile(
    r"(?:^|\.)(?:resolution_note|resolution\.note)$|^(?:flag|comment)\.(?:note|body)$|^decision\.owner$"
    r"|^comment\.author(?:\.username)?$|^flag\.expert\.username$|^(?:mover\.)?tag$|^(?:project|queue|dataset|endpoint)\.description$|^version\.withdrawn_note$"
)
OWN_ELEMENT_WITH_DIR = r"<(?P<tag>\w+)\b[^>]*\b(?:dir=\"auto\"|class=\"chip[ \"])[^>]*>\s*{{\s*%s\s*}}\s*</(?P=tag)>"


def bare_free_texts() -> list[str]:
    bare = []
    for path, number, line in template_lines("*.html"):
        line = INPUT_VALUE.sub("", re.sub(r'\b(?:data-[\w-]+|value|for|id|name)="{{[^}]*}}"', "", line))
        for expression, filters in INTERPOLATION.findall(line):
            if not FREE_TEXT.search(expression) or "isolate" in filters:
                continue
            own = OWN_ELEMENT_WITH_DIR % re.escape(f"{expression}{filters}".strip())
            if not re.search(own, line):
                bare.append(f"{path.relative_to(TEMPLATES)}:{number}: {{{{ {expression}{filters} }}}}")
    return bare


def test_every_template_isolates_the_free_text_it_shows_inline():
    assert bare_free_texts() == []


def test_every_quotation_isolates_its_text_and_keeps_the_pages_direction():
    """A <q dir="auto"> around right-to-left text puts its quotation marks at the text's ends, not the page's: the
    marks stay the page's (no dir on the <q>) and the text inside takes its own direction in a <bdi>."""
    wrong = []
    for path, number, line in template_lines("*.html"):
        for attributes, content in re.findall(r"<q\b([^>]*)>(.*?)</q>", line):
            if "dir=" in attributes or not re.fullmatch(r"\s*{{[^}]*bidi_isolate[^}]*}}\s*", content):
                wrong.append(f"{path.relative_to(TEMPLATES)}:{number}: <q{attributes}>{content}</q>")
    assert wrong == []


# A rubric's words are a lead's text put among the page's own: a question's prompt and help, a choice's options
# (the pages that show options: the labeling screen, adjudication, the rubric page and the new project's templates).
RUBRIC_TEXT = re.compile(r"(?:^|\.)(?:prompt|help)$")
OPTION = re.compile(r"^option(?:\.label)?$")
PAGES_WITH_OPTIONS = {"expert/item.html", "adjudication/item.html", "lead/rubric.html", "projects/new.html"}


def bare_rubric_texts() -> list[str]:
    bare = []
    for path, number, line in template_lines("*.html"):
        where = str(path.relative_to(TEMPLATES / "labeling")) if path.is_relative_to(TEMPLATES / "labeling") else ""
        for expression, filters in INTERPOLATION.findall(INPUT_VALUE.sub("", line)):
            rubric = RUBRIC_TEXT.search(expression) or (where in PAGES_WITH_OPTIONS and OPTION.search(expression))
            if rubric and "isolate" not in filters:
                bare.append(f"{path.relative_to(TEMPLATES)}:{number}: {{{{ {expression}{filters} }}}}")
    return bare


def test_every_template_isolates_the_rubric_text_it_shows():
    assert bare_rubric_texts() == []


def all_isolated(html: str) -> bool:
    """Every OVERRIDE the page shows is isolated alone, and once (an input's value and a text box's content are not
    shown among the page's words, and are posted back as they are)."""
    shown = re.sub(r'value="[^"]*"|<textarea\b[^>]*>.*?</textarea>', "", html, flags=re.S)
    count = shown.count(OVERRIDE)
    twice = shown.count(f"<bdi>\u2068{OVERRIDE}") + shown.count(f"\u2068\u2068{OVERRIDE}")
    return (
        count > 0 and twice == 0
        and shown.count(f"<bdi>{OVERRIDE}</bdi>") + shown.count(f"\u2068{OVERRIDE}\u2069") == count
    )  # fmt: skip


@pytest.mark.django_db
def test_an_override_in_a_rubric_question_reverses_nothing_after_it(client, expert, lead, project):
    publish_rubric(
        project=project,
        questions=[
            {"key": "correct", "kind": "binary", "prompt": OVERRIDE, "help": OVERRIDE},
            {"key": "tone", "kind": "choice", "prompt": "Tone?", "options": ["calm", OVERRIDE], "required": False},
            {"key": "critique", "kind": "text", "prompt": OVERRIDE, "required": False},
        ],
    )
    queue = Queue.objects.create(project=project, slug="all", name="All answers", weekly_quota=10)
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    pages = {"labeling screen": client.get(f"/p/{project.slug}/items/{item.pk}/")}
    [tie] = label_outputs(project, answers=({"correct": True}, {"correct": False}), queue="ties")
    client.force_login(lead)
    pages["adjudication"] = client.get(f"/p/{project.slug}/manage/adjudication/{tie.pk}/")
    pages["rubric"] = client.get(f"/p/{project.slug}/manage/rubric/")

    for name, response in pages.items():
        assert response.status_code == 200, name
        assert all_isolated(response.content.decode()), name


@pytest.mark.django_db
def test_an_override_in_an_option_or_an_experts_name_reverses_nothing_after_it_on_the_adjudication_pages(
    client, lead, project
):
    """An option's name is shown as the automatic answer, in the votes, and as a decision set aside by a new rubric
    version; an expert's name in "Use …'s text": each is isolated, on the item's page and in the list's ties."""
    options = ["calm", OVERRIDE]
    questions = [
        {"key": "tone", "kind": "choice", "prompt": "Tone?", "options": options},
        {"key": "critique", "kind": "text", "prompt": "Critique", "required": False},
    ]
    rubric = publish_rubric(project=project, questions=questions)
    experts = [UserFactory(username=OVERRIDE), UserFactory(username="lab1")]
    for user in experts:
        MembershipFactory(project=project, user=user, role="expert")
    agreeing = [{"tone": OVERRIDE, "critique": "Too curt."}] * 2
    [agreed] = label_outputs(project, answers=agreeing, experts=experts, rubric=rubric)
    [tie] = label_outputs(project, answers=[{"tone": OVERRIDE}, {"tone": "calm"}], experts=experts, rubric=rubric)
    client.force_login(lead)
    pages = {
        name: f"/p/{project.slug}/manage/adjudication/{item.pk}/" for name, item in [("agreed", agreed), ("tie", tie)]
    }
    pages["list"] = f"/p/{project.slug}/manage/adjudication/"
    assert client.post(pages["tie"], {"q-tone": OVERRIDE}).status_code == 302
    rewritten = publish_rubric(project=project, questions=[{**questions[0], "options": [*options, "stern"]}])
    for label in Label.objects.filter(item=tie).select_related("expert"):
        submit_label(expert=label.expert, item=tie, rubric=rewritten, answers={"tone": label.answers["tone"]})
    resolve_item(item_id=tie.pk)

    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        # An expert's data-* attribute is read by scripts, and an answer in an element with a `dir` of its own is
        # isolated by the HTML style sheet: what is left must be isolated alone.
        html = re.sub(r'data-[\w-]+="[^"]*"', "", response.content.decode())
        assert all_isolated(re.sub(r'<(\w+)\b[^>]*\bdir="auto"[^>]*>[^<]*</\1>', "", html)), name
    assert "Set aside: decided <bdi>" in client.get(pages["tie"]).content.decode()


@pytest.mark.django_db
def test_an_override_in_a_queue_or_model_name_stays_in_its_box_in_the_explore_filter_bar(client, lead, project):
    Queue.objects.create(project=project, slug="all", name=OVERRIDE, weekly_quota=10)
    OutputFactory(project=project, external_id="reversed", model=OVERRIDE)
    client.force_login(lead)

    html = client.get(f"/p/{project.slug}/explore/").content.decode()

    boxes = re.findall(r'<label class="check"><input type="checkbox" name="(\w+)"[^>]*>(.*?)</label>', html)
    assert [(name, text) for name, text in boxes if OVERRIDE in text] == [
        ("model", f" <bdi>{OVERRIDE}</bdi>"),
        ("queue", f" <bdi>{OVERRIDE}</bdi>"),
    ]


@pytest.mark.django_db
def test_the_project_pages_crumb_is_its_name_not_its_slug(client, lead, project):
    """A project named in CJK gets a generated slug ("project-1"): its crumb says the name the lead gave it."""
    project.__class__.objects.filter(pk=project.pk).update(name="客服助手", slug="project-1")
    client.force_login(lead)

    html = client.get("/p/project-1/").content.decode()

    crumbs = html.split('<nav class="crumbs" aria-label="Breadcrumb">')[1].split("</nav>")[0]
    # The crumb names the page the user is on, as a breadcrumb's last item does (WAI-ARIA's breadcrumb pattern).
    assert crumbs.endswith('<span aria-current="page"><bdi>客服助手</bdi></span>') and "project-1" not in crumbs


# A person's name: a username or full name (which single sign-on takes from the identity provider's claims, any
# text), a key's issuer, who flagged an item. Shown isolated as the names above are: `bidi_isolate` in the page's text,
# `isolated` inside a tag (an attribute) or a plain-text e-mail; a data-* attribute or an input's value is left as is
# (read by scripts and tests, or posted back).
USER_NAME = re.compile(
    r"(?:^|\.)(?:username|get_username|get_full_name)$|^row\.(?:issuer|who)$|^flag\.expert$|^(?:answer\.)?expert\.name$"
)


def bare_user_names() -> list[str]:
    bare = []
    for path, number, line in template_lines():
        line = INPUT_VALUE.sub("", re.sub(r'\b(?:data-[\w-]+|value)="{{[^}]*}}"', "", line))
        for match in re.finditer(INTERPOLATION, line):
            expression, filters = match.groups()
            if not USER_NAME.search(expression):
                continue
            before = line[: match.start()]
            in_tag = before.rfind("<") > before.rfind(">") or path.suffix == ".txt"
            wanted = "isolated" if in_tag else "bidi_isolate"
            if not re.search(rf"\|{wanted}\b", filters):
                bare.append(f"{path.relative_to(TEMPLATES)}:{number}: {{{{ {expression}{filters} }}}}")
    return bare


def test_every_template_isolates_the_names_of_people_it_shows():
    assert bare_user_names() == []


@pytest.mark.django_db
def test_an_override_in_a_username_reverses_nothing_after_it_on_the_members_page_and_in_its_messages(
    client, project, lead
):
    """A username (from single sign-on: any text) with a right-to-left override: on the members page, in the top
    bar and in the message after removing the member, the name is isolated wherever it is shown."""
    user = UserFactory(username=OVERRIDE, email="omar@example.com")  # an address of its own: not shown isolated
    member = MembershipFactory(project=project, user=user, role="expert")
    client.force_login(lead)

    html = client.get(f"/p/{project.slug}/manage/members/").content.decode()

    shown = html.count(OVERRIDE)
    assert shown >= 3 and html.count(f"<bdi>{OVERRIDE}</bdi>") + html.count(f'data-member="{OVERRIDE}"') == shown
    client.force_login(member.user)
    assert f'class="who" href="/me/" title="Your page: your password and your figures"><bdi>{OVERRIDE}</bdi></a>' in (
        client.get("/me/").content.decode()
    )
    client.force_login(lead)
    response = client.post(f"/p/{project.slug}/manage/members/{member.pk}/remove", follow=True)
    assert f"\u2068{OVERRIDE}\u2069 was removed from" in response.content.decode()


# An e-mail address: any text a single sign-on provider's claims or an operator gave, or a domain in Hebrew or Arabic
# letters. Shown among the page's words (not alone in a table cell, nor in an attribute), it is isolated as a name is.
EMAIL = re.compile(r"(?:^|\.)email$|^wrong_account$")


def bare_emails() -> list[str]:
    bare = []
    for path, number, line in template_lines("*.html"):
        line = INPUT_VALUE.sub("", re.sub(r'\b(?:data-[\w-]+|value|href)="{{[^}]*}}"', "", line))
        line = re.sub(r"<td>{{[^}]*}}</td>", "", line)
        for expression, filters in INTERPOLATION.findall(line):
            if EMAIL.search(expression) and "isolate" not in filters:
                bare.append(f"{path.relative_to(TEMPLATES)}:{number}: {{{{ {expression}{filters} }}}}")
    return bare


def test_every_template_isolates_the_email_addresses_it_shows_inline():
    assert bare_emails() == []


@pytest.mark.django_db
def test_an_override_in_an_email_address_reverses_nothing_after_it_on_the_members_and_own_pages(client, project, lead):
    address = "LTR\u202eH794@example.com"
    user = UserFactory(username="omar", first_name="Omar", email=address)
    MembershipFactory(project=project, user=user, role="expert")
    client.force_login(lead)
    members = client.get(f"/p/{project.slug}/manage/members/").content.decode()
    client.force_login(user)
    own = client.get("/me/").content.decode()

    for page in (members, own):
        shown = re.sub(r'data-[\w-]+="[^"]*"', "", page)
        assert shown.count(address) == shown.count(f"<bdi>{address}</bdi>") > 0
