"""Hub-UI views: parse, authorize, call one service, render.

Every page is one template with named partials; an htmx request gets the partial it
polls or swaps, any other request the full page, so everything works without JavaScript.
Rules (validation, four eyes, transitions) live in the services; a refusal they raise is
shown to the person as a message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from actions.assets import AssetImportError, do_import_assets, plan_import
from actions.revisions import do_approve_revision, do_create_draft, do_reject_revision, do_submit_revision
from actions.tokens import do_create_token, do_revoke_token
from models_admin import governance
from models_admin import tokens as tokens_service
from models_admin.documents import canonical
from models_admin.governance import AssetExists
from models_admin.models import TOKEN_SCOPES, ApiToken, Asset, AssetRevision, AuditEntry
from models_admin.roles import scopes_allowed
from models_admin.ui import asset_page
from models_admin.ui import models_list as catalog
from models_admin.ui.asset_form import AssetForm
from models_admin.ui.forms import ImportForm, RejectForm, TokenForm
from models_admin.ui.helpers import (
    DOMAIN_ERRORS,
    attach_errors,
    can,
    chosen,
    require,
    signed_in_user,
    ui_actor,
)
from models_admin.validation import AssetValidationError, FieldError
from models_admin.yaml_io import DocumentLoadError, parse_documents
from runtimes import lifecycle

ACTIONS = {
    "wake": ("Wake", lifecycle.do_wake_asset),
    "sleep": ("Sleep", lifecycle.do_sleep_asset),
    "restart": ("Restart", lifecycle.do_restart_asset),
}


# Refusals to show the person (bad input, illegal transitions, permissions), not bugs.
def _asset_base() -> str:
    """``/models/``: asset URLs are this plus ``<asset_id>/…``, built without a reverse() per row."""
    return reverse("models_admin:model-detail", args=["x"]).removesuffix("x/")


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return default


# ---- models ---------------------------------------------------------------------------


@login_required
@require_safe  # a page: a POST to it is refused (405), not rendered
def model_list(request: HttpRequest) -> HttpResponse:
    require(request, "view")
    query = catalog.ModelsQuery.from_params(request.GET)
    groups = catalog.models_page(query)
    context = {
        "groups": groups,
        # Faster while something is starting or stopping; metrics keep changing, so it never stops.
        "poll_s": 2 if any(row.transitional for g in groups for row in g.rows) else 5,
        "query": query,
        "state_choices": catalog.state_choices(),
        "approval_choices": [(k, v[0]) for k, v in catalog.APPROVAL_LABELS.items()],
        "sort_choices": catalog.SORT_LABELS.items(),
        "can_operate": can(request, "operate"),
        "can_edit": can(request, "edit"),
        "self_url": request.get_full_path(),
        "asset_base": _asset_base(),
    }
    template = "models_admin/model_list.html"
    if _is_htmx(request):
        template += "#table"
    return render(request, template, context)


@login_required
@require_safe  # a page: a POST to it is refused (405), not rendered
def model_detail(request: HttpRequest, asset_id: str) -> HttpResponse:
    require(request, "view")
    asset = get_object_or_404(catalog.annotated_assets(), asset_id=asset_id)
    if _is_htmx(request) and request.GET.get("part") == "status":
        runtime = asset_page.runtime_panel(asset)
        context = {
            "asset": asset,
            "runtime": runtime,
            "can_operate": can(request, "operate"),
            "asset_base": _asset_base(),
        }
        response = render(request, "models_admin/model_detail.html#status", context)
        if not runtime.transitional:
            # Nothing changes by itself any more: stop polling (an action or a refresh restarts it).
            return HttpResponseStopPolling(response.content)
        return response
    if _is_htmx(request) and request.GET.get("part") == "log":
        runtime = asset_page.runtime_panel(asset)
        context = {"asset": asset, "runtime": runtime, "log": lifecycle.runtime_log(asset)}
        response = render(request, "models_admin/model_detail.html#log", context)
        # Stop polling once nothing writes to the log any more (an action or a refresh restarts it).
        return response if runtime.live_log else HttpResponseStopPolling(response.content)
    context = asset_page.asset_page(asset)
    context.update(
        {
            "can_operate": can(request, "operate"),
            "can_edit": can(request, "edit"),
            "asset_base": _asset_base(),
        }
    )
    return render(request, "models_admin/model_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def model_action(request: HttpRequest, asset_id: str, action: str) -> HttpResponse:
    """Wake / sleep / restart. GET is the no-JavaScript confirmation page; POST acts."""
    label, service = chosen(request, ACTIONS, action, needs="operate")
    asset = get_object_or_404(Asset, asset_id=asset_id)
    back = _safe_next(request, reverse("models_admin:model-detail", args=[asset.asset_id]))
    if request.method == "GET":
        return render(
            request,
            "models_admin/action_confirm.html",
            {"asset": asset, "action": action, "label": label, "next": back},
        )
    try:
        service(asset, actor=ui_actor(request))
    except DOMAIN_ERRORS as exc:
        messages.error(request, f"{label} {asset.asset_id}: {exc}")
    else:
        messages.success(request, f"{label} requested for {asset.asset_id}.")
    if _is_htmx(request):
        # The messages go into #messages; the models table and status panel refresh themselves.
        response = render(request, "models_admin/_messages.html")
        return trigger_client_event(response, "hub:refresh")
    return HttpResponseRedirect(back)


@login_required
@require_http_methods(["GET", "POST"])
def model_edit(request: HttpRequest, asset_id: str | None = None) -> HttpResponse:
    """Create (no ``asset_id``) or edit an asset: saved as a revision and, if asked, submitted.

    A post with ``show`` (a tab button, or htmx after an interface / runtime kind change) only
    redraws the form from the document it makes, on that tab; nothing is saved.
    """
    require(request, "edit")
    asset = get_object_or_404(Asset, asset_id=asset_id) if asset_id else None
    editing, may_launch = asset is not None, governance.may_change_launch(ui_actor(request))
    start = canonical(asset.spec) if asset is not None else asset_page.NEW_ASSET_TEMPLATE
    if request.method == "GET":
        tab = request.GET.get("tab", "form")
        form = AssetForm(document=start, tab=tab, editing=editing, may_launch=may_launch)
        return _render_asset_form(request, form, asset)
    form = AssetForm(request.POST, document=start, editing=editing, may_launch=may_launch)
    if not form.is_valid():
        return _render_asset_form(request, form, asset)
    document = form.document_data()
    if "show" in request.POST:
        tab = request.POST["show"]
        redrawn = AssetForm(document=document, tab=tab, editing=editing, may_launch=may_launch)
        return _render_asset_form(request, redrawn, asset)
    try:
        actor = ui_actor(request)
        revision, changed = do_create_draft(document, actor=actor, asset=asset, new=asset is None)
        if "submit" in request.POST:
            do_submit_revision(revision, actor=actor)
    except AssetExists as exc:
        form.add_field_error(
            FieldError("asset_id", f"{exc.asset_id} already exists; edit it from its page instead")
        )
    except AssetValidationError as exc:
        form.add_validation_errors(exc)
    except DOMAIN_ERRORS as exc:
        form.add_error(None, str(exc))
    else:
        if "submit" in request.POST:
            message = f"Revision {revision.number} submitted for approval."
        else:
            message = f"Draft revision {revision.number} saved." if changed else "Nothing changed."
        messages.success(request, message)
        return redirect("models_admin:model-detail", revision.asset.asset_id)
    return _render_asset_form(request, form, asset)


def _render_asset_form(request: HttpRequest, form: AssetForm, asset: Asset | None) -> HttpResponse:
    """The page, or for htmx (a picker changed) just the form tab's fieldsets it swaps in."""
    partial = _is_htmx(request) and form.tab == "form"
    template = "models_admin/model_form.html" + ("#structured" if partial else "")
    return render(request, template, {"form": form, "asset": asset})


# ---- import ---------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def import_yaml(request: HttpRequest) -> HttpResponse:
    """Step 1: upload or paste YAML and see the dry-run plan. Step 2 (``confirm``): import it."""
    require(request, "edit")
    context: dict[str, Any] = {}
    if request.method == "POST" and "confirm" in request.POST:
        text = request.POST.get("yaml", "")
        try:
            plan = do_import_assets(parse_documents(text, "import"), actor=ui_actor(request))
        except (DocumentLoadError, AssetImportError, governance.GovernanceError) as exc:
            context["problems"] = _problems(exc)
            form = ImportForm(initial={"text": text})
        else:
            changed = sum(1 for item in plan if item.action != "unchanged")
            messages.success(
                request, f"Imported: {changed} asset(s) created or updated and submitted for approval."
            )
            return redirect("models_admin:model-list")
    elif request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            text = form.cleaned_data["yaml"]
            try:
                context["plan"] = plan_import(parse_documents(text, "import"))
                context["yaml"] = text
            except (DocumentLoadError, AssetImportError) as exc:
                context["problems"] = _problems(exc)
    else:
        form = ImportForm()
    context["form"] = form
    return render(request, "models_admin/import.html", context)


def _problems(exc: Exception) -> list[str]:
    if isinstance(exc, AssetImportError):
        return [f"{label}: {error}" for label, error in exc.problems]
    return [str(exc)]


# ---- approvals ------------------------------------------------------------------------


@login_required
@require_safe  # a page: a POST to it is refused (405), not rendered
def approvals(request: HttpRequest) -> HttpResponse:
    require(request, "view")
    items = asset_page.approval_items(request.user)
    return render(request, "models_admin/approvals.html", {"items": items, "reject_form": RejectForm()})


@login_required
@require_POST
def approval_decide(request: HttpRequest, revision_id: int, decision: str) -> HttpResponse:
    require(request, "approve")
    if decision not in ("approve", "reject"):
        raise Http404
    comment = ""
    if decision == "reject":
        form = RejectForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Rejecting needs a comment saying why.")
            return redirect("models_admin:approvals")
        comment = form.cleaned_data["comment"]
    revision = get_object_or_404(AssetRevision.objects.select_related("asset"), pk=revision_id)
    try:
        if decision == "approve":
            # The digest of the content the page showed: a changed revision is refused, not approved.
            digest = request.POST.get("digest", "")
            do_approve_revision(revision, actor=ui_actor(request), digest=digest)
            message = f"Approved revision {revision.number} of {revision.asset.asset_id}: it is live."
        else:
            do_reject_revision(revision, actor=ui_actor(request), comment=comment)
            message = f"Rejected revision {revision.number} of {revision.asset.asset_id}."
    except DOMAIN_ERRORS as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, message)
    return redirect(_safe_next(request, reverse("models_admin:approvals")))


# ---- activity, audit, tokens ----------------------------------------------------------


@login_required
@require_safe  # a page: a POST to it is refused (405), not rendered
def activity(request: HttpRequest) -> HttpResponse:
    require(request, "view")
    events = asset_page.lifecycle_events(asset=None)
    page = Paginator(events, 50).get_page(request.GET.get("page")) if events is not None else None
    return render(request, "models_admin/activity.html", {"page": page})


@login_required
@require_safe  # a page: a POST to it is refused (405), not rendered
def audit(request: HttpRequest) -> HttpResponse:
    require(request, "view")
    entries = AuditEntry.objects.all()
    q = request.GET.get("q", "").strip()
    if q:
        entries = entries.filter(object_id__icontains=q) | entries.filter(action__icontains=q)
    page = Paginator(entries.order_by("-at", "-id"), 50).get_page(request.GET.get("page"))
    return render(
        request, "models_admin/audit.html", {"page": page, "q": q, "qs": urlencode({"q": q}) if q else ""}
    )


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """Your API tokens: create (the secret is shown once, on the answer to the POST), list, revoke."""
    require(request, "view")
    secret = None
    # Only what the role may hold is offered; the service checks whatever is posted.
    offered = [s for s in TOKEN_SCOPES if s in scopes_allowed(request.user)]
    form = TokenForm(request.POST or None, offered=offered)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data.get("expires_in_days")
        try:
            _token, secret = do_create_token(
                signed_in_user(request),
                name=form.cleaned_data["label"],
                scopes=form.cleaned_data["scopes"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                actor=ui_actor(request),
            )
        except DOMAIN_ERRORS as exc:
            attach_errors(form, exc)
        else:
            form = TokenForm(offered=offered)
    listed = (
        ApiToken.objects.all()
        if can(request, "admin")
        else ApiToken.objects.filter(user=signed_in_user(request))
    )
    context = {
        "form": form,
        "secret": secret,
        "tokens": tokens_service.with_effective_scopes(
            listed.select_related("user").order_by("-created_at")[:200]
        ),
        "now": timezone.now(),
    }
    return render(request, "models_admin/tokens.html", context)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    listed = (
        ApiToken.objects.all()
        if can(request, "admin")
        else ApiToken.objects.filter(user=signed_in_user(request))
    )
    token = get_object_or_404(listed, pk=token_id)
    try:
        do_revoke_token(token, actor=ui_actor(request))
    except DOMAIN_ERRORS as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Revoked {token.label}.")
    return redirect("models_admin:tokens")
