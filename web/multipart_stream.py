"""Streaming a ``multipart/form-data`` body part by part (python-multipart's parser).

``MultipartStream`` does what every upload route shares: it finds the boundary, feeds the
body to the parser chunk by chunk under a per-request limit, collects each part's headers and
hands the part's ``Content-Disposition`` options to the subclass, and maps parser errors to
422. Subclasses (``web.multipart_images.MultipartImages``, ``web.endpoints.models.ModelUpload``)
decide what a part may be and where its bytes go, and release what they staged in ``close``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from web.errors import ApiError


class MultipartStream:
    """The shared streaming loop; override ``_part_began``, ``_on_part_data``,
    ``_on_part_end`` and ``close``."""

    # ``details.field`` of the 413 for the whole request and of the 422 for a malformed body
    too_large_field: str | None = None
    malformed_field: str | None = None

    def __init__(self, content_type: str, max_request: int) -> None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            raise ApiError("validation", "the multipart body has no boundary",
                           {"field": "content-type"})
        self.max_request = max_request
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        })

    async def _stream(self, stream: AsyncIterator[bytes]) -> None:
        """Feed the whole body to the parser; on any failure ``close`` and raise."""
        total = 0
        try:
            async for chunk in stream:
                total += len(chunk)
                if total > self.max_request:
                    details: dict[str, object] = {"limit": self.max_request}
                    if self.too_large_field:
                        details = {"field": self.too_large_field, **details}
                    raise ApiError("too_large", f"the upload is larger than "
                                   f"{self.max_request:,} bytes", details)
                self._parser.write(chunk)
            self._parser.finalize()
        except MultipartParseError as e:
            self.close()
            raise ApiError("validation", f"the multipart body is malformed: {e}",
                           {"field": self.malformed_field} if self.malformed_field else None
                           ) from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release what was staged (idempotent)."""

    def _part_began(self) -> None:
        """A new part starts (its headers follow)."""

    def _part_headers(self, name: str, options: dict[bytes, bytes]) -> None:
        """The part's headers are in: ``name`` and the ``Content-Disposition`` options."""
        raise NotImplementedError

    # -- parser callbacks ------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._part_began()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._part_headers(options.get(b"name", b"").decode("utf-8", "replace"), options)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        raise NotImplementedError

    def _on_part_end(self) -> None:
        raise NotImplementedError
