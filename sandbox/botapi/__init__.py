"""A local Telegram Bot API: ``FakeTelegram`` answers like Telegram (strict about parse errors,
button data, flood limits) and ``FakeBotApiServer`` serves it over HTTP on 127.0.0.1. The tests
drive it as users; the sandbox puts a web chat in front of it."""
