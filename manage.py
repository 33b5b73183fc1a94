#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    if sys.argv[1:2] == ["up"]:
        # `up` is the development runner: plain HTTP on loopback, a dev secret if none is set.
        os.environ.setdefault("HUB_DEV", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
