"""Run one install, pausing briefly at every point of the transaction, so that a SIGKILL sent by
test_updater_crash.py lands anywhere in it. Prints "go" once imported."""

import sys
import time
from pathlib import Path

from appliance_updater.install import Updater


def pause(point: str) -> None:
    time.sleep(0.004)


def main() -> None:
    state_dir, models_root, bundle = (Path(a) for a in sys.argv[1:4])
    print("go", flush=True)
    with Updater(state_dir, models_root, hook=pause) as up:
        up.install(bundle)
    print("done", flush=True)


main()
