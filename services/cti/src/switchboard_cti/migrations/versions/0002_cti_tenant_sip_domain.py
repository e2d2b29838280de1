"""cti_tenants.sip_domain: where the tenant's agents' phones register, for transfers.

Revision ID: 0002_cti_tenant_sip_domain
Revises: 0001_cti_initial
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_cti_tenant_sip_domain"
down_revision: str | None = "0001_cti_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cti_tenants") as batch:
        batch.add_column(sa.Column("sip_domain", sa.String(253), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cti_tenants") as batch:
        batch.drop_column("sip_domain")
