"""``python -m civis_jupyter.cli``."""

import sys

from . import main

sys.exit(main())
