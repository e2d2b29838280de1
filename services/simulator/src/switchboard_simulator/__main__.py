"""`python -m switchboard_simulator`: see `cli.main`."""

import sys

from switchboard_simulator.cli import main

sys.exit(main())
