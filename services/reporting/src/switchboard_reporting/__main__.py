import sys

from switchboard_reporting.main import main

sys.exit(main())
