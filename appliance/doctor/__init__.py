"""`appliance doctor`: is this host fit to run the appliance? (docs/doctor.md)

Each check looks at one part (configuration, permissions, storage, database, queue, models,
clock, hosts, plugins, and the checks plugins contribute) and says `ok`, `warn` or `fail` with one
line for the technician. `run_doctor` runs them all in order; `Report` renders the table or JSON.
The doctor only reads: it writes nothing but the temporary files that prove a directory writable.
"""

from appliance.doctor.report import Report
from appliance.doctor.runner import CHECKS, run_doctor

__all__ = ["CHECKS", "Report", "run_doctor"]
