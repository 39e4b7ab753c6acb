"""``python -m bot`` is the same as ``muse``."""

import sys

from bot.cli import main

sys.exit(main())
