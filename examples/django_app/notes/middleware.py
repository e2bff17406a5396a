"""Serve the health endpoints before host validation and session handling.

Load balancers and container platforms probe with whatever Host header they
like (often the instance IP), which ALLOWED_HOSTS would reject with a 400.
This middleware sits after SecurityMiddleware (so responses still get the
security headers, and SECURE_REDIRECT_EXEMPT keeps plain-HTTP probes working)
but before CommonMiddleware, the first place that validates the Host header.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import health

HEALTH_VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": health.healthz,
    "/readyz": health.readyz,
}


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = HEALTH_VIEWS.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)
