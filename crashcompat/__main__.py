"""``python -m crashcompat``: the ``crashcompat`` program (:mod:`crashcompat.cli`)."""

from __future__ import annotations

from crashcompat.cli import main

raise SystemExit(main())
