"""Tables owned by the tickets service."""

from sqlalchemy import MetaData

metadata = MetaData()
