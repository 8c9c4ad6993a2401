"""Who may do what: users and roles, sessions, tokens, login throttling and the audit log.

Everything here is kept in the database (the same one as the recordings index), so the
``vigil user`` commands change a running server's users at once. There is no HTTP here:
:mod:`vigil.api.guard` reads requests and asks :class:`~vigil.auth.access.Access`.
"""

from vigil.auth.access import Access, AuthSettings
from vigil.auth.principal import LOCAL, Principal, UserRole

__all__ = ["LOCAL", "Access", "AuthSettings", "Principal", "UserRole"]
