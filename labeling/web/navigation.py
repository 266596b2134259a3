"""What the top navigation needs to know about the signed-in user, worked out once at sign-in.

Whether the user operates every project costs two permission queries for anyone not a superuser; every page
renders the navigation, so the answer is kept in the session at sign-in instead of asked on each page. It only
shows a link: the platform pages ask again on every request (`rules.access.check_operator`), so a permission
revoked since sign-in leaves a link that answers 404, and one granted since shows the link from the next sign-in.
The home page's New project link reads it the same way (operators may create projects; the page asks again), and
so does the API link, left out for someone who is only ever an expert (a role changed since shows from the next
sign-in; the API docs page itself stays open to anyone signed in).
"""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from labeling.rules.access import manages, may_create_projects, only_an_expert, operates_all_projects

OPERATOR_SESSION_KEY = "operates_all_projects"  # read by base.html
ONLY_AN_EXPERT_SESSION_KEY = "only_an_expert"  # read by base.html


def page_frame(membership) -> str:
    """The frame of a page engineers open as well as leads (API keys, webhooks): the manage tabs for leads, admins and
    an operator who is not a member (None), the engineers' own tabs (`lead/_engineer_tabs.html`) for the others."""
    return "labeling/lead/base.html" if membership is None or manages(membership) else "labeling/keys/base.html"


def shows_new_project(request) -> bool:
    """Whether a page offers the New project link: the operator part as kept at sign-in (the page asks again)."""
    return may_create_projects(request.user, operator=request.session.get(OPERATOR_SESSION_KEY, False))


@receiver(user_logged_in, dispatch_uid="labeling.remember_operator")
def remember_operator(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        operator = operates_all_projects(user)
        request.session[OPERATOR_SESSION_KEY] = operator
        request.session[ONLY_AN_EXPERT_SESSION_KEY] = only_an_expert(user, operator=operator)
