"""``manage.py export_assets [-o FILE]``: every asset as multi-document YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from actions.assets import export_documents
from models_admin.yaml_io import dump_documents


class Command(BaseCommand):
    help = "Export the catalog as multi-document YAML that import_assets reads back unchanged."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-o", "--output", help="write to this file instead of standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        text = dump_documents(export_documents())
        if options["output"]:
            try:
                Path(options["output"]).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"--output: cannot write {options['output']}: {exc}") from None
        else:
            self.stdout.write(text, ending="")
