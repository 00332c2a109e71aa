from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("conversations/", include("conversations.urls")),
    path("", include("api.urls")),
    path("", include("frontend.urls")),
    # Avatar photos are served by the app itself so that `make run` needs no web server and the
    # (local or cloud) avatar service can fetch source_url; behind nginx, serve MEDIA_ROOT there.
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
