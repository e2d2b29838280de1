import sys

from switchboard_tickets.main import main

sys.exit(main())
