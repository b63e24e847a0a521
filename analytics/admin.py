from django.contrib import admin

from analytics.models import Blog, BlogView, Country, DailyAnalyticsSummary


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
    list_display = ["date", "country", "author", "total_views", "unique_blogs"]
    list_select_related = ["country", "author"]
    raw_id_fields = ["author"]
