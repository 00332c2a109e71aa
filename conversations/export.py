"""One conversation as JSON or Markdown, for the user who owns it."""

from __future__ import annotations

from .models import Conversation, Message


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def conversation_as_dict(conversation: Conversation) -> dict:
    messages = list(conversation.messages.select_related("reply_to"))
    return {
        "id": str(conversation.pk),
        "avatar": conversation.avatar.name,
        "status": conversation.status,
        "started_at": _iso(conversation.started_at),
        "ended_at": _iso(conversation.ended_at),
        "end_reason": conversation.end_reason,
        "messages": [
            {
                "role": m.role,
                "text": m.text,
                "source": m.source,
                "created_at": _iso(m.created_at),
                "interrupted": m.interrupted,
                **({"timings_ms": m.timings()} if m.role == Message.Role.ASSISTANT else {}),
            }
            for m in messages
        ],
    }


def conversation_as_markdown(conversation: Conversation) -> str:
    data = conversation_as_dict(conversation)
    lines = [
        f"# Conversation with {data['avatar']}",
        "",
        f"- Started: {data['started_at']}",
        f"- Ended: {data['ended_at'] or 'not yet'}"
        + (f" ({conversation.get_end_reason_display()})" if data["end_reason"] else ""),
        "",
    ]
    for message in data["messages"]:
        speaker = "You" if message["role"] == Message.Role.USER else data["avatar"]
        suffix = " *(interrupted)*" if message["interrupted"] else ""
        lines.append(f"**{speaker}** ({message['created_at']}): {message['text']}{suffix}")
        lines.append("")
    return "\n".join(lines)
