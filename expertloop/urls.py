from allauth.account import views as allauth_account_views
from allauth.socialaccount import views as allauth_social_views
from allauth.urls import build_provider_urlpatterns
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from expertloop.errors import api_not_found
from labeling.web import health_views, signin

# Single sign-on (allauth): the provider's login and callback, and the few pages its flow may redirect to;
# none of allauth's account pages (README "Sign-in").
sso_urlpatterns = [
    *build_provider_urlpatterns(),  # oidc/<provider_id>/login/ and oidc/<provider_id>/login/callback/
    path("3rdparty/login/cancelled/", allauth_social_views.login_cancelled, name="socialaccount_login_cancelled"),
    path("3rdparty/login/error/", allauth_social_views.login_error, name="socialaccount_login_error"),
    path("inactive/", allauth_account_views.account_inactive, name="account_inactive"),
]

urlpatterns = [
    # Health for the operator (README, "Health"): liveness without the database, readiness with it.
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
    # Browsers ask for it on pages that link no icon (the admin, an API answer opened in a tab): a 404 each time.
    path("favicon.ico", RedirectView.as_view(url=static("labeling/favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("login/", signin.SignInView.as_view(), name="login"),
    # The same page under the name allauth's pages link to (their "back to sign in"); resolving finds the one above.
    path("login/", signin.SignInView.as_view(), name="account_login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password reset by email (off, 404, with PASSWORD_SIGN_IN=false).
    path("password-reset/", signin.PasswordResetRequestView.as_view(), name="password_reset"),
    path("password-reset/sent/", signin.PasswordResetSentView.as_view(), name="password_reset_done"),
    path("password-reset/done/", signin.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("password-reset/<uidb64>/<token>/", signin.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("accounts/", include(sso_urlpatterns)),
    # The facets endpoint with a slash after it is no route, as a slash after any endpoint is (a 404 saying "Did you
    # mean /api/v1/outputs/facets?"), not a lookup of an output "facets/", nor a 400 calling the facets' filters
    # unknown. Answered here, ahead of the API's routes: the output route still takes any id, so that reverse() names
    # an output "facets/" (a webhook's URL for it), found with `GET /api/v1/outputs?q=…`.
    path("api/v1/outputs/facets/", api_not_found),
    path("", include("api.urls")),
    path("", include("labeling.web.urls")),
]

handler404 = "expertloop.errors.not_found"
