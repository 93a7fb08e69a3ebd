"""fuyuan-bot core: configuration, storage, domain rules and scheduled jobs."""
