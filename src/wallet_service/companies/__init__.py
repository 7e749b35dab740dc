"""Company defaults: what a new user of the company gets on UserCreated."""
