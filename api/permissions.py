from rest_framework.permissions import BasePermission

from labeling.models import ApiKey, Scope


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


class CanReadOrSignedIn(CanRead):
    """A key with the `read` scope, or a signed-in person (whose role in the project the view checks, as a 404)."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return super().has_permission(request, view)
        return bool(request.user and request.user.is_authenticated)


class IsSignedIn(BasePermission):
    """A person signed in with a session; API keys act for no one, so they are refused."""

    message = "Sign in to do this: API keys may only read here."

    def has_permission(self, request, view) -> bool:
        return not isinstance(request.auth, ApiKey) and bool(request.user and request.user.is_authenticated)
