"""``manage.py import_assets PATH…``: import asset documents, all or nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from models_admin.audit import Actor
from models_admin.services import AssetImportError, PlanItem, do_import_assets, plan_import
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

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            documents = load_documents(options["paths"])
            plan = (
                plan_import(documents)
                if options["dry_run"]
                else do_import_assets(documents, actor=Actor.cli())
            )
        except DocumentLoadError as exc:
            raise CommandError(str(exc)) from None
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
