"""The project an API request reads: its key's own, or the one a signed-in member names."""

from functools import cached_property

from labeling.models import ApiKey, Membership, Project
from labeling.rules.access import ALL_ROLES, caller_of_project


class ProjectOfCaller:
    """Mixed into a view before KnownParametersOnly (whose empty `check_access` would otherwise win, and a stranger
    would hear a 400 about the query before the 404): `project` is the caller's (`rules.access.project_for_caller`
    with `project_roles`), a key's own or a member's `project_slug()`, asked in `check_access`, so a stranger hears
    404 whatever the query holds."""

    project_roles: tuple[str, ...] = ALL_ROLES
    # What a signed-in member of another role is told (a 403 with it); None: "No such project." as to a stranger.
    project_refusal: str | None = None
    # Whether an operator who is not a member reads it too, as they read the page that shows the same data.
    project_operators: bool = False

    @property
    def api_key(self) -> ApiKey | None:
        return self.request.auth if isinstance(self.request.auth, ApiKey) else None

    def project_slug(self) -> str | None:
        """The project a signed-in member names: `?project=<slug>` (a dataset's address names it in its path)."""
        return self.request.query_params.get("project")

    @cached_property
    def caller(self) -> tuple[Project, Membership | None]:
        """The project and the signed-in member's membership (None for a key), from one query."""
        return caller_of_project(
            slug=self.project_slug(),
            user=self.request.user,
            api_key=self.api_key,
            roles=self.project_roles,
            refusal=self.project_refusal,
            operators=self.project_operators,
        )

    @cached_property
    def project(self) -> Project:
        return self.caller[0]

    @property
    def membership(self) -> Membership | None:
        """The signed-in member's membership in `project`; None for a key (the project's, not a person's)."""
        return self.caller[1]

    def check_access(self) -> None:
        self.project  # noqa: B018 (a stranger hears 404, whatever the query holds)
