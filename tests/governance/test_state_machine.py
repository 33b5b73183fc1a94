"""Random users doing random governance steps never make an unapproved revision live, never
approve their own work, never change a submitted revision's content, and an approval naming
other content than the revision holds never succeeds."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from models_admin.governance import (
    ContentChanged,
    FourEyesViolation,
    InvalidInput,
    InvalidTransition,
    PermissionRefused,
    do_approve_revision,
    do_create_draft,
    do_reject_revision,
    do_retire_asset,
    do_submit_revision,
    do_withdraw_revision,
    open_revision,
)
from models_admin.models import OPEN_STATUSES, Asset, AssetRevision, RevisionStatus, document_digest
from tests.governance.factories import actor, asset_document, user_with_role

_machines = itertools.count(1)
REFUSED = (PermissionRefused, InvalidTransition, InvalidInput)
POOL_ROLES = ("viewer", "operator", "editor", "editor", "approver", "approver", "admin")


class GovernanceMachine(RuleBasedStateMachine):
    users: ClassVar[list[Any]] = []

    def __init__(self) -> None:
        super().__init__()
        self.asset_id = f"sm-asset-{next(_machines)}"
        self.final: dict[int, tuple[str, Any]] = {}  # revision pk -> (status, document) once final
        self.submitted: dict[int, Any] = {}  # revision pk -> its document when submitted

    def asset(self) -> Asset | None:
        return Asset.objects.filter(asset_id=self.asset_id).first()

    def open_rev(self) -> AssetRevision | None:
        asset = self.asset()
        return open_revision(asset) if asset is not None else None

    def has_open(self, status: str) -> bool:
        revision = self.open_rev()
        return revision is not None and revision.status == status

    who = st.integers(min_value=0, max_value=len(POOL_ROLES) - 1)
    source = st.sampled_from(["ui", "api"])

    @rule(who=who, source=source, version=st.sampled_from(["1.0", "1.1", "2.0"]))
    def edit(self, who: int, source: str, version: str) -> None:
        with contextlib.suppress(*REFUSED):
            do_create_draft(
                asset_document(self.asset_id, version=version), actor=actor(self.users[who], source)
            )

    @precondition(lambda self: self.has_open(RevisionStatus.DRAFT))
    @rule(who=who, source=source)
    def submit(self, who: int, source: str) -> None:
        revision = self.open_rev()
        if revision is not None:
            with contextlib.suppress(*REFUSED):
                submitted = do_submit_revision(revision, actor=actor(self.users[who], source))
                self.submitted[submitted.pk] = submitted.document

    @precondition(lambda self: self.has_open(RevisionStatus.SUBMITTED))
    @rule(who=who, source=source, stale=st.booleans())
    def approve(self, who: int, source: str, stale: bool) -> None:
        revision = self.open_rev()
        if revision is None:
            return
        user = self.users[who]
        own = user.pk in {revision.submitted_by_id, revision.author_id, *revision.contributors}
        # The approver reviewed this revision, or (stale) another content: the asset's current spec
        # with another version, as a page read before an edit would have shown.
        reviewed = {**revision.document, "version": revision.document["version"] + "-old"}
        digest = document_digest(reviewed) if stale else revision.digest
        try:
            approved = do_approve_revision(revision, actor=actor(user, source), digest=digest)
        except FourEyesViolation:
            assert own
            return
        except ContentChanged:
            assert stale
            return
        except REFUSED:
            return
        assert not own, "a submitter or author approved their own revision"
        assert not stale, "an approval naming other content succeeded"
        self.final[approved.pk] = (approved.status, approved.document)

    @precondition(lambda self: self.has_open(RevisionStatus.SUBMITTED))
    @rule(who=who, source=source, comment=st.sampled_from(["", "not like this"]))
    def reject(self, who: int, source: str, comment: str) -> None:
        revision = self.open_rev()
        if revision is None:
            return
        try:
            rejected = do_reject_revision(revision, actor=actor(self.users[who], source), comment=comment)
        except REFUSED:
            return
        assert comment
        self.final[rejected.pk] = (rejected.status, rejected.document)

    @precondition(lambda self: self.has_open(RevisionStatus.SUBMITTED))
    @rule(who=who, source=source)
    def withdraw(self, who: int, source: str) -> None:
        revision = self.open_rev()
        if revision is not None:
            with contextlib.suppress(*REFUSED):
                withdrawn = do_withdraw_revision(revision, actor=actor(self.users[who], source))
                self.final[withdrawn.pk] = (withdrawn.status, withdrawn.document)

    # Only once live, so that most runs get far enough to exercise edits of a live asset first.
    @precondition(lambda self: getattr(self.asset(), "live_spec", None) is not None)
    @rule(who=who, source=source)
    def retire(self, who: int, source: str) -> None:
        asset = self.asset()
        if asset is not None:
            with contextlib.suppress(*REFUSED):
                do_retire_asset(asset, actor=actor(self.users[who], source))

    @invariant()
    def only_the_newest_approved_revision_is_live(self) -> None:
        asset = self.asset()
        if asset is None:
            return
        newest_approved = asset.revisions.filter(status=RevisionStatus.APPROVED).order_by("-number").first()
        if asset.retired_at is not None or newest_approved is None:
            assert asset.live_spec is None
        else:
            assert asset.live_spec == newest_approved.document

    @invariant()
    def no_one_approved_their_own(self) -> None:
        for revision in AssetRevision.objects.filter(
            asset__asset_id=self.asset_id, status=RevisionStatus.APPROVED
        ):
            writers = {revision.submitted_by_id, revision.author_id, *revision.contributors} - {None}
            assert revision.decided_by_id not in writers

    @invariant()
    def final_revisions_never_change_and_one_at_most_is_open(self) -> None:
        revisions = AssetRevision.objects.filter(asset__asset_id=self.asset_id)
        for pk, (status, document) in self.final.items():
            now = revisions.get(pk=pk)
            assert (now.status, now.document) == (status, document)
        assert revisions.filter(status__in=OPEN_STATUSES).count() <= 1

    @invariant()
    def submitted_content_never_changes(self) -> None:
        for revision in AssetRevision.objects.filter(pk__in=list(self.submitted)):
            assert revision.status != RevisionStatus.DRAFT
            assert revision.document == self.submitted[revision.pk]


@pytest.mark.django_db
def test_random_governance_steps_keep_the_rules() -> None:
    GovernanceMachine.users = [user_with_role(role) for role in POOL_ROLES]
    run_state_machine_as_test(
        GovernanceMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
