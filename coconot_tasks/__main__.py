"""``python -m coconot_tasks``: the ``coconot`` command line."""

from coconot_tasks.tools.cli import main

raise SystemExit(main())
