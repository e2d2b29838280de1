import sys

from switchboard_cti.main import main

sys.exit(main())
