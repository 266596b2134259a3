from rest_framework.permissions import BasePermission

from labeling.models import ApiKey, Scope
from labeling.rules.access import PLATFORM_REFUSED, operates_all_projects


class HasApiKey(BasePermission):
    """Any valid project API key, whatever its scopes."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class _HasScope(BasePermission):
    scope: str

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            return False
        if not request.auth.has_scope(self.scope):
            self.message = f"This API key lacks the `{self.scope}` scope."
            return False
        return True


class CanIngest(_HasScope):
    scope = Scope.INGEST


class CanRead(_HasScope):
    scope = Scope.READ


class CanErase(_HasScope):
    scope = Scope.PRIVACY


class _KeyScopeOrSignedIn(BasePermission):
    """A key with one of `scopes`, or a signed-in person (whose role in the project the view checks, as a 404).
    Session writes carry a CSRF token, as DRF's SessionAuthentication enforces."""

    scopes: tuple[str, ...]

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            return bool(request.user and request.user.is_authenticated)
        if not any(request.auth.has_scope(scope) for scope in self.scopes):
            self.message = "This API key lacks the " + " or ".join(f"`{scope}`" for scope in self.scopes) + " scope."
            return False
        return True


class CanBuildDatasetsOrSignedIn(_KeyScopeOrSignedIn):
    scopes = (Scope.DATASETS,)


class CanWatchDatasetsOrSignedIn(_KeyScopeOrSignedIn):
    """A dataset's definition and build state: for the keys that read datasets and those that build them."""

    scopes = (Scope.READ, Scope.DATASETS)


class CanReadOrSignedIn(CanRead):
    """A key with the `read` scope, or a signed-in person (whose role in the project the view checks, as a 404)."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return super().has_permission(request, view)
        return bool(request.user and request.user.is_authenticated)


class IsOperator(BasePermission):
    """An operator (`labeling.operate_all_projects`, asked on every request), signed in or by an operator token;
    never a project's API key, which speaks for one project only."""

    message = PLATFORM_REFUSED  # as the platform's pages say it (`rules.access.check_operator`)

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey) or request.user is None:
            return False
        return operates_all_projects(request.user)
