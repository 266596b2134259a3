"""The lead's redaction screen: rules and versions, a server-side preview, and clear refusals of bad patterns."""

import pytest

from labeling.models import AuditEvent, RedactionRuleSet
from labeling.services.redaction import save_rule_set


def url(project, name="redaction"):
    suffix = "preview" if name == "preview" else ""
    return f"/p/{project.slug}/manage/redaction/{suffix}"


def form(**overrides) -> dict:
    data = {
        "builtins": ["email", "phone", "card", "iban"],
        "phone_region": "gb",
        "custom": "account: \\bACCT-\\d{6}\\b\n# a comment\n\nticket: TCK-\\d+",
        "sample": "Mail jane@example.com or ring 020 7946 0958 about ACCT-123456",
    }
    data.update(overrides)
    return data


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def test_a_lead_saves_rules_as_a_new_version(lead_client, project, lead):
    response = lead_client.post(url(project), form(save="1"))

    assert response.status_code == 302
    rule_set = RedactionRuleSet.objects.get(project=project)
    assert (rule_set.version, rule_set.phone_region, rule_set.created_by) == (1, "GB", lead)
    assert rule_set.builtins == ["email", "phone", "card", "iban"]
    assert rule_set.custom == [
        {"name": "account", "pattern": r"\bACCT-\d{6}\b"},
        {"name": "ticket", "pattern": r"TCK-\d+"},
    ]
    page = lead_client.get(url(project)).content.decode()
    assert "Version 1 in force" in page and "Redaction rules v1 saved" in page
    assert "account: \\bACCT-\\d{6}\\b" in page

    lead_client.post(url(project), form(builtins=["email"], save="1"))
    assert list(RedactionRuleSet.objects.values_list("version", flat=True)) == [2, 1]
    assert AuditEvent.objects.filter(project=project, action="redaction.rules_saved").count() == 2


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ("broken: (unclosed", "the pattern does not compile: missing ), unterminated subpattern at position 0"),
        ("slow: (a+)+$", "catastrophic backtracking"),
        ("empty: x*", "matches empty text"),
        ("huge: a{4294967296}", "a repeat count in the pattern is too large"),
        ("no colon here", "Line 1: write name: pattern"),
        ("Bad Name: x", "lowercase letters"),
    ],
)
def test_a_bad_custom_rule_is_a_form_error_and_nothing_is_saved(lead_client, project, custom, message):
    response = lead_client.post(url(project), form(custom=custom, save="1"))

    assert response.status_code == 400
    page = response.content.decode()
    assert "The rules were not saved." in page
    assert message in page.replace("&#x27;", "'")
    assert not RedactionRuleSet.objects.exists()


def test_an_unknown_phone_region_is_a_form_error(lead_client, project):
    response = lead_client.post(url(project), form(phone_region="XX", save="1"))
    assert response.status_code == 400
    assert "is not a region phone numbers know" in response.content.decode()


def test_the_preview_highlights_matches_and_placeholders_with_the_text_escaped(lead_client, project):
    sample = "<script>alert(1)</script> jane@example.com <img src=x onerror=alert(2)> 020 7946 0958 ACCT-123456"

    response = lead_client.post(url(project, "preview"), form(sample=sample))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<mark class="redaction-match" data-kind="email" title="[EMAIL]">jane@example.com</mark>' in html
    assert '<mark class="redaction-placeholder" data-kind="phone">[PHONE]</mark>' in html
    assert '<mark class="redaction-placeholder" data-kind="custom:account">[CUSTOM:account]</mark>' in html
    assert 'data-count="email">1<' in html and 'data-count="custom:account">1<' in html
    assert not RedactionRuleSet.objects.exists()  # a preview saves nothing


def test_the_preview_of_a_bad_pattern_is_a_400_naming_it(lead_client, project):
    response = lead_client.post(url(project, "preview"), form(custom="broken: [z-a]"))

    assert response.status_code == 400
    assert "bad character range z-a at position 1" in response.content.decode()


def test_the_preview_button_works_without_javascript(lead_client, project):
    response = lead_client.post(url(project), form(preview="1"))

    assert response.status_code == 200
    assert '<mark class="redaction-placeholder" data-kind="email">[EMAIL]</mark>' in response.content.decode()
    assert not RedactionRuleSet.objects.exists()


def test_saving_the_same_rules_keeps_the_version(lead_client, project):
    save_rule_set(project=project, builtins=["email"], custom=[], phone_region="US")

    response = lead_client.post(url(project), form(builtins=["email"], phone_region="US", custom="", save="1"))

    assert response.status_code == 302
    assert RedactionRuleSet.objects.count() == 1
    assert "Nothing changed" in lead_client.get(url(project)).content.decode()


@pytest.mark.parametrize("persona", ["expert", "engineer", "outsider"])
def test_it_validates_ownership(client, project, persona, request):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(url(project)).status_code == 404
    assert client.post(url(project), form(save="1")).status_code == 404
    assert client.post(url(project, "preview"), form()).status_code == 404
    assert not RedactionRuleSet.objects.exists()


def test_pages_need_a_signed_in_user(client, project):
    response = client.get(url(project))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "overrides",
    [
        {"sample": "a\x00b"},
        {"custom": "acct: a\x00b"},
        {"phone_region": "\x00"},
        {"custom": "x" * 10_000},
        {"custom": "acct: " + "(" * 5_000},
        {"custom": "\n".join(f"r{i}: x{i}" for i in range(21))},
        {"sample": "4" * 20_000},
        {"builtins": ["ssn"]},
    ],
)
def test_hostile_input_is_a_4xx_never_a_500(lead_client, project, overrides):
    preview = lead_client.post(url(project, "preview"), form(**overrides))
    saved = lead_client.post(url(project), form(**overrides, save="1"))

    assert preview.status_code in (200, 400)
    assert saved.status_code in (302, 400)
    assert RedactionRuleSet.objects.exists() == (saved.status_code == 302)


def test_bytes_that_are_not_utf8_are_a_4xx(lead_client, project):
    body = b"builtins=email&phone_region=US&custom=acct%3A+%ED%A0%80&sample=%FF%FE"
    response = lead_client.generic(
        "POST", url(project, "preview"), body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (200, 400)
