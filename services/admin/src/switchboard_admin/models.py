"""Tables owned by the admin service."""

from sqlalchemy import MetaData

metadata = MetaData()
