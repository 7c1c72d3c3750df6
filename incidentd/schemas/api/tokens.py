"""API tokens as an admin sees them: never the token itself."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class TokenOut(BaseModel):
    """One API token of a member of the space."""

    id: int
    email: str
    name: str | None
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
