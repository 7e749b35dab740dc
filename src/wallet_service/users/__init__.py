"""Users as far as the wallet needs them: company, role and manager (for scope checks)."""
