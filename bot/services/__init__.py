"""Application services: one transaction per operation, with its authorisation, its audit
event and the messages it causes (outbox rows). Handlers call these; they never run SQL."""
