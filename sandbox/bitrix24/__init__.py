"""A faithful Bitrix24 cloud sandbox: OAuth server, portals (REST, events, pages), control API."""
from sandbox.bitrix24.sandbox import Bitrix24Sandbox, PortalInfo

__all__ = ["Bitrix24Sandbox", "PortalInfo"]
