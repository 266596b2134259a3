import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.fields.json import KT


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a known IANA time zone.") from exc


def known_zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The IANA zone of that name, or None for a name tzdata does not know (any more)."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class ProjectQuerySet(models.QuerySet):
    def lock(self, pk: int) -> "Project | None":
        """Take the row lock that makes a project's writers follow one another: its settings, members, invitations
        and keys, rubric and redaction versions, webhook endpoints, the recomputes of a week's rows, and an end user's
        erasure with the writers of what it scrubs (saved views; exports and adds to a queue hold erasures off by a
        lock of their own, privacy.hold_erasures_off, so as not to wait for a recompute); those that also lock a
        queue take this row first, as a queue's edit does.

        FOR NO KEY UPDATE, not FOR UPDATE: it orders those writers all the same, but does not block a transaction
        that inserts a row pointing at the project (an ingest batch, a membership, an audit event) — which would
        wait for the whole recompute, or may hold a lock this one then waits for (an invitation being accepted
        while it is revoked): a deadlock."""
        return self.select_for_update(no_key=True).filter(pk=pk).first()


class Project(models.Model):
    """One AI feature under review, e.g. `support-bot`."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    cycle_weekday = models.PositiveSmallIntegerField(choices=Weekday, default=Weekday.MONDAY)
    # Raw outputs older than this that are in no gold answer and no dataset version are deleted nightly.
    raw_retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days raw outputs are kept unless gold or in a dataset. Empty: forever."
    )
    experts_can_explore = models.BooleanField(
        default=True, help_text="Experts may open the explore page (leads, engineers and admins always may)."
    )
    # The retention a lead expects, to compare the cohorts with: points [{"week": 1, "rate": 0.4}, …] sorted by
    # week, read and written only through rules/retention_reference.py; empty: no reference.
    retention_reference = models.JSONField(default=list, blank=True)
    retention_reference_source = models.CharField(
        max_length=500, blank=True, help_text="Where the retention reference comes from: a benchmark, a report, a URL."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=models.Q(cycle_weekday__lte=6), name="project_weekday_range"),
            models.CheckConstraint(
                condition=models.Q(raw_retention_days__isnull=True) | models.Q(raw_retention_days__gte=1),
                name="project_raw_retention_positive",
            ),
        ]
        # Operators (granted in the admin; superusers have it) see every project and its outputs.
        # `is_staff` alone only opens the admin site, where model permissions apply.
        permissions = [("operate_all_projects", "Can see every project and its outputs (operator)")]

    def __str__(self) -> str:
        return self.slug

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        """The project's zone, or UTC for a name this Python does not know (`time_zone_known` says which)."""
        # A row saved before the validator (or a zone since dropped from tzdata) must not make every page that
        # computes its weeks a 500: the whole calendar falls back to UTC, in this one place.
        return known_zone(self.time_zone) or zoneinfo.ZoneInfo("UTC")

    @property
    def time_zone_known(self) -> bool:
        return known_zone(self.time_zone) is not None


class Role(models.TextChoices):
    EXPERT = "expert", "Expert"
    LEAD = "lead", "Lead"
    ENGINEER = "engineer", "Engineer"
    ADMIN = "admin", "Admin"


class MembershipQuerySet(models.QuerySet):
    def experts(self):
        return self.filter(role=Role.EXPERT)

    def of_active_accounts(self):
        """Memberships whose account is active: the people the project's e-mails go to. Deactivating an account is
        how an operator cuts a person off, and their memberships stay, so mail must not reach them through those."""
        return self.filter(user__is_active=True)


class Membership(models.Model):
    """A user's role in one project."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_one_role_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.project} · {self.role}"


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        """Neither accepted nor revoked (it may have expired: compare `expires_at`)."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)

    def usable(self, now):
        return self.pending().filter(expires_at__gt=now)


class Invitation(models.Model):
    """An invitation by email to join a project with a role. Only a SHA-256 hash of the link's token is kept."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)  # lowercased by the service
    role = models.CharField(max_length=16, choices=Role)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField()
    send_count = models.PositiveIntegerField(default=1)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_pending_per_email",
            ),
        ]
        # Single sign-on looks up the invitations addressed to an email, across projects.
        indexes = [models.Index(fields=["email"], name="invitation_email")]

    def __str__(self) -> str:
        return f"{self.project} · {self.email} · {self.role}"


class Scope(models.TextChoices):
    INGEST = "ingest", "Ingest outputs, feedback and events"
    READ = "read", "Read outputs, datasets and metrics"
    PRIVACY = "privacy", "Erase an end user's data"
    # For CI jobs: define datasets and build versions (reading them needs `read`).
    DATASETS = "datasets", "Create datasets and build their versions"


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A project's API key. Only a SHA-256 hash of the secret is kept; the secret is shown once."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    # The public part of the key, used to find the row without scanning hashes.
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.project} · {self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


# The audit events of an invitation sent (again), whose details may keep the hash of the link it replaced (under
# REPLACED_TOKEN): the newer e-mail's link works, and the older one is told apart from a mistyped link.
INVITATION_EVENTS = ("member.invited", "member.invitation_resent")
REPLACED_TOKEN = "replaced_token_sha256"


class AuditEvent(models.Model):
    """Who did what, when: key created or revoked, project created, rubric published, …"""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64)
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["project", "-at"], name="audit_project_at"),
            # An invitation link nobody's invitation opens is looked up here (was it replaced?), by anyone who has it,
            # signed in or not: by its hash, not by scanning the whole log.
            models.Index(
                KT(f"details__{REPLACED_TOKEN}"),
                condition=models.Q(action__in=INVITATION_EVENTS),
                name="audit_replaced_invitation",
            ),
            # The keys page names the command that issued each key no person issued: its creation event, found by
            # the key's prefix, not by scanning the project's log once per key (selectors.api_keys).
            models.Index(
                "project",
                KT("details__prefix"),
                condition=models.Q(action="api_key.created", actor__isnull=True),
                name="audit_command_key_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"
