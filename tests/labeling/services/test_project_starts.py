"""The ways a new project starts (issue 18, point 3): a template gives its rubric and its starter queues; a copy
takes another project's current rubric and active queues' settings, and nothing else, from a project its creator
leads (operators: any)."""

import pytest
from django.contrib.auth.models import Permission

from labeling.exceptions import NotFound
from labeling.models import (
    ApiKey,
    Dataset,
    Invitation,
    Item,
    Label,
    Membership,
    Output,
    Project,
    Queue,
    Rubric,
    UsageEvent,
)
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import create_dataset
from labeling.services.projects import QueueSpec, copy_project, create_project
from labeling.services.queues import QueueValues, create_queue, update_queue
from labeling.services.rubric_templates import SCRATCH, TEMPLATES, first_rubric, starter_queues
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.labeling import label_outputs
from tests.helpers.rubrics import QUESTIONS

TEMPLATE_KEYS = [template.key for template in TEMPLATES] + [SCRATCH]
QUEUE_SETTINGS = ("slug", "name", "description", "rule", "sample_rate", "weekly_quota", "overlap", "priority")


def queue_settings(project: Project) -> list[dict]:
    return list(Queue.objects.filter(project=project).order_by("slug").values(*QUEUE_SETTINGS, "is_active"))


def nothing_but_rubric_and_queues(project: Project) -> None:
    """The project holds no outputs, events, items, labels, datasets, keys or invitations."""
    for model, lookup in [
        (Output, "project"),
        (UsageEvent, "project"),
        (Item, "project"),
        (Label, "item__project"),
        (Dataset, "project"),
        (ApiKey, "project"),
        (Invitation, "project"),
    ]:
        assert not model.objects.filter(**{lookup: project}).exists(), model.__name__


# Templates --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", TEMPLATE_KEYS)
def test_a_project_from_a_template_has_its_rubric_and_queues_and_nothing_else(db, template):
    creator = UserFactory(username="sam", is_staff=True)
    spec = {"slug": "faq-bot", "name": "FAQ bot", "rubric": first_rubric(template), "queues": starter_queues(template)}

    project = create_project(spec=spec, created_by=creator)

    rubric = Rubric.objects.get(project=project)
    assert (rubric.version, rubric.questions, rubric.guidelines) == (
        1,
        first_rubric(template)["questions"],
        first_rubric(template)["guidelines"],
    )
    expected = sorted(
        (QueueSpec(**queue) for queue in starter_queues(template)), key=lambda queue: queue.slug
    )  # the defaults a template leaves out, as the spec fills them
    assert queue_settings(project) == [
        {**{name: getattr(queue, name) for name in QUEUE_SETTINGS}, "is_active": True} for queue in expected
    ]
    assert len(expected) >= 1
    assert not Queue.eligible_experts.through.objects.filter(queue__project=project).exists()
    assert list(Membership.objects.filter(project=project).values_list("user__username", "role")) == [("sam", "lead")]
    nothing_but_rubric_and_queues(project)


def test_every_template_starts_with_a_weekly_sample_labeled_twice_and_the_named_ones_with_thumbs_down():
    """Agreement needs two labels per item; the outputs users rated down are the first to look at."""
    for key in TEMPLATE_KEYS:
        queues = {queue["slug"]: queue for queue in starter_queues(key)}
        assert queues["weekly-sample"]["overlap"] == 2 and queues["weekly-sample"]["weekly_quota"] > 0, key
        if key != SCRATCH:
            assert queues["thumbs-down"]["rule"] == {"feedback_scores": [-1]}, key


def test_starter_queues_are_copies_a_caller_may_change():
    starter_queues("answer-quality")[0]["rule"]["feedback_scores"].append(1)

    assert starter_queues("answer-quality")[0]["rule"] == {"feedback_scores": [-1]}


# Copying ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def source(project, lead, expert):
    """A project in use: two rubric versions, three queues (one inactive, one with an eligible expert), labeled
    items, a dataset, a key, an invitation and members."""
    publish_rubric(project=project, questions=QUESTIONS[:1], guidelines="old")
    publish_rubric(project=project, questions=QUESTIONS, guidelines="# Judge\nBe fair.")
    create_queue(
        project=project,
        values=QueueValues(
            slug="refunds",
            name="Refunds",
            description="Where wrong policy costs money.",
            rule={"metadata": {"topic": "returns"}},
            sample_rate=0.3,
            weekly_quota=20,
            overlap=3,
            priority=5,
            eligible_expert_ids=(expert.pk,),
        ),
    )
    retired = create_queue(project=project, values=QueueValues(slug="old", name="Old"))
    update_queue(queue=retired, values=QueueValues(slug="old", name="Old", is_active=False))
    label_outputs(project, 2, queue="sample")  # a queue made on the way, overlap 2
    create_dataset(project=project, spec={"name": "Eval"})
    create_api_key(project=project, name="app", scopes=["ingest"])
    Invitation.objects.create(
        project=project, email="new@example.com", role="expert", token_hash="0" * 64, expires_at="2100-01-01T00:00Z",
        sent_at="2026-01-01T00:00Z",
    )  # fmt: skip
    return project


def test_a_copy_has_the_sources_current_rubric_and_active_queues_settings_and_nothing_else(source, lead):
    copy = copy_project(
        source_slug=source.slug, spec={"slug": "support-bot-de", "name": "Support bot DE"}, created_by=lead
    )

    rubric = Rubric.objects.get(project=copy)
    current = Rubric.objects.current_for(source)
    assert (rubric.version, rubric.questions, rubric.guidelines) == (1, current.questions, current.guidelines)
    active = [row for row in queue_settings(source) if row["is_active"]]
    assert [row["slug"] for row in active] == ["refunds", "sample"]
    assert queue_settings(copy) == active
    assert not Queue.eligible_experts.through.objects.filter(queue__project=copy).exists()
    assert list(Membership.objects.filter(project=copy).values_list("user__username", "role")) == [("lena", "lead")]
    nothing_but_rubric_and_queues(copy)
    # The source is as it was.
    assert Item.objects.filter(project=source).count() == 2 and Queue.objects.filter(project=source).count() == 3


def test_operators_copy_any_project(source):
    operator = UserFactory(username="opal")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))

    copy = copy_project(source_slug=source.slug, spec={"slug": "copied", "name": "Copied"}, created_by=operator)

    assert Queue.objects.filter(project=copy).count() == 2


@pytest.mark.parametrize("persona", ["expert", "engineer", "outsider", "staff"])
def test_it_validates_ownership_of_the_source_and_creates_nothing(source, persona, request):
    """Only the source's leads and admins copy it: anyone else is told it does not exist, staff too."""
    user = UserFactory(username="stella", is_staff=True) if persona == "staff" else request.getfixturevalue(persona)
    before = Project.objects.count()

    with pytest.raises(NotFound):
        copy_project(source_slug=source.slug, spec={"slug": "stolen", "name": "Stolen"}, created_by=user)
    with pytest.raises(NotFound):
        copy_project(source_slug="no-such-project", spec={"slug": "stolen", "name": "Stolen"}, created_by=user)

    assert Project.objects.count() == before and not Project.objects.filter(slug="stolen").exists()


def test_an_admin_member_may_copy_and_a_source_without_rubric_gives_none(db):
    source = create_project(spec={"slug": "bare", "name": "Bare", "queues": [{"slug": "all", "name": "All"}]})
    admin = MembershipFactory(project=source, user=UserFactory(username="ada"), role="admin").user

    copy = copy_project(source_slug="bare", spec={"slug": "bare-2", "name": "Bare 2"}, created_by=admin)

    assert not Rubric.objects.filter(project=copy).exists()
    assert list(Queue.objects.filter(project=copy).values_list("slug", flat=True)) == ["all"]
