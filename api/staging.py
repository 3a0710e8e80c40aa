"""Raw uploads waiting for their batch: never in the database, only in an encrypted file in the data
folder (``<data_dir>/staging/<batch id>.upload``, AES-GCM under the service's key, bound to its batch),
removed when the batch is analysed or fails. In a deployment with several machines the API and the
workers share the data folder and the key (deploy/README.md).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api.crypto import DecryptError, keyring
from api.settings import Settings
from nlp.errors import KeshengError


def _path(settings: Settings, batch_id: int) -> Path:
    return settings.data_dir / "staging" / f"{batch_id}.upload"


def _context(batch_id: int) -> str:
    return f"upload:{batch_id}"


def stage(settings: Settings, batch_id: int, content: bytes) -> None:
    """Keep `content` for batch `batch_id` until it is analysed (written whole or not at all)."""
    path = _path(settings, batch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = keyring(settings).encrypt(content, _context(batch_id)).encode("ascii")
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{batch_id}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(token)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def staged(settings: Settings, batch_id: int) -> bytes:
    """The upload of batch `batch_id`; a KeshengError saying to upload it again when it is gone."""
    try:
        token = _path(settings, batch_id).read_bytes().decode("ascii")
        return keyring(settings).decrypt(token, _context(batch_id))
    except FileNotFoundError:
        raise KeshengError(f"batch {batch_id}: its uploaded file is missing; upload it again") from None
    except (DecryptError, UnicodeDecodeError) as error:
        raise KeshengError(f"batch {batch_id}: its staged upload cannot be read ({error}); upload it again") from None


def is_staged(settings: Settings, batch_id: int) -> bool:
    return _path(settings, batch_id).is_file()


def unstage(settings: Settings, batch_id: int) -> None:
    """Remove the staged upload of batch `batch_id` (nothing when there is none)."""
    _path(settings, batch_id).unlink(missing_ok=True)


def forget_upload(settings: Settings, factory: sessionmaker[Session], batch_id: int) -> None:
    """After a batch is analysed or failed: its staged upload removed and, on SQLite, the write-ahead
    log folded into the database and truncated, so no page of the run lingers beside it."""
    unstage(settings, batch_id)
    with factory() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
