"""Errors adapters raise for input they cannot use.

``InputError`` means the input as a whole is unusable (exit status 2 in the CLI,
HTTP 400/422 in the service). Its message names the field or FHIR resource and
says what is wrong, in words a clinician or integrator can act on.
"""

from __future__ import annotations


class InputError(ValueError):
    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
