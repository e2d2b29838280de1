"""Tables owned by the reporting service."""

from sqlalchemy import MetaData

metadata = MetaData()
