"""Work the bot does on its own: delivering the outbox and the periodic tick."""
