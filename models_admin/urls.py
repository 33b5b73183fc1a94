from django.urls import path

from models_admin import views

app_name = "models_admin"

urlpatterns = [
    path("", views.model_list, name="model-list"),
    path("models/<slug:asset_id>/", views.model_detail, name="model-detail"),
]
