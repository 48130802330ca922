# One image for the four services; docker-compose.yml picks the service by its command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    WIREWATCH_DATA_DIR=/var/lib/wirewatch

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY schemas ./schemas
COPY services ./services
COPY wirewatch ./wirewatch
COPY wirewatch_cli ./wirewatch_cli
COPY data/topics ./data/topics
# The topic model is trained from the labelled corpus at build time (seconds), into the
# installed package where the classifier looks for it.
RUN pip install -c constraints.txt . \
    && wirewatch train-topics --corpus data/topics \
    && useradd --system --home-dir /var/lib/wirewatch --create-home wirewatch

# Each container has its own filesystem, so every replica gets its own data directory.
USER wirewatch
CMD ["wirewatch", "--help"]
