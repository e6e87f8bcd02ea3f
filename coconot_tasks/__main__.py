"""``python -m coconot_tasks``: the ``coconot`` command line."""

from coconot_tasks.cli import main

raise SystemExit(main())
