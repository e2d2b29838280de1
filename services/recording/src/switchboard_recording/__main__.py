import sys

from switchboard_recording.main import main

sys.exit(main())
