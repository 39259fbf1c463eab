"""Pure code, no ORM: the advisor's arithmetic, eval assertions, the provider
client, token counting, JSON helpers."""
