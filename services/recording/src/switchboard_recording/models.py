"""Tables owned by the recording service."""

from sqlalchemy import MetaData

metadata = MetaData()
