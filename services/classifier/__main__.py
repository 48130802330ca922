"""``python -m services.classifier``: run one classifier replica."""

from services.classifier.app import SERVICE, create_app
from services.classifier.settings import Settings
from wirewatch.service import load_or_exit
from wirewatch.streaming import run_worker

if __name__ == "__main__":
    settings = load_or_exit(SERVICE, Settings)
    app = load_or_exit(SERVICE, lambda: create_app(settings))
    run_worker(app, SERVICE, settings)
