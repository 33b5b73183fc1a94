"""Hub-UI views for the catalog: thin; queries and rules live in services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from models_admin.catalog import grouped_assets
from models_admin.models import Asset
from models_admin.validation import canonical
from models_admin.yaml_io import dump_document


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    return render(request, "models_admin/model_list.html", {"groups": grouped_assets()})


@login_required
def model_detail(request: HttpRequest, asset_id: str) -> HttpResponse:
    asset = get_object_or_404(Asset, asset_id=asset_id)
    return render(
        request,
        "models_admin/model_detail.html",
        {"asset": asset, "spec_yaml": dump_document(canonical(asset.spec))},
    )
