"""What the compute drivers of token-authenticated REST APIs share
(DigitalOcean, Linode, Vultr).

* :class:`RestNodeDriver`: the base of such a driver. Its constructor helper
  :meth:`~RestNodeDriver._connect` reads Apache Libcloud's connection
  keywords (``secure``, ``host``, ``port``) or overcast's ``endpoint=``,
  checks ``page_size`` against the provider's bounds and keeps the token;
  :meth:`~RestNodeDriver._pages` is the page loop of every listing, on the
  provider's :meth:`~RestNodeDriver._page_query` and
  :meth:`~RestNodeDriver._read_page`.
* :class:`KeyIdAuth`: for a provider that installs SSH keys in a new node
  only by the id of a key pair it holds.
* Request tokens as tags: a create carries the tag :func:`token_tag`, and a
  lost answer is settled by looking for what carries it (:func:`tagged`).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar

from overcast.auth.bearer import BearerAuth
from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeSpec
from overcast.compute.models import NodeAuthSSHKey
from overcast.runtime.api import HttpApi
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.ops import pure
from overcast.runtime.options import check_page_size
from overcast.runtime.options import libcloud_endpoint
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret

__all__ = ["TOKEN_TAG", "KeyIdAuth", "RestNodeDriver", "tagged", "token_tag"]

T = TypeVar("T")

#: The tag prefix of a create's request token.
TOKEN_TAG: Final = "overcast-token-"


def token_tag(token: str) -> str:
    """The tag a create carrying the request token ``token`` is given."""
    return f"{TOKEN_TAG}{token}"


def tagged(token: str) -> Callable[[Any], bool]:
    """The test that a node, volume or snapshot carries ``token``'s tag (in
    its ``extra["tags"]``): what settles a create whose answer was lost."""
    tag = token_tag(token)
    return lambda item: tag in item.extra["tags"]


class RestNodeDriver(HttpApi, BearerAuth, NodeDriver):
    """A compute driver of a REST API reached with a bearer token below one
    base URL (``https://<api>/<version>``), listed in pages of a bounded size."""

    #: The API's base URL when neither ``endpoint=`` nor ``host=`` names another.
    default_endpoint: ClassVar[str]
    #: The API's version path below a ``host=`` given the Libcloud way (``/v2``).
    api_path: ClassVar[str]
    #: The page sizes the API accepts.
    page_sizes: ClassVar[tuple[int, int]]
    #: Whether a larger ``page_size`` is lowered to the largest (the documented
    #: limit is a ceiling) rather than refused.
    clamp_page_size: ClassVar[bool] = False
    #: The cursor of a listing's first page (``1`` where pages are numbered).
    first_page: ClassVar[Cursor | None] = None

    def _connect(self, key: str | Secret, endpoint: str | None, host: str | None,
                 port: int | None, secure: bool, page_size: int, *, missing: str) -> None:
        """Set :attr:`endpoint` (``endpoint``, or Libcloud's ``host``, ``port``
        and ``secure``, else :attr:`default_endpoint`) and :attr:`page_size`,
        and sign with the token ``key`` (InvalidInput saying ``missing`` if
        there is none)."""
        self.endpoint = libcloud_endpoint(endpoint, host, port, secure, path=self.api_path,
                                          driver=self) or self.default_endpoint
        minimum, maximum = self.page_sizes
        self.page_size = check_page_size(page_size, minimum=minimum, maximum=maximum,
                                         clamp=self.clamp_page_size, driver=self)
        self._use_bearer(key, missing=missing)

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint}

    def _pages(self, path: str, key: str, convert: Callable[[Any], T],
               params: Sequence[tuple[str, str]] = (), *,
               headers: Mapping[str, str] | None = None) -> Iter[T]:
        """Every item of the list at ``path`` (under ``key`` in its answers),
        converted, page by page: ``GET`` with ``params`` and the page's
        :meth:`_page_query`, each answer read by :meth:`_read_page`."""

        def fetch(cursor: Cursor | None) -> Op[Page[T]]:
            payload = yield from self._json("GET", path,
                                            params=[*params, *self._page_query(cursor)],
                                            headers=headers or {})
            page = self._read_page(payload, key, cursor, path)
            return Page([convert(item) for item in page.items], page.next, page.style)

        return paginate(fetch, first=self.first_page, what=f"GET {path}", driver=self)

    def _page_query(self, cursor: Cursor | None) -> list[tuple[str, str]]:
        """The query parameters asking for the page of ``cursor`` (``None``:
        the first), :attr:`page_size` items long."""
        raise NotImplementedError

    def _read_page(self, payload: Any, key: str, cursor: Cursor | None,
                   path: str) -> Page[Any]:
        """One list answer (to ``GET path`` for ``cursor``'s page) as a
        :class:`~overcast.runtime.paging.Page` of its items and the next page's
        cursor."""
        raise NotImplementedError


class KeyIdAuth(NodeDriver):
    """Mixin of a driver whose provider installs SSH keys in a new node only by
    the id of a key pair it holds: a :class:`NodeAuthSSHKey` ``auth`` is found
    among the account's key pairs (imported if it is not there) and its id
    handed to the create by :meth:`_with_key_id`."""

    auth_kinds: ClassVar[tuple[type[NodeAuthSSHKey]]] = (NodeAuthSSHKey,)

    def _prepare_node(self, spec: NodeSpec) -> Op[NodeSpec]:
        """With an SSH key ``auth``, add its key id (registering the key if needed)."""
        if not isinstance(spec.auth, NodeAuthSSHKey):
            return (yield from pure(spec))
        key = yield from self._key_pair_holding(spec.auth.pubkey)
        return self._with_key_id(spec, key.extra["id"])

    def _with_key_id(self, spec: NodeSpec, key_id: Any) -> NodeSpec:
        """``spec`` with the key pair ``key_id`` among the keys the create installs."""
        raise NotImplementedError
