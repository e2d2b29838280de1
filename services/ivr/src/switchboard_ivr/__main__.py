import sys

from switchboard_ivr.main import main

sys.exit(main())
