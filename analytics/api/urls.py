from django.urls import path

from analytics.api.views import BlogViewsView, PerformanceView, TopView

app_name = "analytics"

urlpatterns = [
    path("blog-views/<str:object_type>/", BlogViewsView.as_view(), name="blog-views"),
    path("top/<str:top_type>/", TopView.as_view(), name="top"),
    path("performance/", PerformanceView.as_view(), name="performance"),
]
