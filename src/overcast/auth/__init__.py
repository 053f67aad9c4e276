"""Request signers and credential helpers, shared by every driver that needs them."""
