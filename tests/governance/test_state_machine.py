"""Random users doing random governance steps never make an unapproved revision live, never
approve their own work, never change a submitted revision's content, and an approval naming
other content than the revision holds never succeeds."""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
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

from actions.assets import do_retire_asset
from actions.revisions import (
    do_approve_revision,
    do_create_draft,
    do_reject_revision,
    do_submit_revision,
    do_withdraw_revision,
)
from models_admin.governance import (
    ContentChanged,
    FourEyesViolation,
    InvalidInput,
    InvalidTransition,
    PermissionRefused,
    open_revision,
)
from models_admin.models import OPEN_STATUSES, Asset, AssetRevision, RevisionStatus, document_digest
from tests.governance.factories import actor, asset_document, user_with_role

_machines = itertools.count(1)
REFUSED = (PermissionRefused, InvalidTransition, InvalidInput)
POOL_ROLES = ("viewer", "operator", "editor", "editor", "approver", "approver", "admin")


class GovernanceMachine(RuleBasedStateMachine):
    users: ClassVar[list[Any]] = []
    # What the rules did over the whole hypothesis run: a machine whose steps were all refused
    # would keep every invariant while testing nothing, so the test checks these counts.
    outcomes: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.asset_id = f"sm-asset-{next(_machines)}"
        self.final: dict[int, tuple[str, Any]] = {}  # revision pk -> (status, document) once final
        self.submitted: dict[int, Any] = {}  # revision pk -> its document when submitted

    def saw(self, outcome: str) -> None:
        self.outcomes[outcome] += 1

    def asset(self) -> Asset | None:
        return Asset.objects.filter(asset_id=self.asset_id).first()

    def open_rev(self) -> AssetRevision | None:
        asset = self.asset()
        return open_revision(asset) if asset is not None else None

    def has_open(self, status: str) -> bool:
        revision = self.open_rev()
        return revision is not None and revision.status == status

    who = st.integers(min_value=0, max_value=len(POOL_ROLES) - 1)
    # Half the decisions by a user who may decide: with deciders drawn from the whole pool, a run
    # of 40 examples sometimes approved only 2 or 3 times.
    decider = st.one_of(
        st.sampled_from([i for i, role in enumerate(POOL_ROLES) if role in ("approver", "admin")]), who
    )
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
                self.saw("submitted")
                self.submitted[submitted.pk] = submitted.document

    @precondition(lambda self: self.has_open(RevisionStatus.SUBMITTED))
    @rule(who=decider, source=source, stale=st.booleans())
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
            self.saw("own approval refused")
            return
        except ContentChanged:
            assert stale
            self.saw("stale approval refused")
            return
        except REFUSED:
            return
        assert not own, "a submitter or author approved their own revision"
        assert not stale, "an approval naming other content succeeded"
        self.saw("approved")
        self.final[approved.pk] = (approved.status, approved.document)

    @precondition(lambda self: self.has_open(RevisionStatus.SUBMITTED))
    @rule(who=decider, source=source, comment=st.sampled_from(["", "not like this"]))
    def reject(self, who: int, source: str, comment: str) -> None:
        revision = self.open_rev()
        if revision is None:
            return
        try:
            rejected = do_reject_revision(revision, actor=actor(self.users[who], source), comment=comment)
        except REFUSED:
            return
        assert comment
        self.saw("rejected")
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
def test_random_governance_steps_keep_the_rules_and_do_approve_and_reject() -> None:
    GovernanceMachine.users = [user_with_role(role) for role in POOL_ROLES]
    GovernanceMachine.outcomes = Counter()
    run_state_machine_as_test(
        GovernanceMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

    outcomes = GovernanceMachine.outcomes
    # Steps drawn at random: how often each outcome comes varies a lot from run to run, but a run
    # in which no revision was ever submitted, approved or rejected tested nothing.
    assert outcomes["submitted"] > 0, dict(outcomes)
    assert outcomes["approved"] + outcomes["rejected"] > 0, dict(outcomes)


INVARIANTS = (
    "only_the_newest_approved_revision_is_live",
    "no_one_approved_their_own",
    "final_revisions_never_change_and_one_at_most_is_open",
    "submitted_content_never_changes",
)


@pytest.mark.django_db
def test_the_machine_s_rules_approve_and_reject_and_refuse_on_a_fixed_walk() -> None:
    """The same rules and invariants on fixed steps, so that each outcome the random run relies on
    surely happens: a rule that could never approve or reject fails here, whatever hypothesis drew."""
    GovernanceMachine.users = [user_with_role(role) for role in POOL_ROLES]
    GovernanceMachine.outcomes = Counter()
    editor, approver, admin = (
        POOL_ROLES.index("editor"),
        POOL_ROLES.index("approver"),
        POOL_ROLES.index("admin"),
    )
    machine = GovernanceMachine()
    steps: list[tuple[str, dict[str, Any]]] = [
        ("edit", {"who": admin, "version": "1.0"}),
        ("submit", {"who": admin}),
        ("approve", {"who": admin, "stale": False}),  # their own: refused
        ("approve", {"who": approver, "stale": True}),  # other content than submitted: refused
        ("approve", {"who": approver, "stale": False}),
        ("edit", {"who": editor, "version": "1.1"}),
        ("submit", {"who": editor}),
        ("reject", {"who": approver, "comment": "not like this"}),
    ]
    for name, arguments in steps:
        rule = getattr(machine, name)
        # As hypothesis does: a step runs only where the rule's preconditions allow it (the
        # attribute is where @rule keeps them; renamed by hypothesis, this fails loudly).
        preconditions = rule.hypothesis_stateful_rule.preconditions
        assert all(precondition(machine) for precondition in preconditions), f"{name} is not enabled here"
        rule(source="ui", **arguments)
        for invariant_name in INVARIANTS:
            getattr(machine, invariant_name)()

    assert GovernanceMachine.outcomes == Counter(
        {"submitted": 2, "own approval refused": 1, "stale approval refused": 1, "approved": 1, "rejected": 1}
    )
    asset = machine.asset()
    assert asset is not None
    assert asset.live_spec is not None
    assert asset.live_spec["version"] == "1.0"
