"""Access: principals, built-in roles, the operation wrapper (authorise + audit) and the audit log.

Every public operation of every client passes through :mod:`._operations`, which checks the
caller's role and appends the audit event. Sits above the engine (the audit log and the
principals are sealed records) and below the object kinds, which call its wrapper. May
import ``engine``, ``crypto``, ``storage`` and ``exceptions``.
"""
