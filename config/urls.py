from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("prompts_app.api.urls")),
    path(
        "bench/", include("prompts_app.api.bench_views")
    ),  # empty unless settings.BENCHMARK_ENDPOINTS
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

# Under /api/ Django's own error pages answer in the API's JSON error shape.
handler400 = "prompts_app.api.errors.bad_request_view"
handler404 = "prompts_app.api.errors.not_found_view"
handler500 = "prompts_app.api.errors.server_error_view"
