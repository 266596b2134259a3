from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling.models import Membership, Output, Project

PASSWORD = "correct horse battery"  # every factory user's


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(user, create, extracted, **kwargs):
        if create:
            user.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda project: project.slug.replace("-", " ").title())


def created_weeks_ago(project: Project, weeks: int) -> Project:
    """Date the project's creation back: a week that ended before it was created holds nothing to close
    (rules.weekly_close.ended_before_the_project), so a test closing or reading past weeks needs a project as old."""
    project.created_at = timezone.now() - timedelta(weeks=weeks)
    project.save(update_fields=["created_at"])
    return project


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    role = "expert"


class OutputFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Output

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"out-{n}")
    # Looked up at each call, not captured at import: a fixture that moves the clock (clear_of_week_start) moves these.
    occurred_at = factory.LazyFunction(lambda: timezone.now())
    received_at = factory.LazyFunction(lambda: timezone.now())
    end_user_id = factory.Sequence(lambda n: f"u{n % 7}")
    input = "Where is my order?"
    output = "Your order ships tomorrow."
    content_hash = factory.Sequence(lambda n: f"{n:064x}")
