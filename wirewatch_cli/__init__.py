"""The operator CLI: the `wirewatch` command (topics, replays, evaluations, the demo)."""
