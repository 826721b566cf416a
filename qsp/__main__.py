"""``python -m qsp``: the command-line interface."""

import sys

from qsp.cli import main

sys.exit(main())
