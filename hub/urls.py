from django.contrib.auth import views as auth_views
from django.urls import include, path

from api.app import api
from api.metrics import metrics_view
from hub import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", api.urls),  # /api/v1/…, /api/openapi.json, /api/docs
    path("", include("models_admin.ui.urls")),
]
