import sys

from appliance_updater.cli import main

sys.exit(main())
