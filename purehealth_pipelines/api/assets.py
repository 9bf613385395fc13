"""The dashboard's static files, with cache headers that suit each kind.

`vendor/` (district outlines, uPlot, Swagger UI) is written by `make dashboard-assets` from pinned package
versions and changes only when those pins do: browsers may keep it a day without asking (the district outlines
are then not fetched at all on a repeat visit, which is most of the map's first-paint bytes). The page's own
files (app.js, app.css) change with every deploy: browsers revalidate them on each load (`no-cache` + the
ETag StaticFiles already sends, so an unchanged file costs a 304, not its bytes).
"""

from __future__ import annotations

import os

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

VENDOR_MAX_AGE_S = 24 * 3600


class CachingStaticFiles(StaticFiles):
    """StaticFiles plus `Cache-Control`: a day for vendor/, revalidate-every-time for the rest."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        path = scope.get("path", "")
        if "/vendor/" in path:
            response.headers["Cache-Control"] = f"public, max-age={VENDOR_MAX_AGE_S}"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response
