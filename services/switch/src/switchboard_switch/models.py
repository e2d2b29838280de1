"""Tables owned by the switch service."""

from sqlalchemy import MetaData

metadata = MetaData()
