"""Tables owned by the cti service."""

from sqlalchemy import MetaData

metadata = MetaData()
