"""``python -m qsp``: the command-line interface."""

import sys

from qsp.cli.main import main

sys.exit(main())
