"""Top-level routes: the analytics API, JWT tokens, API docs, health, admin."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_yasg import openapi
from drf_yasg.views import get_schema_view
from rest_framework.permissions import AllowAny

from analytics.api.health import HealthView
from ideeza.tokens import TokenObtainView, TokenRefreshAccessView

API_INFO = openapi.Info(
    title="Ideeza Analytics API",
    default_version="v1",
    description=(
        "Blog-view analytics: views grouped by country or author, top blogs/authors/countries, and performance "
        "over time. Every endpoint takes a JSON body (POST) and answers a list of {x, y, z}. "
        "Errors always have the shape {message, code, fields}."
    ),
)

schema_view = get_schema_view(API_INFO, public=True, permission_classes=[AllowAny])

urlpatterns = [
    path("", RedirectView.as_view(url="/swagger/", permanent=False)),
    path("api/analytics/", include("analytics.api.urls")),
    path("dashboard/", include("analytics.web.urls")),
    path("api/token/", TokenObtainView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefreshAccessView.as_view(), name="token_refresh"),
    path("healthz", HealthView.as_view(), name="healthz"),
    path("swagger.json", schema_view.without_ui(cache_timeout=0), {"format": "json"}, name="schema-json"),
    path("swagger.yaml", schema_view.without_ui(cache_timeout=0), {"format": "yaml"}, name="schema-yaml"),
    path("swagger/", schema_view.with_ui("swagger", cache_timeout=0), name="schema-swagger-ui"),
    path("redoc/", schema_view.with_ui("redoc", cache_timeout=0), name="schema-redoc"),
    path("admin/", admin.site.urls),
]

handler400 = "ideeza.exceptions.bad_request"
handler403 = "ideeza.exceptions.permission_denied"
handler404 = "ideeza.exceptions.page_not_found"
handler500 = "ideeza.exceptions.server_error"
