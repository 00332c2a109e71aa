"""Preemptive replies through the whole server side: the recogniser's speculative final starts the
LLM before the turn ends; the real end of the turn adopts the held answer (same words) or cancels
it and asks again (different words). Real Channels, Redis and Celery worker; the vendors faked at
the wire (Deepgram's is_final / speech_final as documented at
https://developers.deepgram.com/docs/understand-endpointing-interim-results)."""

from __future__ import annotations

import uuid

import pytest

from conversations.models import Conversation, Message
from streaming import preemptive, quotas
from streaming.redis_client import client
from streaming.sentences import split_sentences

from .conftest import wait_for
from .fakes import FakeDeepgram, results

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

AUDIO = b"\x00\x01" * 1600  # 100 ms of 16 kHz PCM16: the fake recogniser answers each one


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


async def fates(conversation) -> list[str]:
    """What became of each preemptive reply of the conversation (streaming/preemptive.py)."""
    redis = client()
    keys = [key async for key in redis.scan_iter(f"livepersona:preempt:{conversation.pk}:*")]
    return [(await redis.get(key)).decode() for key in keys]


async def speculate_then_end(settings, open_session, conversation, alice, fake_groq, ending,
                             before_end=lambda: None):
    """The user says "What is the moon?" (a speculative final), and only once the LLM has been
    asked (and `before_end` has run) does the recogniser send `ending`. The session, the
    transcript.final and the reply.done that follow."""
    script = [results("What is the moon?", is_final=True, speech_final=False, duration=1.2),
              ending]
    async with FakeDeepgram(script, every=len(AUDIO)) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        settings.DEEPGRAM_API_KEY = "dg-test-key"
        session = await open_session(conversation, alice)
        await session.ws.send_to(bytes_data=AUDIO)
        await wait_for(lambda: len(fake_groq.requests) == 1, within=20)
        # The turn has not ended: nothing is saved, shown or spoken yet.
        assert not await Message.objects.filter(conversation=conversation).aexists()
        before_end()
        await session.ws.send_to(bytes_data=AUDIO)
        final = await session.expect("transcript.final")
        done = await session.expect("reply.done")
        await session.close()
    return session, final, done


async def test_the_same_words_at_the_end_of_the_turn_are_answered_by_the_held_reply(
    settings, vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    ending = results("", is_final=True, speech_final=True)  # speech_final, no new words
    session, final, done = await speculate_then_end(settings, open_session, conversation, alice,
                                                    fake_groq, ending)
    assert final["text"] == "What is the moon?" and final["source"] == "voice"
    full = "".join(fake_groq.deltas)
    [request] = fake_groq.requests  # one LLM call, made before the turn ended
    assert request["messages"][-1] == {"role": "user", "content": "What is the moon?"}
    assert not done["interrupted"] and done["text"] == full.strip()
    assert "".join(m["text"] for m in session.seen if m["type"] == "reply.delta") == full
    assert fake_did.spoken() == split_sentences(full, clause_first=True)

    question = await Message.objects.aget(pk=final["message_id"])
    reply = await Message.objects.aget(reply_to=question)
    assert reply.pk == done["message_id"] and reply.text == full.strip()
    assert await Message.objects.filter(conversation=conversation).acount() == 2
    assert await fates(conversation) == [str(question.pk)]  # adopted for the saved message


async def test_different_words_at_the_end_cancel_the_held_reply_and_ask_again(
    settings, vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    ending = results("made of", is_final=True, speech_final=True, start=1.2, duration=0.5)
    session, final, done = await speculate_then_end(settings, open_session, conversation, alice,
                                                    fake_groq, ending)
    assert final["text"] == "What is the moon? made of"
    first, second = fake_groq.requests
    assert first["messages"][-1]["content"] == "What is the moon?"
    assert second["messages"][-1] == {"role": "user", "content": "What is the moon? made of"}
    assert await fates(conversation) == ["cancelled"]

    # Only the second answer was shown, spoken and saved.
    full = "".join(fake_groq.deltas)
    assert [m["type"] for m in session.seen].count("reply.started") == 1
    assert "".join(m["text"] for m in session.seen if m["type"] == "reply.delta") == full
    assert fake_did.spoken() == split_sentences(full, clause_first=True)
    saved = [m async for m in Message.objects.filter(conversation=conversation).order_by("id")]
    assert [(m.role, m.text) for m in saved] == [("user", "What is the moon? made of"),
                                                ("assistant", full.strip())]
    assert saved[1].reply_to_id == saved[0].pk == final["message_id"] and not done["interrupted"]


async def test_a_cancelled_held_reply_costs_the_llm_tokens_it_used(
    settings, vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    def budget_of_the_first_prompt():
        # Today's token budget becomes what the held reply's prompt alone costs: counted when it
        # is cancelled, it uses the budget up, and the reply to the final words is refused.
        settings.LLM_TOKENS_PER_DAY = quotas.llm_tokens(fake_groq.requests[0]["messages"], "")

    ending = results("made of", is_final=True, speech_final=True, start=1.2, duration=0.5)
    session, final, done = await speculate_then_end(
        settings, open_session, conversation, alice, fake_groq, ending,
        before_end=budget_of_the_first_prompt,
    )
    assert await fates(conversation) == ["cancelled"]
    assert done["error"] == "token_quota" and len(fake_groq.requests) == 1
    assert fake_did.spoken() == []
    # No Message for the cancelled one: the user's words and the refused reply only.
    saved = [m async for m in Message.objects.filter(conversation=conversation).order_by("id")]
    assert [(m.role, m.text) for m in saved] == [("user", "What is the moon? made of"),
                                                ("assistant", "")]


async def test_whoever_decides_first_decides_so_an_adoption_never_waits_on_a_task_that_gave_up():
    conversation_id = uuid.uuid4()
    gave_up, waiting = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    await preemptive._decide(conversation_id, gave_up, preemptive.DROPPED)  # as the task does
    assert not await preemptive.adopt(conversation_id, gave_up, 7)  # the consumer queues anew
    assert await preemptive.adopt(conversation_id, waiting, 7)
    await preemptive.cancel(conversation_id, waiting)  # too late: it stays adopted
    assert await preemptive.fate(conversation_id, waiting) == "7"
