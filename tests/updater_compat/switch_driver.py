"""Run one `appliance-update` install that stops at a named point of its transaction, so that
test_switch_killed.py kills it there: prints each point as it passes it, then sleeps at the one named.

    python switch_driver.py STATE_DIR MODELS_ROOT BUNDLE POINT
"""

import sys
import time
from pathlib import Path

from appliance_updater.install import Updater


def main() -> None:
    state_dir, models_root, bundle = (Path(a) for a in sys.argv[1:4])
    stop_at = sys.argv[4]

    def hook(point: str) -> None:
        print(point, flush=True)
        if point == stop_at:
            time.sleep(600)  # the test kills the installer here

    with Updater(state_dir, models_root, hook=hook) as updater:
        updater.install(bundle)
    print("done", flush=True)


main()
