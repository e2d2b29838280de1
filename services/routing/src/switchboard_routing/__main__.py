import sys

from switchboard_routing.main import main

sys.exit(main())
