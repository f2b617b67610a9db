"""No process serves a model set a crash left half switched: what `serve`, `worker`, `scheduler`
and `run` do before they start (docs/updater.md, "Crashes and power loss").

A model switch (an install, a rollback, an activation) is one transaction of the updater, with
its journal `<updater_state_dir>/install.json` present from before the first `active` link
changes until after the commit. A journal found when a process starts means a switch was cut
(or runs right now): some models may be at their new version and others at their old one. The
process then runs `appliance-update recover`, which rolls the switch forward or back to one whole
set, waiting a little while another `appliance-update` holds the lock (a switch takes
milliseconds); when recovery cannot be done, the process refuses to start with one line naming
the command to run.
"""

from __future__ import annotations

import logging
import shlex
import time

from appliance.ops.settings import Settings
from appliance.ops.updater import BUSY_EXIT_CODE, UpdaterCommand, UpdaterFailed, journal_path

__all__ = ["BUSY_WAIT_SECONDS", "recover_interrupted_switch"]

log = logging.getLogger(__name__)

#: How long a starting process waits for another `appliance-update` to finish its switch.
BUSY_WAIT_SECONDS = 30.0
_BUSY_POLL_SECONDS = 0.2


def recover_interrupted_switch(settings: Settings, *, busy_wait: float = BUSY_WAIT_SECONDS) -> str | None:
    """Finish a model switch a crash interrupted, before this process uses the model store; what the
    updater said it did, or None when no switch was pending. Raises ValueError (one line for the
    CLI) when the switch stays pending."""
    journal = journal_path(settings.updater_state_path)
    command = shlex.join(
        [
            "appliance-update",
            "recover",
            "--state-dir",
            str(settings.updater_state_path),
            "--models-root",
            str(settings.models_path),
        ]
    )
    deadline = time.monotonic() + busy_wait
    while journal.exists():
        try:
            updater = UpdaterCommand.locate(settings.updater_state_path, settings.models_path)
            said = " ".join(updater.appliance("recover"))
        except UpdaterFailed as exc:
            if exc.exit_code == BUSY_EXIT_CODE and time.monotonic() < deadline:
                time.sleep(_BUSY_POLL_SECONDS)  # another appliance-update is switching; its journal goes with it
                continue
            raise ValueError(
                f"a model switch was interrupted and is still pending ({journal}), so the model store may hold "
                f"a mix of two model sets; recovering it failed ({exc.reason}): run `{command}` as the user "
                "that owns the model store, then start again"
            ) from None
        log.warning("an interrupted model switch was found at start: %s", said)
        return said
    return None
