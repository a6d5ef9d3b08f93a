"""The plugin contract (hooks, channel types, settings) and the machinery that loads plugins."""
