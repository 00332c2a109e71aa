"""The local engine: D-ID, Deepgram and Groq look-alikes served offline (see DESIGN.md §6)."""
