import sys

from switchboard_switch.main import main

sys.exit(main())
