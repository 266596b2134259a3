"""Who may do what. Written once; web views, the API and tasks all ask here.

Anything a user may not see is reported as not found: the existence of another project's items is
not disclosed. A member (or an operator) whom their role refuses knows the project and is told why
(NotForYourRole): a page answers its 404 page with the reason, the API a 403 with it (api/exceptions.py).

Labeling is asked once per request: `check_can_label` (one query) or, folded into the query that
loads the queue or item, `labeling_annotations` + `grant_from`. Either gives a `LabelingGrant` that the
request passes to the services it calls, so they do not ask the database again.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from django.conf import settings
from django.contrib.auth.models import Permission
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import Combinable

from labeling.exceptions import Forbidden, InvalidInput, NotForYourRole, NotFound, QueuePaused
from labeling.models import ApiKey, Label, Membership, Project, Queue, Role, Scope

# Operators see every project and its outputs. An explicit permission (superusers have every one):
# `is_staff` alone only lets a user into the admin site, where its own model permissions apply.
OPERATE_ALL_PROJECTS = "labeling.operate_all_projects"

ALL_ROLES = tuple(Role.values)
LABELING_ROLES = (Role.EXPERT, Role.LEAD)
LABELING_REFUSED = (
    "Only the project's experts and leads label. Its outputs, with their labels, are on the project's explore page."
)
# An operator who is not a member knows the project (they read its pages) but labels only as one of its members: said
# alike on the labeling pages (`refuse_labeling`) and to a command labeling for them (`check_can_label`).
OPERATOR_LABELING_REFUSED = (
    "Operators read every project but label only where they are one of its experts or leads, and this account is not "
    "a member of this project: ask one of its leads to add it as an expert. Its outputs, with their labels, are on "
    "the project's explore page."
)
MANAGING_ROLES = (Role.LEAD, Role.ADMIN)
# Datasets hold every expert's answers: engineers build and pull them, experts do not.
DATASET_ROLES = (Role.ENGINEER, Role.LEAD, Role.ADMIN)
# Saved explore views are shared by the whole project: the people who slice the data name them, experts open them.
SAVING_VIEW_ROLES = (Role.ENGINEER, Role.LEAD, Role.ADMIN)
SAVING_VIEW_REFUSED = "Experts open the project's saved views: its engineers, leads and admins save and change them."
# API keys feed the product app's ingest and the engineers' pulls: engineers issue them too, experts do not.
KEY_ROLES = (Role.ENGINEER, Role.LEAD, Role.ADMIN)
# Webhook endpoints are integrations, as API keys are: the engineers who issue the keys wire the endpoints too, beside
# the leads and admins (the weekly close's Slack post among them). Any endpoint of the project, whoever added it.
WEBHOOK_ROLES = KEY_ROLES
WEBHOOKS_REFUSED = "Only the project's engineers, leads and admins open the webhooks pages."
# A privacy-scope key erases end users' data: only the people who manage the project issue one.
PRIVACY_KEY_ROLES = MANAGING_ROLES
PRIVACY_KEY_REFUSED = (
    "Only the project's leads and admins may issue a key with the privacy scope: it erases end users' data. "
    "Leave the scope out, or ask a lead."
)
# The explore page's export (CSV/JSONL of a filter's outputs: end users' ids, texts, comments) goes to whoever pulls
# the same outputs otherwise: engineers (`GET /api/v1/outputs` with a key, their datasets) and the project's leads and
# admins. Experts may read outputs on the explore page (`may_explore`), never take them away in bulk.
EXPORT_ROLES = (Role.ENGINEER, Role.LEAD, Role.ADMIN)
EXPORT_REFUSED = (
    "Experts do not export outputs: the file holds end users' ids, texts and comments. Ask one of the project's "
    "engineers or leads for the export."
)
# An operator reads every project's outputs (the explore page, its facets and one output over the API) as they read
# its pages, one of its experts too (`reader_membership`); the export, the file or the API's list, stays with the
# members who answer for it.
OPERATOR_EXPORT_REFUSED = (
    "You read this project's outputs as an operator, not as one of its engineers, leads or admins: exporting them "
    "(the explore page's file, or the outputs API's list) is for them. Ask one of them for the export."
)
# What an operator who is not a member is told where the members' roles decide (`role_project`): they know the project.
OPERATOR_NOT_MEMBER = (
    "You see this project as an operator, not as one of its members: this is for the members whose role takes it. "
    "Ask one of its leads."
)
# Experts open the explore page (and read its outputs over the API) only while the project lets them (`may_explore`).
EXPLORE_REFUSED = "This project's leads have not opened the explore page to experts."
# The outputs API's list pages through every output, as a script would: an export by other means, refused alike.
LISTING_REFUSED = (
    "Experts read outputs on the explore page, not in bulk over the API: the list holds end users' ids, texts and "
    "comments. Ask one of the project's engineers or leads for an export."
)
# Withdrawing a dataset version takes it from every engineer who pulls it: the people who decide gold answers do it.
WITHDRAW_VERSION_ROLES = MANAGING_ROLES
WITHDRAW_VERSION_REFUSED = (
    "Only the project's leads and admins withdraw a dataset version: ask one of them, and say which version and why."
)
WITHDRAW_VERSION_KEY_REFUSED = (
    "This key was issued by someone who is not a lead or admin of the project, and only they withdraw a dataset "
    "version: ask a lead to withdraw it, or to issue the job a key with the `datasets` scope."
)
# What a member of another role is told on a lead's page (`managed_project`), which they know exists. Leads and admins
# both open them (MANAGING_ROLES); some an operator reads too (`read_project`), who is never told this.
LEADS_ONLY = (
    "Only the project's leads and admins open this page, and your role in the project is not one of them. Ask one of "
    "its leads."
)
# What they are told of a lead's action they sent (a form's POST: most often from a page opened while they were a lead,
# or a form pasted): what they did, not a page they opened (`lead_project`).
LEADS_ONLY_ACTION = (
    "Only the project's leads and admins do this, and your role in the project is not one of them (it may have "
    "changed since the page was opened): nothing was changed. Ask one of its leads."
)
# A lead's action reached from a page other roles open too (explore's "add to queue"): what they tried, not a page.
ADD_TO_QUEUE_REFUSED = (
    "Only the project's leads and admins add outputs to its queues. Ask one of them, and say which outputs and why."
)
# The platform's pages and its usage API: being an operator is a role too, and the pages are no secret (the
# navigation and the README name them), so a signed-in person is told why, as a member of another role is.
PLATFORM_REFUSED = (
    "Only operators (who hold the permission to operate every project) open the platform's pages and read its "
    "usage. Ask an operator."
)
# A queue that names its eligible experts, asked for by an expert it does not name, and a queue slug that names none:
# said alike (`refuse_labeling`), so a pasted link tells nothing of which queues exist. Not who the named ones are, nor
# what they answered.
QUEUE_NOT_YOURS = (
    "This queue is not yours to label: its leads chose other experts for it, or the project has no queue at this "
    "address (the link may be mistyped or out of date). Label in the project's other queues, or ask a lead."
)
# The same to a lead, who edits a queue's experts on its page rather than asking another lead: said alike of a queue
# that names others and of an address that names none, as to an expert.
LEAD_QUEUE_NOT_YOURS = (
    "This queue is not yours to label: it names other experts, or the project has no queue at this address (the link "
    "may be mistyped or out of date). As a lead, add yourself to a queue's experts on its page, or label in the "
    "project's other queues."
)
# The same refusal to a command or script labeling for someone (`check_can_label`): it named the queue itself, so no
# link is in question; it is told whom the queue does not name (never whom it does).
QUEUE_NAMES_OTHERS = (
    "“{queue}” is not {username}'s to label: its leads chose other experts for it. Label in another of the project's "
    "queues, or ask a lead to add {username} to this one."
)
# The same to a lead: a lead edits the queue's experts, so is not sent to ask another.
LEAD_QUEUE_NAMES_OTHERS = (
    "“{queue}” is not {username}'s to label: it names other experts. As a lead, add {username} to its experts on the "
    "queue's page, or label in another of the project's queues."
)
# An item the expert neither holds nor skipped (a pasted link, a lease run out): nothing about whether it exists, who
# holds it or what anyone answered (blind labeling).
ITEM_NOT_YOURS = (
    "This item is not yours to label: items are handed to one expert at a time, and this one is not (or no longer) "
    "held by you. Take your next item from the queue."
)
# An item the expert holds or skipped, in a queue whose leads have since named other experts for it: they know the
# queue (they were handed its item), so they are told it no longer names them, not of an address that names no queue.
ITEM_QUEUE_NOT_YOURS = (
    "This item's queue is no longer yours to label: its leads chose other experts for it. Label in the project's "
    "other queues, or ask a lead."
)
# The same to a lead, who may name themselves on the queue's page.
LEAD_ITEM_QUEUE_NOT_YOURS = (
    "This item's queue no longer names you among its experts. As a lead, add yourself to its experts on the queue's "
    "page, or label in the project's other queues."
)
LABELS_REFUSED = (
    "Only the project's engineers, leads and admins pull its labels: they hold every expert's answers. Experts read "
    "their own on the project's pages."
)
REDACTION_RULES_REFUSED = (
    "Signed in, only the project's leads and admins read its redaction rules; a key with the `read` scope reads them."
)
ALERTS_REFUSED = "Only the project's leads and admins, and operators, see and acknowledge its alerts."
KEYS_REFUSED = "Only the project's engineers, leads and admins open its API keys page."
DATASETS_REFUSED = "Only the project's engineers, leads and admins open its datasets: they hold every expert's answers."
REVOKE_KEY_REFUSED = "Engineers revoke only the keys they issued: ask one of the project's leads to revoke this one."


@dataclass(frozen=True, slots=True)
class LabelingGrant:
    """Proof that a user may label in a queue, for the one request that checked it; never store one."""

    user_id: int
    queue_id: int
    role: str


def member_project(user, slug: str, roles: tuple[str, ...] = ALL_ROLES) -> tuple[Project, Membership]:
    """The project with this slug and the user's membership in it, if it has one of the roles; else NotFound.

    The one door every web view and API view goes through to a project named in a URL (one query).
    """
    membership = None
    if user is not None and user.is_authenticated:
        membership = (
            Membership.objects.select_related("project")
            .filter(user_id=user.pk, project__slug=slug, role__in=roles)
            .first()
        )
    if membership is None:
        raise NotFound("No such project.")
    return membership.project, membership


def visible_project(user, slug: str) -> tuple[Project, Membership | None]:
    """`member_project` for any role, or for an operator the project without a membership; else NotFound."""
    try:
        return member_project(user, slug)
    except NotFound:
        return _operated_project(user, slug), None


def _operated_project(user, slug: str) -> Project:
    """The project with this slug for an operator; else NotFound."""
    project = Project.objects.filter(slug=slug).first() if operates_all_projects(user) else None
    if project is None:
        raise NotFound("No such project.")
    return project


def overview_project(user, slug: str) -> tuple[Project, Membership | None, bool]:
    """`visible_project` and whether the user operates every project. A member's one query answers the operator
    permission too: an operator may also be one of the project's experts, and sees its alerts all the same."""
    membership = None
    if user is not None and user.is_authenticated:
        membership = (
            Membership.objects.select_related("project")
            .filter(user_id=user.pk, project__slug=slug)
            .annotate(operator_held=operator_permission_held(user))
            .first()
        )
    if membership is None:
        return _operated_project(user, slug), None, True
    operator = user.is_active and (user.is_superuser or membership.operator_held)
    return membership.project, membership, operator


def explore_project(user, slug: str) -> tuple[Project, Membership | None]:
    """`visible_project` for the explore page and the outputs it shows, on the web and the API alike: members and
    operators (`reader_membership`), experts only while the project lets them explore (else NotForYourRole with
    EXPLORE_REFUSED: they know the project). One query for a member."""
    project, membership = reader_project(user, slug)
    if not may_explore(project, membership):
        raise NotForYourRole(EXPLORE_REFUSED)
    return project, membership


def reader_membership(membership: Membership | None, *, operator: bool) -> Membership | None:
    """The membership the pages every member reads, blind or not, read the user by (the explore page, the meeting page
    and its report, on the web and the API alike): an operator who is also one of the project's experts reads them as
    an operator (None: open, and not blind), as they read its members, keys, datasets and alerts (`read_project`,
    `sees_alerts`): becoming an expert takes nothing from them. Any other role reads as itself."""
    return None if operator and labels_blind(membership) else membership


def reader_project(user, slug: str) -> tuple[Project, Membership | None]:
    """`visible_project` with the user's `reader_membership` (the operator permission asked in the member's one
    query): for the pages every member and operator reads, blind or not."""
    project, membership, operator = overview_project(user, slug)
    return project, reader_membership(membership, operator=operator)


def may_explore(project: Project, membership: Membership | None) -> bool:
    """A membership (None: an operator) opens the explore page: experts only while the project lets them."""
    return membership is None or membership.role != Role.EXPERT or project.experts_can_explore


def exporting_project(user, slug: str) -> tuple[Project, Membership]:
    """`visible_project` for the explore page's export: EXPORT_ROLES. A member of another role gets the 404 with
    EXPORT_REFUSED (they know the project), as the other pages a role does not open answer; an operator who is not a
    member (or one of its experts: `reader_membership`), who reads the page and exports nothing,
    OPERATOR_EXPORT_REFUSED; anyone else "No such project."."""
    project, membership = reader_project(user, slug)
    check_may_export(membership, refusal=EXPORT_REFUSED)
    return project, membership


def check_may_export(membership: Membership | None, *, refusal: str) -> Membership:
    """The membership if it exports (`may_export`); else NotForYourRole: `refusal` for a member of another role,
    OPERATOR_EXPORT_REFUSED for an operator's None."""
    if not may_export(membership):
        raise NotForYourRole(refusal if membership is not None else OPERATOR_EXPORT_REFUSED)
    return membership


def may_export(membership: Membership | None) -> bool:
    """A membership exports the explore page's results (`exporting_project`): never an operator's None."""
    return has_role(membership, EXPORT_ROLES)


def labels_blind(membership: Membership | None) -> bool:
    """Experts label blind: they see no gold answer, nor what one selects (the week's failing outputs).
    A membership of None is an operator's, who sees everything."""
    return membership is not None and membership.role == Role.EXPERT


def labels_that_unblind(reader_id: int) -> QuerySet[Label]:
    """Blind labeling: a reader reads other people's judgement of an item (their comments, their flag notes) only once
    they have labeled the item themselves; their own they always read. The reader's labels, each opening its item:
    narrow them to an item (`.filter(item=OuterRef(...))` in an Exists) or to the items a page shows. Leads label
    blind on the labeling screen too; the meeting page opens everything to them (`labels_blind`)."""
    return Label.objects.filter(expert=reader_id)


def read_project(
    user, slug: str, roles: tuple[str, ...], *, refusal: str | None = None
) -> tuple[Project, Membership | None]:
    """`member_project` for the pages an operator reads without being a member (members, API keys, datasets, the
    audit log): the project with the user's membership if it has one of the roles, or with None for an operator, who
    reads the page and changes nothing there (`member_changes`). A member of another role gets the 404 with `refusal`
    as its message when given (as `managed_project`), else "No such project."; anyone else "No such project."

    An operator who is also one of the project's members in another role (an expert, say) reads it as an operator.
    One query for a member with the role."""
    project, membership = visible_project(user, slug)
    if membership is None or membership.role in roles:
        return project, membership
    if operates_all_projects(user):
        return project, None
    raise NotForYourRole(refusal) if refusal else NotFound("No such project.")


def member_changes(membership: Membership | None) -> Membership:
    """The membership a change on a page `read_project` opened asks for: an operator reading the page without one is
    told writes stay with the members (OPERATOR_NOT_MEMBER), as `role_project` tells them."""
    if membership is None:
        raise NotForYourRole(OPERATOR_NOT_MEMBER)
    return membership


def role_project(user, slug: str, roles: tuple[str, ...], *, refusal: str) -> tuple[Project, Membership]:
    """`member_project` for a page or a change some roles only open: a member of another role gets the 404 with
    `refusal` as its message (they know the project), an operator who is not a member OPERATOR_NOT_MEMBER; anyone
    else "No such project.", which tells nothing. One query for a member."""
    try:
        project, membership = member_project(user, slug)
    except NotFound:
        _operated_project(user, slug)  # NotFound for anyone but an operator
        raise NotForYourRole(OPERATOR_NOT_MEMBER) from None
    if membership.role not in roles:
        raise NotForYourRole(refusal)
    return project, membership


def managed_project(user, slug: str, *, refusal: str = LEADS_ONLY) -> tuple[Project, Membership]:
    """`role_project` for the lead's screens: leads and admins only."""
    return role_project(user, slug, MANAGING_ROLES, refusal=refusal)


def lead_project(user, slug: str, *, method: str, refusal: str = LEADS_ONLY) -> tuple[Project, Membership]:
    """`managed_project` for a lead's page or action, by the request's `method`: a member of another role is told
    `refusal` of a page (GET, HEAD; LEADS_ONLY unless the page says more), LEADS_ONLY_ACTION of anything sent."""
    return managed_project(user, slug, refusal=refusal if method in ("GET", "HEAD") else LEADS_ONLY_ACTION)


def webhook_project(user, slug: str) -> tuple[Project, Membership]:
    """`role_project` for the webhooks pages: WEBHOOK_ROLES."""
    return role_project(user, slug, WEBHOOK_ROLES, refusal=WEBHOOKS_REFUSED)


def check_can_manage_webhooks(user, project: Project) -> Membership:
    """The user's membership if they may add, change or delete the project's webhook endpoints (WEBHOOK_ROLES), else
    NotFound: the services' own check, as `webhook_project` is the pages'."""
    return check_member(user, project, WEBHOOK_ROLES)


def has_role(membership: Membership | None, roles: tuple[str, ...]) -> bool:
    """Whether a membership is one of `roles`: never an operator's None (an operator who is not a member reads)."""
    return membership is not None and membership.role in roles


def manages(membership: Membership | None) -> bool:
    """A membership opens the lead's screens (`managed_project`): a lead's or an admin's, not an operator's None."""
    return has_role(membership, MANAGING_ROLES)


def sees_alerts(membership: Membership | None, *, operator: bool) -> bool:
    """Alerts are for the project's leads and admins, and operators whatever their membership (none, or as one of
    its experts): not its other experts and engineers."""
    return operator or manages(membership)


def alerting_project(user, slug: str) -> Project:
    """The project whose alerts the user may acknowledge: `managed_project`, or any project for an operator (one of
    its experts or engineers too: `sees_alerts`); else its other members get the 404 with ALERTS_REFUSED, anyone else
    "No such project."."""
    try:
        return managed_project(user, slug, refusal=ALERTS_REFUSED)[0]
    except NotFound as refused:
        if isinstance(refused, NotForYourRole) and not operates_all_projects(user):
            raise
        return _operated_project(user, slug)


def project_for_caller(
    *, slug: str | None, user=None, api_key: ApiKey | None = None, roles: tuple[str, ...]
) -> Project:
    """The project an API caller reads: an API key's own (`slug`, when given, must name it), or the project
    named by `slug` when the signed-in user holds one of the roles in it; else NotFound."""
    return caller_of_project(slug=slug, user=user, api_key=api_key, roles=roles)[0]


def caller_of_project(
    *,
    slug: str | None,
    user=None,
    api_key: ApiKey | None = None,
    roles: tuple[str, ...],
    refusal: str | None = None,
    operators: bool = False,
) -> tuple[Project, Membership | None]:
    """`project_for_caller` and the signed-in member's membership (None for a key, or an operator), read by its one
    query: a view that asks what the member's role lets them read asks it no second time. With `refusal`, a member of
    another role is told it (NotForYourRole, as `role_project`), as the page of the same data tells them. `operators`:
    what the pages show an operator who is not a member too, the API shows them alike (membership None): what every
    member reads (`reader_project`: the meeting page's figures and report, which an operator who is one of its experts
    reads as an operator too), or what some roles read (`read_project`: the datasets list, a dataset and its versions).
    Writes never pass it."""
    if api_key is not None:
        if slug and api_key.project.slug != slug:
            raise NotFound("No such project.")
        return api_key.project, None
    if not slug:
        raise InvalidInput("Name the project: add `?project=<slug>` (API keys name their own project).")
    if operators:
        return reader_project(user, slug) if roles == ALL_ROLES else read_project(user, slug, roles, refusal=refusal)
    if refusal is not None:
        return role_project(user, slug, roles, refusal=refusal)
    if roles == ALL_ROLES:
        # Every member reads it: only an operator who is none is refused, told it is the members' (`role_project`).
        return role_project(user, slug, roles, refusal=OPERATOR_NOT_MEMBER)
    return member_project(user, slug, roles)


def explored_project_for_caller(
    *, slug: str | None, user=None, api_key: ApiKey | None = None, listing: bool = False
) -> tuple[Project, bool]:
    """`project_for_caller` for the outputs the explore page shows (`GET /api/v1/outputs`, its facets, one output),
    and whether the caller reads them blind. A key reads its own project; signed in, the caller names it with `slug`
    and is asked the explore page's own rule (`explore_project`: members and operators, an expert only while the
    project lets experts explore, and then blind). `listing`: the list, which pages through every output as a script
    would, is the export's (`check_may_export`: an expert or an operator who is not a member reads its pages on the
    explore page)."""
    if api_key is not None or not slug:
        return project_for_caller(slug=slug, user=user, api_key=api_key, roles=ALL_ROLES), False
    project, membership = explore_project(user, slug)
    if listing:
        check_may_export(membership, refusal=LISTING_REFUSED)
    return project, labels_blind(membership)


def version_download_project(*, slug: str, user=None, api_key: ApiKey | None = None) -> tuple[Project, bool]:
    """The project whose dataset versions the caller may download, and whether the caller is an operator who is not
    one of its engineers, leads or admins. An API key's own or a member's (`project_for_caller`), or, signed in, an
    operator's: they read the project's dataset pages (`read_project`), and by the same rule take the files those
    pages link to. The rest of the datasets API stays the members'. Else NotFound."""
    if api_key is not None or user is None:
        return project_for_caller(slug=slug, user=user, api_key=api_key, roles=DATASET_ROLES), False
    project, membership = read_project(user, slug, DATASET_ROLES, refusal=DATASETS_REFUSED)
    return project, membership is None


def check_member(user, project: Project, roles: tuple[str, ...] = ALL_ROLES) -> Membership:
    """Return the user's membership in the project if it has one of the roles, else raise NotFound."""
    membership = (
        Membership.objects.filter(user_id=user.pk, project=project, role__in=roles).first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise NotFound("No such project.")
    return membership


def operates_all_projects(user) -> bool:
    """The user holds the operator permission (directly, through a group, or as a superuser)."""
    return user.is_authenticated and user.is_active and user.has_perm(OPERATE_ALL_PROJECTS)


def check_operator(user) -> None:
    """Raise NotForYourRole with PLATFORM_REFUSED unless the user operates every project: the platform's pages
    answer a signed-in person the 404 page with the reason, as its API answers a 403 with it (`api.permissions`)."""
    if not operates_all_projects(user):
        raise NotForYourRole(PLATFORM_REFUSED)


def is_operator(user) -> bool:
    """Staff, superusers and holders of the operator permission (a group's too): single sign-on never links such
    an account by its email, and a password reset never gives it a first password; an operator does that."""
    return user.is_staff or user.is_superuser or user.has_perm(OPERATE_ALL_PROJECTS)


def operator_permission_held(user) -> Exists:
    """`operates_all_projects` as an expression, to fold into a query instead of asking separately."""
    app_label, codename = OPERATE_ALL_PROJECTS.split(".")
    held = Permission.objects.filter(
        Q(user=user.pk) | Q(group__user=user.pk), codename=codename, content_type__app_label=app_label
    )
    return Exists(held)


def queue_admits(user, queue: int | Combinable) -> Q:
    """The queue admits the user: it names no eligible experts, or names them. Who labels there is a member with a
    LABELING_ROLES role whom the queue admits (`check_can_label`, `named_experts`)."""
    named = Queue.eligible_experts.through.objects.filter(queue_id=queue)
    return ~Exists(named) | Exists(named.filter(user_id=user.pk))


def labeling_memberships(project: int | Combinable) -> QuerySet[Membership]:
    """The project's memberships whose holder may label now: a LABELING_ROLES role on an active account (deactivating
    an account is how an operator cuts a person off; their memberships stay)."""
    return Membership.objects.of_active_accounts().filter(project_id=project, role__in=LABELING_ROLES)


@dataclass(frozen=True, slots=True)
class NamedExperts:
    """A queue that names its eligible experts, and which of them may label there now."""

    queue_id: int
    queue_name: str
    may_label: tuple[int, ...]  # user ids: members whose role labels
    # Usernames of the others: removed from the project, given a role that does not label, or their account deactivated.
    gone: tuple[str, ...]


def named_experts(project_id: int) -> dict[int, NamedExperts]:
    """The project's queues that name eligible experts, by id, with who of them may label there now: the rule of
    `check_can_label` (a member with a LABELING_ROLES role, named by the queue) on an active account
    (`labeling_memberships`: a deactivated one cannot sign in). A removed member keeps their name on the queue
    (services/members.py), as a deactivated one does, so a queue may be left with nobody. One query."""
    may_label = labeling_memberships(project_id).filter(user_id=OuterRef("user_id"))
    rows = (
        Queue.eligible_experts.through.objects.filter(queue__project_id=project_id)
        .annotate(labels=Exists(may_label))
        .order_by("queue__name", "queue_id", "user__username")
        .values_list("queue_id", "queue__name", "user_id", "user__username", "labels")
    )
    found: dict[int, tuple[str, list[int], list[str]]] = {}
    for queue_id, queue_name, user_id, username, labels in rows:
        _, able, gone = found.setdefault(queue_id, (queue_name, [], []))
        (able.append(user_id) if labels else gone.append(username))
    return {
        queue_id: NamedExperts(queue_id, name, tuple(able), tuple(gone))
        for queue_id, (name, able, gone) in found.items()
    }


@dataclass(frozen=True, slots=True)
class QueueLabelers:
    """Who may label in each of a project's queues now, of both kinds (`queue_labelers`)."""

    named: dict[int, NamedExperts]  # the queues that name eligible experts, by id
    everyone: tuple[int, ...]  # user ids: who may label in a queue that names none (every labeling member)

    def may_label(self, queue_id: int) -> tuple[int, ...]:
        named = self.named.get(queue_id)
        return self.everyone if named is None else named.may_label

    def without_expert(self, queue_id: int) -> bool:
        """Nobody may label in the queue now: its items wait for nobody."""
        return not self.may_label(queue_id)

    def gone(self, queue_id: int) -> tuple[str, ...]:
        """Usernames of whom the queue names who may not label there any more; none for a queue that names nobody."""
        named = self.named.get(queue_id)
        return () if named is None else named.gone


def queue_labelers(project_id: int) -> QueueLabelers:
    """Who may label in the project's queues now: in a queue that names eligible experts, those of them who may
    (`named_experts`); in one that names none, every member who may label in the project (`labeling_memberships`).
    Either may be left with nobody: its named experts, or all of the project's experts and leads, removed, given a
    role that does not label, or deactivated. Two queries."""
    everyone = labeling_memberships(project_id).order_by("user_id").values_list("user_id", flat=True)
    return QueueLabelers(named=named_experts(project_id), everyone=tuple(everyone))


def check_can_label(user, queue: Queue) -> LabelingGrant:
    """Experts and leads of the project label; a queue with eligible experts admits only them. For the services called
    without a request's grant (a command, the demo's seed, a benchmark): refused as `grant_from` refuses, but an
    operator who is not a member is told so (OPERATOR_LABELING_REFUSED, as the pages tell them) and an expert the
    queue does not name QUEUE_NAMES_OTHERS, a lead LEAD_QUEUE_NAMES_OTHERS (the caller named the queue: no link to speak
    of). One query when allowed."""
    role, admitted = None, False
    if user.is_authenticated:
        role, admitted = (
            Membership.objects.filter(user_id=user.pk, project_id=queue.project_id)
            .annotate(admitted=queue_admits(user, queue.pk))
            .values_list("role", "admitted")
            .first()
        ) or (None, False)
    if role is None and operates_all_projects(user):
        raise NotForYourRole(OPERATOR_LABELING_REFUSED)
    words = LEAD_QUEUE_NAMES_OTHERS if role == Role.LEAD else QUEUE_NAMES_OTHERS
    not_named = words.format(queue=queue.name, username=user.get_username())
    return grant_from(user, queue, role=role, admitted=admitted, not_admitted=not_named)


def queue_not_yours(role: str | None) -> str:
    """What a member opening a queue's address that loads no queue they may label in is told (`refuse_labeling`'s
    `not_yours`, `grant_from`'s `not_admitted`): a lead that they may name themselves, an expert to ask a lead. By role
    only, never by whether the queue exists."""
    return LEAD_QUEUE_NOT_YOURS if role == Role.LEAD else QUEUE_NOT_YOURS


def item_queue_not_yours(role: str | None) -> str:
    """What a holder of an item whose queue no longer names them is told (`grant_from`'s `not_admitted`): a lead that
    they may name themselves, an expert to ask a lead."""
    return LEAD_ITEM_QUEUE_NOT_YOURS if role == Role.LEAD else ITEM_QUEUE_NOT_YOURS


def labeling_annotations(user, *, project: str, queue: str) -> dict:
    """Annotations for a query over queues or items: `member_role` (the user's role in the row's project,
    None for a non-member) and `queue_admits`; `project` and `queue` name the row's columns."""
    return {
        "member_role": Subquery(
            Membership.objects.filter(user_id=user.pk, project_id=OuterRef(project)).values("role")[:1]
        ),
        "queue_admits": queue_admits(user, OuterRef(queue)),
    }


def grant_from(user, queue: Queue, *, role: str | None, admitted: bool, not_admitted: str) -> LabelingGrant:
    """The grant for a role and an admission read with `labeling_annotations`; NotFound when they refuse: a member
    whose role does not label is told so (NotForYourRole), and one the queue does not name `not_admitted`
    (`queue_not_yours`: the pages' words, of the address they opened)."""
    if role is None or not user.is_authenticated:
        raise NotFound("No such project.")
    if role not in LABELING_ROLES:
        raise NotForYourRole(LABELING_REFUSED)
    if not admitted:
        raise NotForYourRole(not_admitted)
    return LabelingGrant(user_id=user.pk, queue_id=queue.pk, role=role)


def refuse_labeling(user, slug: str, *, not_yours: str | Callable[[str], str]) -> NoReturn:
    """Refuse a labeling address (an item, a queue) that loaded nothing the user may label there: a member who labels
    is told `not_yours` (ITEM_NOT_YOURS, or by their role: `queue_not_yours`), one whose role does not
    LABELING_REFUSED, an operator who is not a member OPERATOR_LABELING_REFUSED, anyone else "No such project.". Said
    alike whether what it names exists or not: the address tells nothing of others' work or of which queues exist. One
    query for a member."""
    _, membership = visible_project(user, slug)
    if membership is None:  # `visible_project` gives none only to an operator
        raise NotForYourRole(OPERATOR_LABELING_REFUSED)
    if not has_role(membership, LABELING_ROLES):
        raise NotForYourRole(LABELING_REFUSED)
    raise NotForYourRole(not_yours(membership.role) if callable(not_yours) else not_yours)


def ensure_can_label(user, queue: Queue, grant: LabelingGrant | None) -> LabelingGrant:
    """The caller's grant when it is for this user and queue; else ask the database (check_can_label)."""
    if grant is not None and grant.user_id == user.pk and grant.queue_id == queue.pk:
        return grant
    return check_can_label(user, queue)


def hands_out_items(queue: Queue) -> bool:
    """The queue hands experts new items: a lead pausing it (its *Active* box) stops that, while what they already
    hold there stays theirs to finish."""
    return queue.is_active


def check_hands_out_items(queue: Queue) -> None:
    """Raise QueuePaused unless the queue hands out new items (`hands_out_items`). Ask after the labeling check: one
    who may not label there learns nothing about the queue."""
    if not hands_out_items(queue):
        raise QueuePaused(f"“{queue.name}” is paused: its lead stopped handing out items.")


def check_can_manage(user, project: Project) -> Membership:
    return check_member(user, project, MANAGING_ROLES)


def issuable_scopes(role: str) -> tuple[str, ...]:
    """The scopes a member with this role may give a key they issue."""
    if role in PRIVACY_KEY_ROLES:
        return tuple(Scope.values)
    return tuple(scope for scope in Scope.values if scope != Scope.PRIVACY)


def check_can_issue_key(user, project: Project, scopes: list[str]) -> Membership:
    """The user's membership if they may issue a key with these scopes: NotFound outside KEY_ROLES, Forbidden
    for a scope their role may not give (privacy, for engineers)."""
    membership = check_member(user, project, KEY_ROLES)
    if set(scopes) - set(issuable_scopes(membership.role)):
        raise Forbidden(PRIVACY_KEY_REFUSED)
    return membership


def may_revoke_key(user, membership: Membership | None, api_key: ApiKey) -> bool:
    """Leads and admins revoke any of their project's keys; engineers only the keys they issued; operators any key,
    whatever their role in the project (a leaked key is stopped by whoever runs the platform, member or not). The one
    rule of the keys page and the revoking service (`check_can_revoke_key`). The role first: a lead's page asks no
    permission query."""
    if membership is not None and membership.project_id == api_key.project_id and membership.role in KEY_ROLES:
        if membership.role in MANAGING_ROLES or api_key.created_by_id == membership.user_id:
            return True
    return operates_all_projects(user)


def check_may_revoke_key(user, membership: Membership | None, api_key: ApiKey) -> None:
    """`may_revoke_key`, or NotForYourRole with the reason (the membership was checked for KEY_ROLES already)."""
    if not may_revoke_key(user, membership, api_key):
        raise NotForYourRole(REVOKE_KEY_REFUSED)


def check_can_revoke_key(user, api_key: ApiKey) -> None:
    """NotFound unless the user sees the key's project's keys; Forbidden for another's key unless they manage
    the project. Operators may revoke any key (the admin's revoke action)."""
    membership = (
        Membership.objects.filter(user_id=user.pk, project_id=api_key.project_id, role__in=KEY_ROLES).first()
        if user.is_authenticated
        else None
    )
    if may_revoke_key(user, membership, api_key):
        return
    if membership is None:
        raise NotFound("No such API key.")
    raise Forbidden(REVOKE_KEY_REFUSED)


@dataclass(frozen=True, slots=True)
class WithdrawalGrant:
    """Proof that a caller may withdraw a project's dataset versions, for the one request that checked it
    (`check_can_withdraw_versions`); never store one."""

    project_id: int
    user_id: int | None
    api_key_id: int | None


def check_can_withdraw_versions(
    project: Project, *, user=None, api_key: ApiKey | None = None, membership: Membership | None = None
) -> WithdrawalGrant:
    """Refuse unless the caller may withdraw the project's dataset versions: a lead or admin signed in, or a key (with
    the `datasets` scope, which the API checks) that a lead or admin issued, or a command (issuer unknown). A key
    speaks for who issued it: else an engineer's own `datasets` key would withdraw what the engineer may not. A person
    is refused as a role is (NotForYourRole: the page's 404 with the reason, the API's 403), a key with Forbidden.
    `membership`: the user's in the project, when the request read it already (no second query). The grant it returns
    spares the service the request calls a second check (`ensure_can_withdraw_versions`)."""
    grant = _withdrawal_grant(project, user=user, api_key=api_key)
    if api_key is not None:
        issuer = api_key.created_by_id
        if issuer is not None and not _holds_role(issuer, project, WITHDRAW_VERSION_ROLES):
            raise Forbidden(WITHDRAW_VERSION_KEY_REFUSED)
        return grant
    if user is None or not user.is_authenticated:
        raise NotForYourRole(WITHDRAW_VERSION_REFUSED)
    if membership is not None and membership.user_id == user.pk and membership.project_id == project.pk:
        held = membership.role in WITHDRAW_VERSION_ROLES
    else:
        held = _holds_role(user.pk, project, WITHDRAW_VERSION_ROLES)
    if not held:
        raise NotForYourRole(WITHDRAW_VERSION_REFUSED)
    return grant


def ensure_can_withdraw_versions(
    project: Project, *, user=None, api_key: ApiKey | None = None, grant: WithdrawalGrant | None = None
) -> None:
    """Nothing more to ask when the request's grant is for this project, user and key; else ask
    (`check_can_withdraw_versions`, which raises when they may not withdraw)."""
    if grant is not None and grant == _withdrawal_grant(project, user=user, api_key=api_key):
        return
    check_can_withdraw_versions(project, user=user, api_key=api_key)


def _withdrawal_grant(project: Project, *, user, api_key: ApiKey | None) -> WithdrawalGrant:
    user_id = user.pk if user is not None and user.is_authenticated else None
    return WithdrawalGrant(project.pk, user_id, api_key.pk if api_key is not None else None)


def _holds_role(user_id: int, project: Project, roles: tuple[str, ...]) -> bool:
    return Membership.objects.filter(user_id=user_id, project=project, role__in=roles).exists()


def only_an_expert(user, *, operator: bool) -> bool:
    """Whether the user is an expert wherever they are a member, and neither staff nor an operator: someone who labels
    and never uses the API (the top bar leaves its link out for them)."""
    if user.is_staff or user.is_superuser or operator:
        return False
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    return roles == {Role.EXPERT}


def may_create_projects(user, *, operator: bool | None = None) -> bool:
    """PROJECT_CREATORS decides: `staff` (staff users, superusers and operators, who run every project anyway) or
    `everyone` signed in; never the inactive. `operator`, when the caller knows it already, saves the two permission
    queries (a link to the page may pass the answer kept at sign-in: the page itself asks again)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if settings.PROJECT_CREATORS == "everyone" or user.is_staff or user.is_superuser:
        return True
    return operates_all_projects(user) if operator is None else operator


def copyable_projects(user) -> QuerySet[Project]:
    """Projects whose rubric and queues the user may copy into a new project: those they lead or administer;
    operators, every project."""
    if operates_all_projects(user):
        return Project.objects.all()
    if user is None or not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user_id=user.pk, memberships__role__in=MANAGING_ROLES)


def check_can_copy_project(user, slug: str) -> Project:
    """The project with this slug if the user may copy it (`copyable_projects`), else NotFound."""
    project = copyable_projects(user).filter(slug=slug).first()
    if project is None:
        raise NotFound("No such project.")
    return project


def check_can_create_project(user) -> None:
    """Raise Forbidden unless the user may create projects (a 403: the page is no secret, the permission is)."""
    if not may_create_projects(user):
        raise Forbidden(
            "Only operators and staff may create projects on this server. Ask an operator to create one for you, "
            "or a project's lead to invite you."
        )
