"""``python -m civis_jupyter.platform.civisml train|predict|register``."""

import sys

from .worker import main

sys.exit(main())
