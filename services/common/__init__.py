"""The small library every osms service stands on: settings, events, outbox, consumer, app."""
