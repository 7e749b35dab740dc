"""Wallet status rules (pure).

ACTIVE <-> FROZEN; ACTIVE or FROZEN -> CLOSED (only when empty); CLOSED is final.
FROZEN takes credits only; CLOSED takes nothing."""

from __future__ import annotations

from decimal import Decimal

from wallet_service.errors import InvalidStatusTransition, WalletNotEmpty
from wallet_service.wallets.schemas import WalletStatus

_ALLOWED = {
    WalletStatus.ACTIVE: {WalletStatus.FROZEN, WalletStatus.CLOSED},
    WalletStatus.FROZEN: {WalletStatus.ACTIVE, WalletStatus.CLOSED},
    WalletStatus.CLOSED: set[WalletStatus](),
}


def check_transition(
    current: WalletStatus, target: WalletStatus, balance: Decimal, held: Decimal
) -> bool:
    """Return True when the status must change, False when it already is `target`; raise when the
    change is not allowed."""
    if current == target:
        return False
    if target not in _ALLOWED[current]:
        raise InvalidStatusTransition(
            f"a {current} wallet cannot become {target}"
            + ("; CLOSED is final" if current is WalletStatus.CLOSED else "")
        )
    if target is WalletStatus.CLOSED and (balance != 0 or held != 0):
        raise WalletNotEmpty(
            f"the wallet still holds {balance} (of which {held} in open holds); "
            "move the money out before closing it"
        )
    return True
