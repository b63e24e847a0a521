from django.urls import path

from analytics.api.ingest import IngestView
from analytics.api.views import BlogViewsView, PerformanceView, TopView, TotalsView

app_name = "analytics"

urlpatterns = [
    path("blog-views/<str:object_type>/", BlogViewsView.as_view(), name="blog-views"),
    path("top/<str:top_type>/", TopView.as_view(), name="top"),
    path("performance/", PerformanceView.as_view(), name="performance"),
    path("totals/", TotalsView.as_view(), name="totals"),
    path("views/", IngestView.as_view(), name="views"),
]
