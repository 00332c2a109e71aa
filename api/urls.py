from django.urls import path, re_path

from . import errors, views
from .v1 import api

app_name = "api"


def _v1_patterns():
    patterns, app, namespace = api.urls
    for pattern in patterns:
        if pattern.name == "api-root":
            # Django Ninja's root view only raises a 404 naming the docs: answer with the links.
            pattern.callback = views.api_index
        pattern.callback = errors.json_errors(pattern.callback)
    return patterns, app, namespace


urlpatterns = [
    path("api/v1/", _v1_patterns()),
    # Anything else under the API is a JSON 404 too, not the site's HTML page.
    re_path(r"^api/(?P<rest>.*)$", errors.unknown_route, name="unknown"),
    path("account/api-tokens/", views.token_list, name="tokens"),
    path("account/api-tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]
