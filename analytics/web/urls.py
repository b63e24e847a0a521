from django.urls import path

from analytics.web.views import dashboard

app_name = "web"

urlpatterns = [path("", dashboard, name="dashboard")]
