"""SQL of the users service: `UserStore` (reads) and `UserTransaction` (the unit of work) in
`accounts.py`, their statements in `statements.py`."""

from services.users.store.accounts import UserStore, UserTransaction

__all__ = ["UserStore", "UserTransaction"]
