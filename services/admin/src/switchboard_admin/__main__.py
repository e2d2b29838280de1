import sys

from switchboard_admin.main import main

sys.exit(main())
