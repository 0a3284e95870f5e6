#!/usr/bin/env python3
"""``make bench``: crash, drgn ``%crash`` and crashcompat side by side on the crash lab's dumps.

See ``benchmarks/run.py --help`` and docs/performance.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from crashbench.main import main

if __name__ == "__main__":
    sys.exit(main())
