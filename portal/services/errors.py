"""Errors a use case raises; views turn them into a message on the form or a 4xx page."""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse. ``message`` is an English msgid; ``params`` fill it."""

    status_code = 422

    def __init__(self, message: str, rule: str = "", **params: str) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.rule = rule
        self.params = params


class NotFound(DomainError):
    """The thing does not exist, or this actor may not see it."""

    status_code = 404


class Forbidden(DomainError):
    """This actor may not do that."""

    status_code = 403


class Conflict(DomainError):
    """The request conflicts with the state it meets (the case has moved on, the order already
    has an open case): 409, whether it lost a race a moment ago or arrived long after."""

    status_code = 409


class ConcurrentChange(Conflict):
    """Someone else changed the case first (compare-and-set failed)."""


class BadRequest(DomainError):
    """A request that cannot be read (a damaged page link, an amount that is not one): 400."""

    status_code = 400
