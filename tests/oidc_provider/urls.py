from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="idp/login.html"), name="login"),
    # /o/ is the issuer: /o/.well-known/openid-configuration, /o/authorize/, /o/token/, /o/userinfo/, JWKS.
    path("o/", include((oauth2_urls.base_urlpatterns + oauth2_urls.oidc_urlpatterns, "oauth2_provider"))),
]
