"""fetcher: polls RSS/Atom feeds and publishes raw articles."""
