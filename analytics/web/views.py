"""The dashboard page of SPEC §11: one template; the page's script asks the query API for every number."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

# Strict on the dashboard only: Swagger UI and ReDoc need inline script. The page passes its config through
# data- attributes, so it needs no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


# Placeholder rows before the first answer: top/* answer at most `limit` rows, 10 by default (the page sends no
# limit), so a table of ten rows keeps its height when its numbers arrive.
SKELETON_ROWS = 10


@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    """GET /dashboard/: the page; with IDEEZA_API_OPEN=false its script asks the user to sign in first."""
    response = render(
        request,
        "analytics/dashboard.html",
        {"api_open": settings.IDEEZA_API_OPEN, "skeleton_rows": range(SKELETON_ROWS)},
    )
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
