"""Files: the photos and documents the bot sends (uploaded, or re-sent by ``file_id``), getFile
and the download URL ``/file/bot<token>/<file_path>`` (how Sanad fetches what customers send to
show it in the agents' console).  Photos come in three sizes like on Telegram, largest last."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from tests.fakes.bot_api.messages import MessagesApi
from tests.fakes.bot_api.model import JSON, UploadedFile, bad_request
from tests.fakes.bot_api.state import StoredFile

_FILE_ID_PREFIX = {
    "photo": "AgACAgI",
    "document": "BQACAgI",
    "voice": "AwACAgI",
    "sticker": "CAACAgI",
}
_EXTENSION = {"photo": "jpg", "voice": "oga", "sticker": "webp"}


class FilesApi(MessagesApi):
    def _api_sendPhoto(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        upload = self._upload(params, files, "photo")
        if upload is not None:
            sizes = self._new_photo(upload.data, 1280, 960)
        else:
            known = self._files.get(self._file_ref(params, "photo"))
            if known is None or not known.photo_sizes:
                raise bad_request("wrong file identifier/HTTP URL specified")
            sizes = copy.deepcopy(known.photo_sizes)
        return self._bot_send(chat, params, {"photo": sizes, **self._caption(params)})

    def _api_sendDocument(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        upload = self._upload(params, files, "document")
        if upload is not None:
            document = self._new_file(
                "document",
                upload.data,
                file_name=upload.filename or "document",
                mime_type=upload.content_type or "application/octet-stream",
            )
        else:
            known = self._files.get(self._file_ref(params, "document"))
            if known is None or known.kind != "document":
                raise bad_request("wrong file identifier/HTTP URL specified")
            document = {"file_id": known.file_id, "file_unique_id": known.file_unique_id}
            document.update(known.extra)
        return self._bot_send(chat, params, {"document": document, **self._caption(params)})

    def _api_getFile(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise bad_request("invalid file_id")
        result: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_path": stored.file_path,
        }
        if stored.data is not None:
            result["file_size"] = len(stored.data)
        return result

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """``GET /file/bot<token>/<file_path>``: the content of a file found with getFile."""
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        path = request.match_info["path"]
        for stored in self._files.values():
            if stored.file_path == path:
                data = stored.data
                if data is None:
                    data = f"fake content of {stored.file_id}".encode()
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")

    def file_bytes(self, file_id: str) -> bytes | None:
        """Content of a file uploaded by the bot or given to ``send_photo(content=...)``."""
        stored = self._files.get(file_id)
        return stored.data if stored else None

    # ---------------------------------------------------------------- helpers

    def _new_file(self, kind: str, data: bytes | None, **extra: Any) -> JSON:
        """Register a file of ``kind``; returns its JSON (``file_id``, ``file_unique_id``, ...)."""
        n = next(self._file_counter)
        file_id = f"{_FILE_ID_PREFIX[kind]}AAxkBAAI{n:06d}_fake_{kind}"
        unique = f"AQAD{n:06d}"
        ext = _EXTENSION.get(kind, "bin")
        if "." in str(extra.get("file_name", "")):
            ext = str(extra["file_name"]).rsplit(".", 1)[-1]
        obj: JSON = {"file_id": file_id, "file_unique_id": unique}
        if data is not None:
            obj["file_size"] = len(data)
        obj.update(extra)
        self._files[file_id] = StoredFile(
            file_id=file_id,
            file_unique_id=unique,
            kind=kind,
            data=data,
            file_path=f"{kind}s/file_{n}.{ext}",
            extra={k: v for k, v in obj.items() if k not in ("file_id", "file_unique_id")},
        )
        return obj

    def _new_photo(self, data: bytes | None, width: int, height: int) -> list[JSON]:
        sizes = [
            self._new_file(
                "photo", data, width=max(int(width * scale), 1), height=max(int(height * scale), 1)
            )
            for scale in (0.0703125, 0.25, 1.0)
        ]
        for size in sizes:
            self._files[size["file_id"]].photo_sizes = copy.deepcopy(sizes)
        return sizes

    @staticmethod
    def _upload(params: JSON, files: dict[str, UploadedFile], name: str) -> UploadedFile | None:
        if name in files:
            return files[name]
        value = params.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            attached = files.get(value.removeprefix("attach://"))
            if attached is None:
                raise bad_request(f"file {value} not found in the request")
            return attached
        return None

    @staticmethod
    def _file_ref(params: JSON, name: str) -> str:
        value = params.get(name)
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {name} in the request")
        return value
