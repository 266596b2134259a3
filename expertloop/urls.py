from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from labeling.web import health_views

urlpatterns = [
    # Health for the operator (README, "Health"): liveness without the database, readiness with it.
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("api.urls")),
    path("", include("labeling.web.urls")),
]
