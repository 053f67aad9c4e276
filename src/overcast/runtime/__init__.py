"""The sans-I/O core: operations yield effects, runners perform them.

* :mod:`~overcast.runtime.effects` — the values an operation yields (``Request``,
  ``Call``, ``Sleep``, ``Parallel``, ``Pipe``, ``ReadPart``, ``Guarded``,
  ``Delegate``, ``Emit``) and what it receives (``Response``);
* :mod:`~overcast.runtime.operation` — ``@operation``, ``@iterator``, ``@stream``
  and ``standalone``: one generator, a sync and an async face;
* :mod:`~overcast.runtime.runner` — the sync and async runners: signing,
  retries, timeouts, hooks, concurrency;
* :mod:`~overcast.runtime.policy` — the retry decision and runtime configuration;
* :mod:`~overcast.runtime.streams` and :mod:`~overcast.runtime.parts` — byte
  streams, and uploads cut into parts;
* :mod:`~overcast.runtime.api` — the request helper and error tables of HTTP
  drivers; :mod:`~overcast.runtime.paging` — the one pager;
  :mod:`~overcast.runtime.ops` — small building blocks (``collect``,
  ``create_once``); :mod:`~overcast.runtime.options` — constructor checks;
* :mod:`~overcast.runtime.transports` — the HTTP clients behind the runners;
* :mod:`~overcast.runtime.redact` and :mod:`~overcast.runtime.files` — secrets
  kept out of text, files written atomically.

Nothing here is imported by ``import overcast``.
"""
