from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from analytics.models import (
    Blog,
    BlogView,
    Country,
    DailyAnalyticsSummary,
    FoldState,
    HourlyAnalyticsSummary,
    PeriodAnalyticsSummary,
    ScopedAPIKey,
)

# The library's own key model is unused (analytics.ScopedAPIKey carries the scope): keep it out of the admin.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(ScopedAPIKey)
class ScopedAPIKeyAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "author", "can_ingest", "last_used_at")  # type: ignore[assignment]
    list_select_related = ["author"]
    raw_id_fields = ["author"]


@admin.register(Country)
class CountryAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Blog)
class BlogAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "author", "created_at"]
    list_select_related = ["author"]
    search_fields = ["title", "author__username"]
    raw_id_fields = ["author"]


@admin.register(BlogView)
class BlogViewAdmin(admin.ModelAdmin):
    list_display = ["id", "blog", "country", "viewer", "timestamp"]
    list_select_related = ["blog", "country", "viewer"]
    list_filter = ["country"]
    date_hierarchy = "timestamp"
    raw_id_fields = ["blog", "viewer"]


@admin.register(DailyAnalyticsSummary)
class DailyAnalyticsSummaryAdmin(admin.ModelAdmin):
    list_display = ["date", "country_key", "total_views", "unique_blogs"]
    exclude = ["blog_ids", "view_counts"]
    date_hierarchy = "date"


@admin.register(PeriodAnalyticsSummary)
class PeriodAnalyticsSummaryAdmin(admin.ModelAdmin):
    list_display = ["granularity", "start", "country_key", "total_views", "unique_blogs"]
    exclude = ["blog_ids", "view_counts"]
    list_filter = ["granularity"]


@admin.register(HourlyAnalyticsSummary)
class HourlyAnalyticsSummaryAdmin(admin.ModelAdmin):
    list_display = ["start", "country_key", "total_views", "unique_blogs"]
    exclude = ["blog_ids", "view_counts"]
    date_hierarchy = "start"


@admin.register(FoldState)
class FoldStateAdmin(admin.ModelAdmin):
    list_display = ["folded_through", "timezone", "folded_at"]
