"""A user's own history. Every lookup is scoped to request.user, so another user's id is a 404."""

import json

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from .export import conversation_as_dict, conversation_as_markdown
from .models import Conversation

PAGE_SIZE = 20


def _own(request: HttpRequest, pk) -> Conversation:
    return get_object_or_404(
        Conversation.objects.owned_by(request.user).select_related("avatar"), pk=pk
    )


@login_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    conversations = (
        Conversation.objects.owned_by(request.user).select_related("avatar").with_first_words()
    )
    query = request.GET.get("q", "").strip()[:200]
    if query:
        conversations = conversations.matching(query)
    page = Paginator(conversations, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "conversations/list.html", {"page": page, "query": query}
    )


@login_required
def conversation_detail(request: HttpRequest, pk) -> HttpResponse:
    conversation = _own(request, pk)
    turns = conversation.messages.select_related("reply_to")
    return render(
        request, "conversations/detail.html", {"conversation": conversation, "turns": turns}
    )


@login_required
def export_json(request: HttpRequest, pk) -> HttpResponse:
    conversation = _own(request, pk)
    response = HttpResponse(
        json.dumps(conversation_as_dict(conversation), indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="conversation-{conversation.pk}.json"'
    return response


@login_required
def export_markdown(request: HttpRequest, pk) -> HttpResponse:
    conversation = _own(request, pk)
    response = HttpResponse(
        conversation_as_markdown(conversation), content_type="text/markdown; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="conversation-{conversation.pk}.md"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def conversation_delete(request: HttpRequest, pk) -> HttpResponse:
    conversation = _own(request, pk)
    if request.method == "POST":
        if conversation.is_open:
            flash.error(request, "End the live conversation before deleting it.")
            return redirect(conversation)
        conversation.delete()
        flash.success(request, "Conversation deleted.")
        return redirect("conversations:list")
    return render(request, "conversations/confirm_delete.html", {"conversation": conversation})
