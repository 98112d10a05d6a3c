"""``python -m podium ...``: the same as the ``podium`` console script."""

import sys

from podium.cli import main

sys.exit(main())
