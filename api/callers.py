"""The project an API request reads: its key's own, or the one a signed-in member names."""

from functools import cached_property

from labeling.models import ApiKey, Project
from labeling.rules.access import ALL_ROLES, project_for_caller


class ProjectOfCaller:
    """Mixed into a view before KnownParametersOnly (whose empty `check_access` would otherwise win, and a stranger
    would hear a 400 about the query before the 404): `project` is the caller's (`rules.access.project_for_caller`
    with `project_roles`), a key's own or a member's `project_slug()`, asked in `check_access`, so a stranger hears
    404 whatever the query holds."""

    project_roles: tuple[str, ...] = ALL_ROLES

    @property
    def api_key(self) -> ApiKey | None:
        return self.request.auth if isinstance(self.request.auth, ApiKey) else None

    def project_slug(self) -> str | None:
        """The project a signed-in member names: `?project=<slug>` (a dataset's address names it in its path)."""
        return self.request.query_params.get("project")

    @cached_property
    def project(self) -> Project:
        return project_for_caller(
            slug=self.project_slug(), user=self.request.user, api_key=self.api_key, roles=self.project_roles
        )

    def check_access(self) -> None:
        self.project  # noqa: B018 (a stranger hears 404, whatever the query holds)
