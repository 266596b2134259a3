from rest_framework import authentication, exceptions

from labeling.exceptions import KeyRejected
from labeling.services.api_keys import authenticate_key
from labeling.services.operator_tokens import authenticate_operator_token, is_operator_token


class ApiKeyPrincipal:
    """The caller of a request made with a project API key (there is no user behind it)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    pk = None

    def __init__(self, api_key):
        self.api_key = api_key
        self.project = api_key.project

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer el_…`. The key names its project."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the key as `Authorization: Bearer <key>`.")
        try:
            api_key = authenticate_key(header[1].decode("ascii", errors="replace"))
        except KeyRejected as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="expertloop"'


class OperatorTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer elop_…` on the platform endpoints: the operator who issued the token (whose
    permission the view's permission class asks again). A project key there is refused by name."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        secret = header[1].decode("ascii", errors="replace") if len(header) == 2 else ""
        if not is_operator_token(secret):
            raise exceptions.AuthenticationFailed(
                "The platform API takes an operator token (`Authorization: Bearer elop_…`, issued on "
                "/platform/tokens/) or an operator's session; project API keys speak for one project only."
            )
        try:
            user = authenticate_operator_token(secret)
        except KeyRejected as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        return user, None

    def authenticate_header(self, request):
        return f'{self.keyword} realm="expertloop-platform"'
