"""``python -m tests.lifecycle.clock_worker <celery args>``: a Celery worker on the shared test clock."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    from celery.__main__ import main

    from tests.lifecycle import shared_clock

    shared_clock.install()
    sys.argv = ["celery", *sys.argv[1:]]
    sys.exit(main())
