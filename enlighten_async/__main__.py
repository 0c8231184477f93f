"""``python -m enlighten_async`` runs the ``enlighten-async`` command."""

from enlighten_async.cli import main

raise SystemExit(main())
