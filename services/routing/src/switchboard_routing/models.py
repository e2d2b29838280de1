"""Tables owned by the routing service."""

from sqlalchemy import MetaData

metadata = MetaData()
