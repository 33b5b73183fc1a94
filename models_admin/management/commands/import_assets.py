"""``manage.py import_assets PATH…``: import asset documents, all or nothing.

Each created or changed asset gets a draft revision, submitted into the approvals queue.
``--approved --as-user ADMIN`` approves them at once (bootstrapping; audited as such).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from actions.assets import AssetImportError, PlanItem, do_import_assets, plan_import
from models_admin.governance import InvalidTransition, PermissionRefused
from models_admin.management.commands._actor import add_as_user, cli_actor
from models_admin.yaml_io import DocumentLoadError, load_documents


def _show(value: Any) -> str:
    return "—" if value is None else repr(value)


def format_plan(plan: list[PlanItem]) -> list[str]:
    lines = []
    for item in plan:
        lines.append(f"{item.action:<9} {item.asset_id}  ({item.source})")
        for path, old, new in item.changes:
            if item.action == "create":
                lines.append(f"    {path}: {_show(new)}")
            else:
                lines.append(f"    {path}: {_show(old)} → {_show(new)}")
    counts = {a: sum(1 for i in plan if i.action == a) for a in ("create", "update", "unchanged")}
    lines.append(", ".join(f"{n} {a}" for a, n in counts.items()))
    return lines


class Command(BaseCommand):
    help = (
        "Import asset documents from YAML files or folders (multi-document YAML). "
        "All or nothing: one bad document aborts the whole import."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", help="YAML files or folders of *.yaml / *.yml")
        parser.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
        parser.add_argument(
            "--approved",
            action="store_true",
            help="approve the imported revisions at once, without review (bootstrapping; needs --as-user ADMIN)",
        )
        add_as_user(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["approved"] and not options["as_user"]:
            raise CommandError(
                "--approved: needs --as-user ADMIN (an admin's name, recorded in the audit log)"
            )
        try:
            documents = load_documents(options["paths"])
            actor = cli_actor(options["as_user"])
            plan = (
                plan_import(documents)
                if options["dry_run"]
                else do_import_assets(documents, actor=actor, approved=options["approved"])
            )
        except DocumentLoadError as exc:
            raise CommandError(str(exc)) from None
        except PermissionRefused as exc:
            raise CommandError(f"refused: {exc.reason}") from None
        except InvalidTransition as exc:
            raise CommandError(f"import aborted: {exc}; nothing was written") from None
        except AssetImportError as exc:
            for label, error in exc.problems:
                self.stderr.write(f"{label}: {error}")
            raise CommandError(
                f"import aborted: {len(exc.problems)} problem(s); nothing was written"
            ) from None
        for line in format_plan(plan):
            self.stdout.write(line)
        if options["dry_run"]:
            self.stdout.write("dry run: nothing was written")
        elif any(item.action != "unchanged" for item in plan):
            self.stdout.write("approved: live now" if options["approved"] else "submitted for approval")
