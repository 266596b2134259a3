"""The management commands other tools rely on: create_api_key, create_project, import_outputs."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from labeling.models import ApiKey, Membership, Output, Project, Queue, Rubric
from tests.conftest import Api, output_record


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_a_working_secret_alone_on_the_last_line(project, client):
    out, _ = run("create_api_key", "--project", project.slug, "--name", "prod app", "--scopes", "ingest,read")

    secret = out.strip().splitlines()[-1]
    assert secret.startswith("el_") and " " not in secret
    assert ApiKey.objects.get(project=project).scopes == ["ingest", "read"]
    assert Api(client, secret).post("/api/v1/outputs", {"outputs": [output_record(1)]}).status_code == 200


@pytest.mark.parametrize(
    "args, message",
    [
        (["--project", "nope", "--name", "x"], "No project"),
        (["--project", "support-bot", "--name", "x", "--scopes", "ingest,admin"], "Scopes must be"),
        (["--project", "support-bot", "--name", "   "], "needs a name"),
    ],
)
def test_create_api_key_refuses_bad_arguments(project, args, message):
    with pytest.raises(CommandError, match=message):
        run("create_api_key", *args)
    assert not ApiKey.objects.exists()


SPEC = """
slug: summarizer
name: Meeting summarizer
time_zone: Europe/Berlin
cycle_weekday: tuesday
rubric:
  guidelines: "Judge **faithfulness** first."
  questions:
    - {key: faithful, kind: binary, prompt: "Is every statement supported by the transcript?"}
    - {key: quality, kind: rating, prompt: Overall quality, scale: [1, 5]}
    - {key: issue, kind: choice, prompt: Main issue, options: [omission, hallucination, none], required: false}
queues:
  - {slug: sample, name: Weekly sample, sample_rate: 0.1, weekly_quota: 50, overlap: 3, eligible_experts: [ann]}
  - {slug: thumbs-down, name: Thumbs down, rule: {feedback_scores: [-1]}, priority: 10}
  - {slug: promises, name: Promised dates, rule: {text_any: ["will arrive by", "guaranteed"]}}
members:
  - {username: ann, role: expert}
  - {username: lou, role: lead, email: lou@example.com}
"""


def test_create_project_from_yaml(tmp_path, db):
    spec = tmp_path / "summarizer.yaml"
    spec.write_text(SPEC)

    out, _ = run("create_project", str(spec))

    project = Project.objects.get(slug="summarizer")
    assert (project.time_zone, project.cycle_weekday) == ("Europe/Berlin", 1)
    assert "Created project 'summarizer'" in out
    rubric = Rubric.objects.get(project=project)
    assert rubric.version == 1 and [q["key"] for q in rubric.questions] == ["faithful", "quality", "issue"]
    sample = Queue.objects.get(project=project, slug="sample")
    assert (sample.overlap, sample.weekly_quota, sample.sample_rate) == (3, 50, 0.1)
    assert [user.username for user in sample.eligible_experts.all()] == ["ann"]
    assert Queue.objects.get(project=project, slug="thumbs-down").rule == {"feedback_scores": [-1]}
    assert Queue.objects.get(project=project, slug="promises").rule == {"text_any": ["will arrive by", "guaranteed"]}
    assert set(Membership.objects.filter(project=project).values_list("user__username", "role")) == {
        ("ann", "expert"),
        ("lou", "lead"),
    }


def test_create_project_from_json(tmp_path, db):
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"slug": "sql-bot", "name": "SQL bot"}))

    run("create_project", str(spec))

    assert Project.objects.filter(slug="sql-bot").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (("time_zone: Europe/Berlin", "time_zone: Mars/Olympus"), "not a known IANA time zone"),
        (("cycle_weekday: tuesday", "cycle_weekday: someday"), "cycle_weekday"),
        ("scale: [1, 5]", "needs a scale"),
        (("overlap: 3", "overlap: 11"), "overlap"),
        (("feedback_scores: [-1]", "feedback_scores: [-2]"), "feedback_scores"),
        (('"guaranteed"]', '"   "]'), "text_any: a phrase is empty"),
        # A list of nothing took no output at all (tags_all: every output): each is refused as text_any [] is.
        (("feedback_scores: [-1]", "feedback_scores: []"), "feedback_scores: give at least one feedback score, or"),
        (("feedback_scores: [-1]", "tags_any: []"), "tags_any: give at least one tag, or leave the condition out"),
        (("feedback_scores: [-1]", "tags_all: []"), "tags_all: give at least one tag, or leave the condition out"),
        (("feedback_scores: [-1]", "models: []"), "models: give at least one model, or leave the condition out"),
        (("feedback_scores: [-1]", "metadata: {plan: []}"), "metadata: give 'plan' at least one value, or leave"),
        (('text_any: ["will arrive by", "guaranteed"]', "text_any: []"), "text_any: give at least one phrase, or"),
        (("{slug: thumbs-down,", "{slug: sample,"), "used twice"),
        (("eligible_experts: [ann]", "eligible_experts: [lou]"), "not an expert member"),
        (("options: [omission, hallucination, none]", "options: [only]"), "at least two options"),
        (("kind: binary", "kind: stars"), "kind"),
    ],
)
def test_a_bad_project_spec_creates_nothing(tmp_path, db, change, message):
    text = SPEC.replace(", scale: [1, 5]", "") if isinstance(change, str) else SPEC.replace(*change)
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)

    with pytest.raises(CommandError, match=message):
        run("create_project", str(spec))

    assert not Project.objects.exists() and not Queue.objects.exists() and not Rubric.objects.exists()


@pytest.mark.parametrize(
    "member, message",
    [
        ("{username: ann, role: expert, email: ann.example.com}", "Member 'ann': 'ann.example.com' is not an email"),
        # Single sign-on refuses an email two accounts share, and so does an invitation's new account.
        ("{username: ann, role: expert, email: Taken@Example.com}", "taken@example.com is the email of another"),
        ("{username: ann smith, role: expert}", "Member 'ann smith': Enter a valid username"),
        ("{username: TAKEN, role: expert}", "Member 'TAKEN': the username 'taken' differs only in case"),
    ],
)
def test_a_member_account_that_could_not_be_used_creates_nothing(tmp_path, db, django_user_model, member, message):
    django_user_model.objects.create_user(username="taken", email="taken@example.com")
    spec = tmp_path / "bad.yaml"
    spec.write_text(SPEC.replace("{username: ann, role: expert}", member))

    with pytest.raises(CommandError, match=message):
        run("create_project", str(spec))

    assert not Project.objects.exists()
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["taken"]


def test_a_new_members_email_is_stored_as_invitations_compare_it(tmp_path, db, django_user_model):
    spec = tmp_path / "p.yaml"
    spec.write_text(SPEC.replace("{username: ann, role: expert}", "{username: ann, role: expert, email: ' Ann@X.COM'}"))

    run("create_project", str(spec))

    assert django_user_model.objects.get(username="ann").email == "ann@x.com"


def test_create_project_refuses_unreadable_files(tmp_path, db):
    bad = tmp_path / "bad.yaml"
    bad.write_text("slug: [unclosed")
    with pytest.raises(CommandError, match="not valid YAML"):
        run("create_project", str(bad))
    with pytest.raises(CommandError, match="Cannot read"):
        run("create_project", str(tmp_path / "missing.yaml"))


def _jsonl(tmp_path, lines):
    path = tmp_path / "outputs.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_import_outputs_stores_every_line_and_is_idempotent(tmp_path, project, settings):
    settings.INGEST_MAX_RECORDS = 100  # several batches
    path = _jsonl(tmp_path, [output_record(i) for i in range(250)] + [""])

    out, _ = run("import_outputs", "--project", project.slug, str(path))
    again, _ = run("import_outputs", "--project", project.slug, str(path))

    assert "250 created, 0 duplicates, 0 conflicts" in out
    assert "0 created, 250 duplicates, 0 conflicts" in again
    assert Output.objects.filter(project=project).count() == 250


def test_import_outputs_names_bad_lines_and_imports_nothing(tmp_path, project):
    lines = [
        output_record(0),
        output_record(1, external_id=5),
        "{not json",
        output_record(3),
        '{"external_id": "a", "output": "x"}, {"external_id": "b", "output": "y"}',
    ]
    path = _jsonl(tmp_path, lines)
    err = io.StringIO()

    with pytest.raises(CommandError, match="3 invalid line"):
        call_command("import_outputs", "--project", project.slug, str(path), stdout=io.StringIO(), stderr=err)

    assert "line 2: external_id: Expected `str`, got `int`" in err.getvalue()
    assert "line 3: (record): The body is not valid JSON" in err.getvalue()
    assert "line 5: (record): Must be exactly one JSON object." in err.getvalue()
    assert not Output.objects.exists()


@pytest.mark.parametrize("command", ["close_week", "redact_outputs"])
def test_commands_about_a_project_refuse_an_unknown_one(project, command):
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        run(command, "--project", "nope")


def test_import_outputs_refuses_unknown_project_and_missing_file(tmp_path, project):
    with pytest.raises(CommandError, match="No project"):
        run("import_outputs", "--project", "nope", str(_jsonl(tmp_path, [output_record(0)])))
    with pytest.raises(CommandError, match="No such file"):
        run("import_outputs", "--project", project.slug, str(tmp_path / "missing.jsonl"))


def test_import_outputs_says_a_directory_is_a_directory(tmp_path, project):
    with pytest.raises(CommandError, match=rf"^{tmp_path} is a directory: name a file in it\.$"):
        run("import_outputs", "--project", project.slug, str(tmp_path))


@pytest.mark.parametrize("where", ["slug: Bad_Slug", "slug: ok\nqueues:\n  - {slug: Not OK, name: Q}"])
def test_create_project_says_what_a_slug_may_hold_not_the_regex(tmp_path, db, where):
    spec = tmp_path / "p.yaml"
    spec.write_text(f"name: P\n{where}\n")

    with pytest.raises(CommandError) as refused:
        run("create_project", str(spec))

    assert "lowercase letters, digits and hyphens" in str(refused.value)
    assert "regex" not in str(refused.value) and "^[a-z0-9]" not in str(refused.value)


def test_unlock_sign_in_says_when_no_account_has_the_username(db):
    with pytest.raises(CommandError, match="^No account has the username 'nobody'"):
        run("unlock_sign_in", "nobody")


@pytest.mark.parametrize("args", [[], ["--reset"]])
def test_seed_demo_refuses_without_debug_and_leaves_the_servers_admin_alone(db, django_user_model, settings, args):
    """On a real server (DEBUG off) it made the account named `admin` a superuser with the password printed in the
    README and the code, and `--reset` deleted the accounts named admin, lead, expert1, …"""
    settings.DEBUG = False
    admin = django_user_model.objects.create_user(username="admin", password="the-real-one-123")

    with pytest.raises(CommandError, match="runs only with DEBUG=true"):
        run("seed_demo", *args)

    admin.refresh_from_db()
    assert admin.check_password("the-real-one-123") and not admin.is_superuser
    assert not Project.objects.exists()


def test_create_project_names_the_new_members_who_have_no_way_to_sign_in(tmp_path, db, django_user_model):
    """A member created without an email has no password and no way to choose one: "Forgot your password?" mails the
    address, and single sign-on matches it. The command said nothing (the README's own example made such a lead)."""
    django_user_model.objects.create_user(username="old", password="an-old-password-1")  # no email, but a password
    members = [
        {"username": "lea", "role": "lead"},
        {"username": "dana", "role": "expert", "email": "dana@example.com"},
        {"username": "old", "role": "expert"},
    ]
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"slug": "p", "name": "P", "members": members}))

    out, err = run("create_project", str(spec))

    assert "Created project 'p': 3 members" in out
    assert "lea has no email and no password, so no way to sign in" in err
    assert "dana" not in err and "old" not in err
