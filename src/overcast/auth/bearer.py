"""A bearer token sent to one API: ``Authorization: Bearer <token>``.

:class:`BearerAuth` is what drivers of token APIs (DigitalOcean, Linode, ...)
mix in: the token is kept as a :class:`~overcast.runtime.redact.Secret` and
added to every attempt of every request to the driver's ``endpoint``, and to
no other host an answer may name.
"""

from __future__ import annotations

from overcast.driver import BaseDriver
from overcast.errors import InvalidInput
from overcast.runtime.effects import Request
from overcast.runtime.redact import Secret

__all__ = ["BearerAuth"]


class BearerAuth(BaseDriver):
    """Mixin: sign requests to :attr:`endpoint` with a bearer token (set by
    :meth:`_use_bearer` in the constructor)."""

    #: The token requests to :attr:`endpoint` carry (``None``: the driver signs
    #: requests its own way).
    _bearer: Secret | None = None
    #: The API's base URL: only requests below it carry the token.
    endpoint: str

    def _use_bearer(self, token: str | Secret, *, missing: str) -> None:
        """Sign requests with the bearer ``token``; :class:`~overcast.errors.InvalidInput`
        saying ``missing`` if there is none."""
        if not token:
            raise InvalidInput(missing, driver=self)
        self._bearer = Secret(token)

    def _sign(self, request: Request, now: float) -> Request:
        """Add the bearer token, if any, to every attempt of a request to
        :attr:`endpoint` (and to no other host an answer may name)."""
        if self._bearer is None or not request.url.startswith(self.endpoint):
            return request
        return request.with_headers({"Authorization": f"Bearer {self._bearer.reveal()}"})
