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
    # Said by the 401 of a request that sent no credentials at all (api.exceptions).
    no_credentials = (
        "No credentials were sent: send a project API key as `Authorization: Bearer <key>` (a lead, engineer or "
        "admin issues one on the project's API keys page, /p/<project>/keys/)."
    )

    # Said instead by the 401 of a signed-in browser on an endpoint that takes a key only (writes, `/api/v1/key`): the
    # session is not refused for being bad, but for not being a key. A view may say it its own way (`session_refused`).
    session_refused = (
        "This endpoint takes a project API key only, not a signed-in session: send it as `Authorization: Bearer "
        "<key>` (a lead, engineer or admin issues one on the project's API keys page, /p/<project>/keys/). A session "
        "reads the endpoints that read, with `?project=<slug>` (outputs, labels, metrics, rubric, queues, changes, "
        "reports, redaction rules), and the datasets in their own URLs."
    )

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            sent = _credentials_sent_otherwise(request, header)
            # A signed-in browser behind a proxy's Basic auth sends both: its session still speaks for it.
            if sent and not _signed_in(request):
                raise exceptions.AuthenticationFailed(
                    f"Credentials were sent as {sent}, which this API does not read: send the key as "
                    "`Authorization: Bearer <key>`."
                )
            return None
        if len(header) == 1:
            # Most often `Bearer $KEY` with the variable unset: the header says the scheme, and nothing follows.
            raise exceptions.AuthenticationFailed(
                "No key follows `Bearer` (an empty shell variable?): send a project API key as "
                "`Authorization: Bearer <key>`."
            )
        if len(header) > 2:
            raise exceptions.AuthenticationFailed(
                "`Authorization: Bearer` takes one key, and this header has several: send it as "
                "`Authorization: Bearer <key>`."
            )
        try:
            api_key = authenticate_key(header[1].decode("ascii", errors="replace"))
        except KeyRejected as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="expertloop"'


def _credentials_sent_otherwise(request, header: list[bytes]) -> str | None:
    """How the request carries credentials in a way no API key is read from (another scheme, an `X-API-Key`
    header), said for the 401; None when it carries none."""
    if header:
        scheme = header[0].decode("latin-1")
        if scheme.isascii() and scheme.isalnum():
            return f"`Authorization: {scheme[:20]} …`"
        return "`Authorization` with another scheme"
    if request.META.get("HTTP_X_API_KEY"):
        return "an `X-API-Key` header"
    return None


def _signed_in(request) -> bool:
    user = getattr(request._request, "user", None)  # Django's session user, before DRF's authentication
    return bool(user is not None and user.is_authenticated)


# What the platform API's every 401 ends with: a script's author learns there what to send, as the project API's
# 401s say how to send its key.
SEND_AN_OPERATOR_TOKEN = (
    "send an operator token as `Authorization: Bearer elop_…` (an operator issues one on /platform/tokens/), "
    "or sign in as an operator"
)


class OperatorTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer elop_…` on the platform endpoints: the operator who issued the token (whose
    permission the view's permission class asks again). A project key there is refused by name."""

    keyword = "Bearer"
    # Said by the 401 of a request that sent no credentials at all (api.exceptions).
    no_credentials = f"No credentials were sent: {SEND_AN_OPERATOR_TOKEN}."

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            sent = _credentials_sent_otherwise(request, header)
            # A signed-in browser behind a proxy's Basic auth sends both: its session still speaks for it.
            if sent and not _signed_in(request):
                raise _refused(f"Credentials were sent as {sent}, which this API does not read")
            return None
        if len(header) == 1:
            raise _refused("No token follows `Bearer`")
        if len(header) > 2:
            raise _refused("`Authorization: Bearer` takes one token, and this header has several")
        secret = header[1].decode("ascii", errors="replace")
        if not is_operator_token(secret):
            raise exceptions.AuthenticationFailed(
                "The platform API takes an operator token (`Authorization: Bearer elop_…`, issued on "
                "/platform/tokens/) or an operator's session; project API keys speak for one project only."
            )
        try:
            user = authenticate_operator_token(secret)
        except KeyRejected as exc:
            raise _refused(exc.message.removesuffix(".")) from None
        return user, None

    def authenticate_header(self, request):
        return f'{self.keyword} realm="expertloop-platform"'


def _refused(problem: str) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(f"{problem}: {SEND_AN_OPERATOR_TOKEN}.")
