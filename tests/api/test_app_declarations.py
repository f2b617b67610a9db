"""Every handler declares its parameters the way Litestar 3 will require.

Litestar 2.x still accepts inferred path/query parameters, `Parameter(query=...)`, an untyped
`data` and unmarked dependencies, but warns (LitestarDeprecationWarning) while it builds the
route kwargs models when the app registers its routes. A handler written in that style fails here.
"""

from __future__ import annotations

import warnings

from litestar.exceptions import LitestarDeprecationWarning
from litestar.routes import HTTPRoute

from appliance.api.app import create_app
from appliance.ops.settings import Settings


def _deprecations(caught: list[warnings.WarningMessage]) -> list[str]:
    # `Parameter(query=...)` and the like raise a plain DeprecationWarning from litestar.params.
    return sorted(
        {
            str(w.message)
            for w in caught
            if issubclass(w.category, LitestarDeprecationWarning)
            or (issubclass(w.category, DeprecationWarning) and "litestar" in w.filename)
        }
    )


def test_handlers_use_no_deprecated_declarations() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = create_app(Settings())  # registering the routes builds each handler's kwargs model
        # Build them again explicitly, as the router does at startup, in case registration ever stops doing it.
        handlers = 0
        for route in app.routes:
            if isinstance(route, HTTPRoute):
                for handler in route.route_handlers:
                    handler.create_kwargs_model(path_parameters=route.path_parameters)
                    handlers += 1
    assert handlers > 0
    deprecations = _deprecations(caught)
    assert not deprecations, "\n".join(deprecations)
