"""The linkage's business rules and operations. Knows nothing of Telegram."""
