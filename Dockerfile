FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 CMAKE_ARGS=-DGGML_NATIVE=OFF
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
# The locked versions, each checked against its hash (the lock holds every extra's packages).
RUN pip install --require-hashes -r requirements.lock
COPY config config
COPY avatars avatars
COPY conversations conversations
COPY streaming streaming
COPY engine engine
COPY frontend frontend
COPY manage.py Procfile ./
RUN pip install --no-deps .
EXPOSE 8000 8700
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]
