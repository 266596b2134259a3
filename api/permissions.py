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
