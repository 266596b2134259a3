"""Create, check and revoke project API keys. A key reads `el_<prefix>_<secret>` (`labeling.rules.bearer`: only a
SHA-256 hash of it is stored).
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labeling.exceptions import DomainError, KeyRejected
from labeling.models import ApiKey, AuditEvent, Project, Scope
from labeling.rules import bearer
from labeling.rules.access import check_can_issue_key, check_can_revoke_key
from labeling.rules.commands import command_details
from labeling.rules.limits import check_window_limit
from labeling.rules.text import check_names
from labeling.rules.twins import twin_of
from labeling.services.operator_tokens import TOKEN_PREFIX as OPERATOR_TOKEN_PREFIX

KEY_PREFIX = "el_"
# Writing last_used_at on every request would turn every read into a write; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
NAME_MAX_CHARS = ApiKey._meta.get_field("name").max_length
# A hijacked session must not mint keys in bulk; a team issuing or rotating keys stays far below this.
KEYS_PER_WINDOW = 20
KEY_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str  # shown once, never stored
    # The live key of the same name and scopes the same user issued moments before: the same form posted again, most
    # likely (rules.twins). Its secret went only to the answer of that post, which a browser that resent the form
    # never showed; it cannot be shown again, so this post issues a key of its own and the page names that one.
    earlier: ApiKey | None = None


def parse_scopes(text: str) -> list[str]:
    scopes = sorted({part.strip() for part in text.split(",") if part.strip()})
    unknown = set(scopes) - set(Scope.values)
    if not scopes or unknown:
        raise DomainError(f"Scopes must be a comma-separated subset of {', '.join(Scope.values)}; got {text!r}.")
    return scopes


@transaction.atomic
def create_api_key(*, project: Project, name: str, scopes: list[str], created_by=None, command: str = "") -> IssuedKey:
    """Issue a key for the project; the returned secret is the only copy.

    `created_by` must be an engineer, lead or admin of the project, and only leads and admins give a key the
    privacy scope (None: a command, named by `command`, or the demo, unchecked). At most KEYS_PER_WINDOW keys a
    project per KEY_WINDOW (TooManyRequests beyond).

    The same form (name and scopes) posted again by the same user moments later issues a second key, naming the first
    (`IssuedKey.earlier`): the first secret cannot be shown again (only its hash is kept), and refusing the second post
    could be the answer the browser shows while the first one, never shown, is lost, since two posts at once may be
    served in either order."""
    # The project's row lock makes concurrent creations wait for each other, so none counts past the limit, and
    # the role check after it reads what a concurrent demotion left.
    Project.objects.lock(project.pk)
    if created_by is not None:
        check_can_issue_key(created_by, project, scopes)
    if not name.strip():
        raise DomainError("A key needs a name.")
    if len(name.strip()) > NAME_MAX_CHARS:
        raise DomainError(f"A key's name is at most {NAME_MAX_CHARS} characters.")
    check_names(name=name)
    scopes = parse_scopes(",".join(scopes))
    _check_key_rate(project)
    earlier = _twin(project, name.strip(), scopes, created_by) if created_by is not None else None
    minted = bearer.mint(KEY_PREFIX)
    api_key = ApiKey.objects.create(
        project=project,
        name=name.strip(),
        prefix=minted.prefix,
        secret_hash=minted.secret_hash,
        scopes=scopes,
        created_by=created_by,
    )
    AuditEvent.objects.create(
        project=project,
        actor=created_by,
        action="api_key.created",
        details={"prefix": minted.prefix, "name": api_key.name, "scopes": api_key.scopes, **command_details(command)},
    )
    return IssuedKey(api_key=api_key, secret=minted.secret, earlier=earlier)


def _twin(project: Project, name: str, scopes: list[str], created_by) -> ApiKey | None:
    """Under the project's lock, so the twin of a double click waits for the first key and sees it."""
    live = ApiKey.objects.filter(project=project, created_by=created_by, revoked_at__isnull=True)
    return twin_of(live.filter(name=name, scopes=scopes))


def _check_key_rate(project: Project) -> None:
    check_window_limit(
        ApiKey.objects.filter(project=project),
        at="created_at",
        limit=KEYS_PER_WINDOW,
        window=KEY_WINDOW,
        refusal="This project had {limit} keys issued in the last hour, the most allowed. Try again in {wait}.",
    )


@transaction.atomic
def revoke_api_key(*, api_key: ApiKey, revoked_by=None) -> None:
    """Revoke a key at once; revoking twice is harmless.

    `revoked_by` must manage the key's project, or have issued the key (None: a command, unchecked)."""
    if revoked_by is not None:
        check_can_revoke_key(revoked_by, api_key)
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        AuditEvent.objects.create(
            project_id=api_key.project_id,
            actor=revoked_by,
            action="api_key.revoked",
            details={"prefix": api_key.prefix, "name": api_key.name},
        )
    api_key.refresh_from_db(fields=["revoked_at"])


def authenticate_key(token: str) -> ApiKey:
    """Return the active key this token proves, or raise KeyRejected."""
    prefix = bearer.prefix_of(token, KEY_PREFIX)
    if prefix is None:
        if token.startswith(OPERATOR_TOKEN_PREFIX):  # the platform team's, sent to the wrong API
            raise KeyRejected(
                "This is an operator token (elop_…): it reads only /api/v1/platform/usage. "
                "The project API needs a project's API key (el_…)."
            )
        raise KeyRejected(
            f"Malformed API key: a project API key is `{KEY_PREFIX}<prefix>_<secret>`, whole and as issued (its "
            "secret is shown once, on the project's API keys page or by `manage.py create_api_key`)."
        )
    api_key = ApiKey.objects.select_related("project").filter(prefix=prefix).first()
    if api_key is None or not bearer.proves(token, api_key.secret_hash):
        raise KeyRejected("Invalid API key.")
    if api_key.revoked_at is not None:
        raise KeyRejected("This API key has been revoked.")
    _touch(api_key)
    return api_key


def _touch(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    api_key.last_used_at = now
