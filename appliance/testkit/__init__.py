"""The host side of the plugin test kit: what runs a plugin through the appliance itself.

Plugins and their tests reach these through `appliance.sdk.testing` (the kit's public face),
which loads this package on first use; the rest of the kit (`run_analyzer`, `media_input`,
`default_models`, `ConsoleVisitor`, ...) needs nothing of the host and lives in the SDK.

- `spec_from_plugin`: a plugin's analysis type, registered by the appliance's plugin host;
- `PluginTestBed`: a plugin's services (tables, files, face models) on a database of its own;
- `ApplianceServer`: the API and console with the plugin loaded, over real HTTP.
"""

from appliance.testkit.plugins import PluginTestBed, spec_from_plugin
from appliance.testkit.server import ApplianceServer

__all__ = ["ApplianceServer", "PluginTestBed", "spec_from_plugin"]
