"""The account page where a signed-in user issues and revokes their own API tokens."""

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from .models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'kiosk script'.")


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        # Rendered in this response only (not redirected through the session): the secret
        # must not be stored anywhere but in the user's hands.
        _, secret = ApiToken.issue(request.user, form.cleaned_data["name"])
        form = TokenForm()
    tokens = ApiToken.objects.owned_by(request.user)
    return render(
        request, "api/tokens.html", {"form": form, "tokens": tokens, "new_secret": secret},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.owned_by(request.user), pk=pk)
    if token.revoke():
        flash.success(request, f"Token {token} revoked.")
    return redirect("api:tokens")


def api_index(request: HttpRequest, **kwargs) -> JsonResponse:
    """GET /api/v1/: where the description of the API is."""
    return JsonResponse({
        "docs": request.build_absolute_uri(reverse("api:api-v1:openapi-view")),
        "schema": request.build_absolute_uri(reverse("api:api-v1:openapi-json")),
        "tokens": request.build_absolute_uri(reverse("api:tokens")),
    })
