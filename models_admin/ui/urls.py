from django.urls import path, register_converter

from models_admin.asset_ids import ASSET_ID_PATTERN
from models_admin.ui import host_views, user_views, views


class AssetIdConverter:
    """Asset ids are slugs that may contain dots (``llama3.2-3b``), unlike Django's ``slug``."""

    regex = ASSET_ID_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AssetIdConverter, "asset")

app_name = "models_admin"

urlpatterns = [
    path("", views.model_list, name="model-list"),
    path("models/new/", views.model_edit, name="model-create"),
    path("models/<asset:asset_id>/", views.model_detail, name="model-detail"),
    path("models/<asset:asset_id>/edit/", views.model_edit, name="model-edit"),
    path("models/<asset:asset_id>/<slug:action>/", views.model_action, name="model-action"),
    path("import/", views.import_yaml, name="import"),
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<int:revision_id>/<slug:decision>/", views.approval_decide, name="approval-decide"),
    path("activity/", views.activity, name="activity"),
    path("hosts/", host_views.hosts, name="hosts"),
    path("audit/", views.audit, name="audit"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("users/", user_views.users, name="users"),
    path("users/<int:user_id>/<slug:action>/", user_views.user_action, name="user-action"),
    path("account/password/", user_views.password_change, name="password-change"),
]
