"""Tables owned by the ivr service."""

from sqlalchemy import MetaData

metadata = MetaData()
