"""A lead's retention reference through the services: saved as points, audited with the canonical text before and
after, refused with every mistake named; also accepted in a project spec."""

import pytest

from labeling.exceptions import InvalidSpec
from labeling.models import AuditEvent, Project
from labeling.services.projects import ProjectSettings, create_project, settings_of, update_project_settings
from labeling.services.rubric_templates import first_rubric


def changed(project, **overrides) -> ProjectSettings:
    return ProjectSettings(**{**vars(settings_of(project)), **overrides})


def test_a_reference_is_saved_as_points_and_audited_with_its_text_before_and_after(project, lead):
    changes = update_project_settings(
        project=project,
        values=changed(project, retention_reference="week 4: 25%, week 1: 40%", retention_reference_source="panel"),
        changed_by=lead,
    )

    project.refresh_from_db()
    assert project.retention_reference == [{"week": 1, "rate": 0.4}, {"week": 4, "rate": 0.25}]
    expected = {
        "retention_reference": {"before": "", "after": "week 1: 40%, week 4: 25%"},
        "retention_reference_source": {"before": "", "after": "panel"},
    }
    assert changes == expected
    assert AuditEvent.objects.get(action="project.settings_changed").details == {"changes": expected}

    # The same curve written another way is no change; a new one is audited from the old text.
    assert (
        update_project_settings(
            project=project, values=changed(project, retention_reference="Week 1:40 %;week 4: 25%"), changed_by=lead
        )
        == {}
    )
    changes = update_project_settings(
        project=project, values=changed(project, retention_reference="week 1: 35%, week 4: 25%"), changed_by=lead
    )
    assert changes == {
        "retention_reference": {"before": "week 1: 40%, week 4: 25%", "after": "week 1: 35%, week 4: 25%"}
    }
    assert settings_of(Project.objects.get(pk=project.pk)).retention_reference == "week 1: 35%, week 4: 25%"

    # Clearing both removes the reference.
    update_project_settings(
        project=project, values=changed(project, retention_reference="", retention_reference_source=""), changed_by=lead
    )
    project.refresh_from_db()
    assert (project.retention_reference, project.retention_reference_source) == ([], "")
    assert AuditEvent.objects.filter(action="project.settings_changed").count() == 3


@pytest.mark.parametrize(
    "curve, source, message",
    [
        ("week 1: 40", "panel", "is not a point of the curve"),
        ("week 0: 100%", "panel", "Week 0 is out of range"),
        ("week 1: 100.5%", "panel", "outside 0–100%"),
        ("week 2: 10%, week 2: 20%", "panel", "Week 2 is given twice"),
        ("week 2: 10%", "", "Say where the curve comes from"),
    ],
)
def test_a_bad_reference_is_refused_and_nothing_changes(project, lead, curve, source, message):
    with pytest.raises(InvalidSpec, match=message):
        update_project_settings(
            project=project,
            values=changed(project, name="Renamed", retention_reference=curve, retention_reference_source=source),
            changed_by=lead,
        )

    project.refresh_from_db()
    assert (project.name, project.retention_reference) == ("Support bot", [])
    assert not AuditEvent.objects.filter(action="project.settings_changed").exists()


def test_a_project_spec_may_carry_a_reference(db):
    spec = {"slug": "faq-bot", "name": "FAQ bot", "rubric": first_rubric("answer-quality")}
    project = create_project(
        spec={**spec, "retention_reference": "week 1: 30%", "retention_reference_source": "https://example.com/b"}
    )
    assert (project.retention_reference, project.retention_reference_source) == (
        [{"week": 1, "rate": 0.3}],
        "https://example.com/b",
    )

    with pytest.raises(InvalidSpec, match="Week 99 is out of range"):
        create_project(spec={**spec, "slug": "faq-bot-2", "retention_reference": "week 99: 3%"})
    assert not Project.objects.filter(slug="faq-bot-2").exists()
