"""Rate limits of failed logins: per (username, client address), and per username.

Password guessing is the threat, so only failures count. Two limits apply:

- **per (username, address)**: at most ``limit`` failures in ``window`` seconds (10 a minute);
  a success from that address clears its slate.
- **per username, across addresses**: at most ``account_limit`` failures in
  ``account_window`` seconds (50 in 15 minutes), against guessing one account's password from
  many addresses. A success does not clear it (the guesser's failures still count), and it
  lapses on its own: once the failures stop, the account is open again within the window.
  While it is reached, addresses the user logged in from successfully (in the last 30 days,
  remembered by this process) are exempt, so a spray from elsewhere does not lock the real
  user out of their usual machines; they are still held to the first limit.

The client address is the socket peer, or the address a trusted proxy forwarded
(``LABELWRIGHT_TRUSTED_PROXIES``); an IPv6 address counts as its /64, which is what one
subscriber usually holds. The state is in-process: behind a load balancer each node limits on
its own, which still caps a guesser at the limits times the number of nodes, and a restart
forgets it.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque

MAX_KEYS = 100_000  # bounds memory under a spray of made-up usernames or addresses
KNOWN_ADDRESS_SECONDS = 30 * 86400
KNOWN_ADDRESSES_PER_USER = 16


def address_key(host: str) -> str:
    """The address a limit counts: IPv6 addresses by their /64, anything else as it is."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return host


class _Window:
    """At most ``limit`` events per key in any ``seconds``; least recently used keys go
    first once there are more than MAX_KEYS."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._times: OrderedDict[object, deque[float]] = OrderedDict()

    def retry_after(self, key: object, now: float) -> float | None:
        times = self._times.get(key)
        if times is None or self.limit <= 0:
            return None
        while times and times[0] <= now - self.seconds:
            times.popleft()
        if not times:
            del self._times[key]
            return None
        if len(times) < self.limit:
            return None
        return max(0.0, times[0] + self.seconds - now)

    def add(self, key: object, now: float) -> None:
        if self.limit <= 0:
            return
        times = self._times.setdefault(key, deque())
        times.append(now)
        self._times.move_to_end(key)
        while len(times) > self.limit:
            times.popleft()
        while len(self._times) > MAX_KEYS:
            self._times.popitem(last=False)

    def clear(self, key: object) -> None:
        self._times.pop(key, None)

    def take_back(self, key: object) -> None:
        """Uncount the latest event of ``key`` (an attempt that turned out not to count)."""
        times = self._times.get(key)
        if times:
            times.pop()


class LoginThrottle:
    """The two limits of failed logins (module docstring). ``account_limit`` 0 turns the
    per-username limit off."""

    def __init__(self, limit: int = 10, window: float = 60.0, account_limit: int = 50,
                 account_window: float = 900.0) -> None:
        self.limit = limit
        self.window = window
        self._per_address = _Window(limit, window)
        self._per_account = _Window(account_limit, account_window)
        # username -> {address: time of the last successful login from it}
        self._known: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, username: str, client: str) -> tuple[float, str] | None:
        """Start an attempt: ``(seconds, "address" | "account")`` until one is allowed, or
        None when it is allowed, and then it is counted as a failure until ``succeeded``
        says otherwise. Counting before the password check (which takes a while) keeps a
        burst of concurrent attempts from all passing the limit before any has failed."""
        user, address = username.casefold(), address_key(client)
        now = time.monotonic()
        with self._lock:
            wait = self._per_address.retry_after((user, address), now)
            if wait is not None:
                return wait, "address"
            wait = self._per_account.retry_after(user, now)
            if wait is not None and not self._is_known(user, address, now):
                return wait, "account"
            self._per_address.add((user, address), now)
            self._per_account.add(user, now)
        return None

    def succeeded(self, username: str, client: str) -> None:
        """The attempt ``begin`` allowed was right: clear this address's failures, take the
        attempt back from the account's, and remember the address as the user's."""
        user, address = username.casefold(), address_key(client)
        now = time.monotonic()
        with self._lock:
            self._per_address.clear((user, address))
            self._per_account.take_back(user)
            known = self._known.setdefault(user, OrderedDict())
            known[address] = now
            known.move_to_end(address)
            self._known.move_to_end(user)
            while len(known) > KNOWN_ADDRESSES_PER_USER:
                known.popitem(last=False)
            while len(self._known) > MAX_KEYS:
                self._known.popitem(last=False)

    def _is_known(self, user: str, address: str, now: float) -> bool:
        known = self._known.get(user)
        seen = None if known is None else known.get(address)
        return seen is not None and seen > now - KNOWN_ADDRESS_SECONDS
