"""The local engine: D-ID, Deepgram and Groq look-alikes served offline, without Django.

`python -m engine` (or `manage.py run_engine`) starts a parent on the engine port (main.py,
proxy.py, supervisor.py) and one child per role (child.py, roles.py): speech recognition
(deepgram_listen with listen_params and listen_stream; transcriber with transcript_events), the LLM
(groq_chat, llm) and the media (did_streams with did_requests, did_registry, did_errors and
did_chat; stream_session with stream_errors and stream_rtc, player, timeline, tts, renderer, face,
presenters).
"""
