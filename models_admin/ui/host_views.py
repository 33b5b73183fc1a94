"""Hub-UI: the Hosts page. Each host with its capacity bars (VRAM per GPU, RAM), the models
placed on it and what they use, and its heartbeat's age (``runtimes.hosts.overview``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from models_admin.ui.helpers import require
from runtimes.hosts import registry
from runtimes.hosts.overview import hosts_overview

POLL_S = 5


@login_required
@require_safe
def hosts(request: HttpRequest) -> HttpResponse:
    require(request, "view")
    context = {"hosts": hosts_overview(), "poll_s": POLL_S, "stale_s": registry.stale_after_s()}
    template = "models_admin/hosts.html"
    if getattr(request, "htmx", False):
        template += "#hosts"
    return render(request, template, context)
