"""notifier: Slack and email alerts for watched keywords, topics and sources."""
