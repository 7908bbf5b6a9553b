"""Find the warehouse owner: a running `apoa serve`, or this process for one command."""

from __future__ import annotations

from apoa.remote import RemoteWarehouse
from apoa.settings import Settings
from apoa.warehouse import LocalWarehouse, WarehouseBusy, read_owner


def running_owner(settings: Settings) -> RemoteWarehouse | None:
    owner = read_owner(settings)
    if owner is None:
        return None
    if owner.url is None:
        raise WarehouseBusy(
            f"the warehouse {settings.db_path} is held by PID {owner.pid}, which is not "
            "serving requests (another apoa command is running). Wait for it to finish."
        )
    return RemoteWarehouse(owner.url)


def open_owner(settings: Settings) -> RemoteWarehouse | LocalWarehouse:
    """The running server if there is one; otherwise this process becomes the owner."""
    return running_owner(settings) or LocalWarehouse(settings)
