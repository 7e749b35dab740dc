"""Authentication (JWT) and authorization (roles and scopes)."""
