"""One router per area; shared/bot/dispatcher.py includes them in order."""
