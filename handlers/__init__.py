"""Telegram handlers, one module per user flow; registered in order by ``bot.app``."""
