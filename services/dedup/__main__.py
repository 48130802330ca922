"""``python -m services.dedup``: run one dedup replica."""

from services.dedup.app import SERVICE, create_app
from services.dedup.settings import Settings
from wirewatch.streaming import run_worker

if __name__ == "__main__":
    settings = Settings()
    run_worker(create_app(settings), SERVICE, settings)
