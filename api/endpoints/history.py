"""The caller's own conversations: list, search, read, export, delete."""

import json
from uuid import UUID

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from pydantic import Field

from conversations.export import conversation_as_dict, conversation_as_markdown
from conversations.models import Conversation

from ..errors import ApiError
from ..schemas import ConversationOut, ConversationPage

router = Router(tags=["conversations"])


class ListQuery(Schema):
    q: str = Field("", max_length=200, description="Words to find in the messages")
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(20, ge=1, le=100)


class ExportQuery(Schema):
    format: str = Field("json", pattern="^(json|markdown)$")


def _own(request: HttpRequest, conversation_id: UUID) -> Conversation:
    return get_object_or_404(
        Conversation.objects.owned_by(request.user).select_related("avatar"), pk=conversation_id
    )


@router.get("", response=ConversationPage, summary="List or search your conversations")
def list_conversations(request: HttpRequest, filters: Query[ListQuery]):
    conversations = (
        Conversation.objects.owned_by(request.user).select_related("avatar").with_first_words()
    )
    if filters.q.strip():
        conversations = conversations.matching(filters.q.strip())
    paginator = Paginator(conversations, filters.page_size)
    if filters.page > max(paginator.num_pages, 1):
        raise ApiError(404, "no_such_page", f"There are {paginator.num_pages} page(s).")
    page = paginator.page(filters.page) if paginator.count else []
    return {
        "count": paginator.count,
        "page": filters.page,
        "pages": paginator.num_pages if paginator.count else 0,
        "results": [
            {
                "id": c.pk, "avatar": c.avatar.name, "status": c.status,
                "started_at": c.started_at, "ended_at": c.ended_at, "end_reason": c.end_reason,
                "first_words": c.first_words,
            }
            for c in page
        ],
    }


@router.get("/{uuid:conversation_id}", response=ConversationOut, summary="Read a conversation")
def read_conversation(request: HttpRequest, conversation_id: UUID):
    return conversation_as_dict(_own(request, conversation_id))


@router.get("/{uuid:conversation_id}/export", summary="Download a conversation (JSON or Markdown)")
def export_conversation(request: HttpRequest, conversation_id: UUID, query: Query[ExportQuery]):
    conversation = _own(request, conversation_id)
    if query.format == "markdown":
        response = HttpResponse(
            conversation_as_markdown(conversation), content_type="text/markdown; charset=utf-8"
        )
        extension = "md"
    else:
        response = HttpResponse(
            json.dumps(conversation_as_dict(conversation), indent=2),
            content_type="application/json",
        )
        extension = "json"
    response["Content-Disposition"] = (
        f'attachment; filename="conversation-{conversation.pk}.{extension}"'
    )
    return response


@router.delete("/{uuid:conversation_id}", response={204: None}, summary="Delete a conversation")
def delete_conversation(request: HttpRequest, conversation_id: UUID):
    conversation = _own(request, conversation_id)
    if conversation.is_open:
        raise ApiError(409, "session_live", "Stop the live session before deleting it.")
    conversation.delete()
    return Status(204, None)
