"""``python -m tests.lifecycle.clock_worker <celery args>``: a Celery worker on the shared test clock."""

from __future__ import annotations

import sys

from tests.lifecycle import shared_clock

if __name__ == "__main__":
    shared_clock.install()
    from celery.__main__ import main

    sys.argv = ["celery", *sys.argv[1:]]
    sys.exit(main())
