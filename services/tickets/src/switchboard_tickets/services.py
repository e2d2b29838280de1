"""Use cases of the tickets service. Inbound adapters (REST, gRPC, consumers, the timer) call
these; they talk to the store, the phone-number index and the notifier given to them.

Every write runs in one tenant transaction together with the events it announces (outbox)
and, for consumed events, the processed-event marker, so a change, its events and "event
handled" commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from switchboard_common.bus import SqlProcessedEvents
from switchboard_common.errors import Conflict, NotFound, ValidationFailed
from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallArrived, CallEnded, CallRecordingStopped
from switchboard_common.events.config import UserCreated, UserDeleted, UserUpdated
from switchboard_common.events.ivr import SurveyCompleted, VoicemailLeft
from switchboard_common.events.queues import CallAbandoned, CallEnqueued, QueueCallAnswered
from switchboard_common.events.tickets import (
    CustomerCreated,
    CustomerMerged,
    TicketAssigned,
    TicketClosed,
    TicketCreated,
    TicketResolved,
    TicketStatusChanged,
)
from switchboard_tickets.domain import (
    CustomerDraft,
    CustomFieldDefinition,
    Priority,
    SlaPolicy,
    Ticket,
    TicketContact,
    TicketCursor,
    TicketDraft,
    TicketPolicy,
    TicketSearchQuery,
    TicketStatus,
    apply_customer_patch,
    assign,
    build_customer,
    change_status,
    due_actions,
    ensure_version,
    merge_customers,
    next_wakeup,
    normalize_phone,
    open_ticket,
    parse_contact,
    record_call_ended,
    record_first_response,
    try_normalize_phone,
    update_details,
)
from switchboard_tickets.domain._validation import parse_model
from switchboard_tickets.lookup_cache import CachedCustomer, LookupCache
from switchboard_tickets.notifier import TicketsNotifier
from switchboard_tickets.phone_index import PhoneIndex
from switchboard_tickets.repository import (
    CustomerFilter,
    CustomerRecord,
    CustomerSnapshot,
    OpenTicketRow,
    TicketsRepository,
    TicketsStore,
    check_tenant_id,
    new_id,
)
from switchboard_tickets.schemas import (
    AssignRequest,
    AttachmentCreate,
    AttachmentPublic,
    CategoryCreate,
    CategoryPublic,
    CategoryUpdate,
    CommentCreate,
    CommentPublic,
    ContactPage,
    CustomerCard,
    CustomerCreate,
    CustomerLookup,
    CustomerPage,
    CustomerPublic,
    CustomerUpdate,
    CustomFieldBody,
    DepartmentCreate,
    DepartmentPublic,
    DepartmentUpdate,
    Lifecycle,
    MergeOutcome,
    MergeRequest,
    NoteCreate,
    NotePublic,
    NotificationPublic,
    OpenTicketSummary,
    SlaPolicyUpdate,
    TicketCreate,
    TicketPage,
    TicketPublic,
    TicketSettingsPublic,
    TicketSettingsUpdate,
    TicketUpdate,
    TransitionRequest,
    normalize_text_query,
)

Clock = Callable[[], datetime]
Milestone = Literal["created", "resolved", "closed", "reopened"]
BUILTIN_CATEGORY = "general"
"""Always a valid ticket category, whatever the tenant defined."""
MAX_EVENT_ID_LENGTH = 64
_MILESTONES: dict[TicketStatus, Milestone] = {
    TicketStatus.RESOLVED: "resolved",
    TicketStatus.CLOSED: "closed",
    TicketStatus.REOPENED: "reopened",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def _later_of(now: datetime, last_change: datetime) -> datetime:
    """`now`, or the last change if a clock behind another instance's would predate it."""
    return max(now, last_change)


# -- tenant settings ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantSettings:
    policy: TicketPolicy
    default_region: str | None
    version: int
    updated_at: datetime | None

    def public(self) -> TicketSettingsPublic:
        return TicketSettingsPublic(
            numbering=self.policy.numbering,
            priority_matrix=self.policy.priority_matrix,
            reopen_window=self.policy.reopen_window,
            default_region=self.default_region,
            sla=self.policy.sla,
            version=self.version,
            updated_at=self.updated_at,
        )


DEFAULT_SETTINGS = TenantSettings(TicketPolicy(), None, 0, None)


class TenantSettingsReader:
    """A tenant's ticket settings, parsed once per stored version."""

    def __init__(self) -> None:
        self._parsed: dict[str, TenantSettings] = {}

    async def get(self, repo: TicketsRepository) -> TenantSettings:
        record = await repo.settings()
        if record is None:
            return DEFAULT_SETTINGS
        cached = self._parsed.get(repo.tenant_id)
        if cached is not None and cached.version == record.version:
            return cached
        parsed = TenantSettings(
            TicketPolicy.model_validate(record.policy),
            record.default_region,
            record.version,
            record.updated_at,
        )
        self._parsed[repo.tenant_id] = parsed
        return parsed


async def check_agent(repo: TicketsRepository, agent_id: str, field: str, *, enabled: bool) -> None:
    """422 `unknown-agent` naming `field` unless the tenant's directory knows the agent."""
    if enabled and not await repo.agent_known(agent_id):
        raise ValidationFailed(
            f"no agent {agent_id!r} in this tenant",
            field=field,
            error_id="unknown-agent",
            details={"agent_id": agent_id},
        )


def _no_such(kind: str, identifier: str) -> NotFound:
    return NotFound(
        f"no {kind.replace('-', ' ')} {identifier!r}",
        error_id=f"no-such-{kind}",
        details={"id": identifier},
    )


def _decode_cursor(cursor: str | None) -> TicketCursor | None:
    return TicketCursor.decode(cursor) if cursor is not None else None


# -- configuration ------------------------------------------------------------------------------


class ConfigurationService:
    """Ticket settings, SLA policy, departments, categories, customer custom fields."""

    def __init__(
        self,
        store: TicketsStore,
        settings: TenantSettingsReader,
        *,
        clock: Clock = utc_now,
        check_agents: bool = True,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._check_agents = check_agents

    async def settings(self, tenant_id: str) -> TicketSettingsPublic:
        async with self._store.tenant(tenant_id) as repo:
            return (await self._settings.get(repo)).public()

    async def save_settings(
        self, tenant_id: str, body: TicketSettingsUpdate
    ) -> TicketSettingsPublic:
        async with self._store.tenant(tenant_id) as repo:
            current = await self._settings.get(repo)
            policy = current.policy.model_copy(
                update={
                    "numbering": body.numbering,
                    "priority_matrix": body.priority_matrix,
                    "reopen_window": body.reopen_window,
                }
            )
            return await self._save(repo, policy, body.default_region, body.version)

    async def save_sla(self, tenant_id: str, body: SlaPolicyUpdate) -> TicketSettingsPublic:
        sla = body.policy()
        self._try_policy(sla)
        async with self._store.tenant(tenant_id) as repo:
            current = await self._settings.get(repo)
            policy = current.policy.model_copy(update={"sla": sla})
            return await self._save(repo, policy, current.default_region, body.version)

    async def drop_sla(self, tenant_id: str, version: int) -> TicketSettingsPublic:
        async with self._store.tenant(tenant_id) as repo:
            current = await self._settings.get(repo)
            policy = current.policy.model_copy(update={"sla": None})
            return await self._save(repo, policy, current.default_region, version)

    def _try_policy(self, sla: SlaPolicy) -> None:
        """Arm every rule's clocks once now, so a policy that cannot compute due times
        is refused here rather than when a ticket is opened."""
        now = self._clock()
        for index, rule in enumerate(sla.rules):
            try:
                for target in (rule.target.response, rule.target.resolution):
                    due = sla.calendar.add_business_time(now, target)
                    for level in sla.escalation.levels:
                        sla.calendar.add_business_time(due, level.after_due)
            except (OverflowError, ValidationFailed) as exc:
                raise ValidationFailed(
                    "this rule's due times cannot be computed with this calendar",
                    field=f"rules[{index}]",
                    error_id="sla-not-computable",
                ) from exc

    async def _save(
        self,
        repo: TicketsRepository,
        policy: TicketPolicy,
        default_region: str | None,
        expected_version: int,
    ) -> TicketSettingsPublic:
        at = self._clock()
        version = await repo.save_settings(
            policy=policy.model_dump(mode="json"),
            default_region=default_region,
            expected_version=expected_version,
            at=at,
        )
        return TenantSettings(policy, default_region, version, at).public()

    # departments

    async def departments(self, tenant_id: str) -> list[DepartmentPublic]:
        async with self._store.tenant(tenant_id) as repo:
            return await repo.departments()

    async def department(self, tenant_id: str, department_id: str) -> DepartmentPublic:
        async with self._store.tenant(tenant_id) as repo:
            return await self._department(repo, department_id)

    async def _department(self, repo: TicketsRepository, department_id: str) -> DepartmentPublic:
        department = await repo.department(department_id)
        if department is None:
            raise _no_such("department", department_id)
        return department

    async def create_department(self, tenant_id: str, body: DepartmentCreate) -> DepartmentPublic:
        at = self._clock()
        department = DepartmentPublic(
            id=new_id(),
            name=body.name,
            description=body.description,
            lead_agent_id=body.lead_agent_id,
            created_at=at,
            updated_at=at,
            version=1,
        )
        async with self._store.tenant(tenant_id) as repo:
            if body.lead_agent_id is not None:
                await check_agent(
                    repo, body.lead_agent_id, "lead_agent_id", enabled=self._check_agents
                )
            await repo.insert_department(department)
        return department

    async def update_department(
        self, tenant_id: str, department_id: str, body: DepartmentUpdate
    ) -> DepartmentPublic:
        async with self._store.tenant(tenant_id) as repo:
            current = await self._department(repo, department_id)
            ensure_version(
                "department", department_id, expected=body.version, actual=current.version
            )
            if body.lead_agent_id is not None:
                await check_agent(
                    repo, body.lead_agent_id, "lead_agent_id", enabled=self._check_agents
                )
            lead = None if body.clear_lead else (body.lead_agent_id or current.lead_agent_id)
            changed = current.model_copy(
                update={
                    "name": body.name if body.name is not None else current.name,
                    "description": body.description
                    if body.description is not None
                    else current.description,
                    "lead_agent_id": lead,
                    "updated_at": _later_of(self._clock(), current.updated_at),
                    "version": current.version + 1,
                }
            )
            if not await repo.update_department(changed, current.version):
                raise _version_moved("department", department_id, body.version)
        return changed

    async def delete_department(self, tenant_id: str, department_id: str) -> None:
        async with self._store.tenant(tenant_id) as repo:
            await self._department(repo, department_id)
            if await repo.department_in_use(department_id):
                raise Conflict(
                    "the department still has open tickets",
                    error_id="department-in-use",
                    details={"id": department_id},
                )
            await repo.delete_department(department_id)

    # categories

    async def categories(self, tenant_id: str) -> list[CategoryPublic]:
        async with self._store.tenant(tenant_id) as repo:
            return await repo.categories()

    async def category(self, tenant_id: str, key: str) -> CategoryPublic:
        async with self._store.tenant(tenant_id) as repo:
            return await self._category(repo, key)

    async def _category(self, repo: TicketsRepository, key: str) -> CategoryPublic:
        category = await repo.category(key)
        if category is None:
            raise _no_such("category", key)
        return category

    async def create_category(self, tenant_id: str, body: CategoryCreate) -> CategoryPublic:
        if body.key == BUILTIN_CATEGORY:
            raise Conflict(
                f"{BUILTIN_CATEGORY!r} is built in",
                error_id="category-exists",
                details={"field": "key"},
            )
        category = CategoryPublic(
            key=body.key,
            name=body.name,
            parent_key=body.parent_key,
            active=body.active,
            created_at=self._clock(),
        )
        async with self._store.tenant(tenant_id) as repo:
            if body.parent_key is not None:
                parent = await repo.category(body.parent_key)
                if parent is None:
                    raise ValidationFailed(
                        f"no category {body.parent_key!r}",
                        field="parent_key",
                        error_id="unknown-category",
                    )
                if parent.parent_key is not None:
                    raise ValidationFailed(
                        "sub-categories cannot have sub-categories",
                        field="parent_key",
                        error_id="category-too-deep",
                    )
            await repo.insert_category(category)
        return category

    async def update_category(
        self, tenant_id: str, key: str, body: CategoryUpdate
    ) -> CategoryPublic:
        async with self._store.tenant(tenant_id) as repo:
            current = await self._category(repo, key)
            changed = current.model_copy(
                update={
                    "name": body.name if body.name is not None else current.name,
                    "active": body.active if body.active is not None else current.active,
                }
            )
            await repo.update_category(changed)
        return changed

    async def delete_category(self, tenant_id: str, key: str) -> None:
        async with self._store.tenant(tenant_id) as repo:
            await self._category(repo, key)
            if await repo.has_subcategories(key) or await repo.category_in_use(key):
                raise Conflict(
                    "the category has sub-categories or tickets; deactivate it instead",
                    error_id="category-in-use",
                    details={"key": key},
                )
            await repo.delete_category(key)

    # customer custom fields

    async def custom_fields(self, tenant_id: str) -> list[CustomFieldDefinition]:
        async with self._store.tenant(tenant_id) as repo:
            return await repo.custom_fields()

    async def custom_field(self, tenant_id: str, key: str) -> CustomFieldDefinition:
        for definition in await self.custom_fields(tenant_id):
            if definition.key == key:
                return definition
        raise _no_such("custom-field", key)

    async def save_custom_field(
        self, tenant_id: str, key: str, body: CustomFieldBody
    ) -> tuple[CustomFieldDefinition, bool]:
        definition = parse_model(
            CustomFieldDefinition, {"key": key, **body.model_dump()}, "custom field"
        )
        async with self._store.tenant(tenant_id) as repo:
            created = await repo.save_custom_field(definition, self._clock())
        return definition, created

    async def delete_custom_field(self, tenant_id: str, key: str) -> None:
        async with self._store.tenant(tenant_id) as repo:
            if not await repo.delete_custom_field(key):
                raise _no_such("custom-field", key)


def _version_moved(resource: str, identifier: str, expected: int) -> Conflict:
    return Conflict(
        f"{resource} {identifier} changed meanwhile; reload and retry",
        error_id="version-conflict",
        details={"resource": resource, "id": identifier, "expected_version": expected},
    )


# -- customers ----------------------------------------------------------------------------------


def customer_public(record: CustomerRecord) -> CustomerPublic:
    customer = record.customer
    return CustomerPublic(
        id=customer.id,
        name=customer.name,
        company=record.company,
        lifecycle=record.lifecycle,
        phones=customer.phones,
        emails=customer.emails,
        tags=customer.tags,
        vip_level=customer.vip_level,
        owner_agent_id=customer.owner_agent_id,
        custom_fields=customer.custom_fields,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        version=customer.version,
    )


def _nearest_due(row: OpenTicketRow) -> datetime | None:
    dues: list[datetime] = []
    for clock in (row.response_clock, row.resolution_clock):
        if clock and clock.get("met_at") is None and clock.get("running_since") is not None:
            due = clock.get("due_at")
            if due is not None:
                dues.append(datetime.fromisoformat(due))
    return min(dues, default=None)


def cached_customer(
    snapshot: CustomerSnapshot, *, open_ticket_limit: int, contact_limit: int
) -> CachedCustomer:
    """What the look-up cache keeps of a customer read from the database."""
    record = snapshot.record
    customer = record.customer
    return CachedCustomer(
        card=CustomerCard(
            id=customer.id,
            name=customer.name,
            company=record.company,
            lifecycle=record.lifecycle,
            vip_level=customer.vip_level,
            owner_agent_id=customer.owner_agent_id,
            tags=customer.tags,
        ),
        phones=frozenset(customer.phones),
        open_tickets=tuple(
            OpenTicketSummary(
                id=row.id,
                number=row.number,
                subject=row.subject,
                status=TicketStatus(row.status),
                priority=Priority(row.priority),
                due_at=_nearest_due(row),
            )
            for row in snapshot.open_tickets
        ),
        contacts=tuple(snapshot.contacts),
        open_ticket_limit=open_ticket_limit,
        contact_limit=contact_limit,
    )


def _answer(
    number: str, entry: CachedCustomer, *, open_tickets: int, contacts: int
) -> CustomerLookup:
    """The look-up's reply from an entry (parts already validated: built unchecked)."""
    return CustomerLookup.model_construct(
        phone_number=number,
        found=True,
        customer=entry.card,
        open_tickets=list(entry.open_tickets[:open_tickets]),
        recent_contacts=list(entry.contacts[:contacts]),
    )


class CustomersService:
    """The CRM: customers, their numbers (with the in-process index), notes, history, merge.

    Look-ups are answered from the in-process `LookupCache` when it holds the customer;
    the store tells it (after commit) which customers each transaction touched."""

    def __init__(
        self,
        store: TicketsStore,
        notifier: TicketsNotifier,
        index: PhoneIndex,
        settings: TenantSettingsReader,
        *,
        clock: Clock = utc_now,
        check_agents: bool = True,
        cache: LookupCache | None = None,
        fill_open_tickets: int = 10,
        fill_contacts: int = 5,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._index = index
        self._settings = settings
        self._clock = clock
        self._check_agents = check_agents
        self.cache = (
            cache if cache is not None else LookupCache(max_entries=0, max_bytes=0, ttl_s=1.0)
        )
        self._fill_open_tickets = fill_open_tickets
        self._fill_contacts = fill_contacts
        store.on_customers_changed(self.cache.apply_change)

    # the look-up cache

    async def _fill(
        self, tenant_id: str, customer_id: str, *, open_tickets: int, contacts: int
    ) -> CachedCustomer | None:
        """Read a customer for the cache (at least the configured limits) and keep it."""
        ticket_limit = max(open_tickets, self._fill_open_tickets)
        contact_limit = max(contacts, self._fill_contacts)
        epoch = self.cache.epoch()
        snapshot = await self._store.customer_snapshot(
            tenant_id, customer_id, open_tickets=ticket_limit, contacts=contact_limit
        )
        if snapshot is None:
            return None
        entry = cached_customer(
            snapshot, open_ticket_limit=ticket_limit, contact_limit=contact_limit
        )
        self.cache.put(tenant_id, entry, epoch=epoch)
        return entry

    async def warm_cache(self, limit: int) -> int:
        """Fill the cache with the `limit` customers most recently in contact; how many."""
        if limit <= 0 or not self.cache.enabled:
            return 0
        async with self._store.platform() as platform:
            recent = await platform.recently_active_customers(limit)
        count = 0
        for tenant_id, customer_id in recent:
            if self.cache.get(tenant_id, customer_id) is None:
                entry = await self._fill(
                    tenant_id,
                    customer_id,
                    open_tickets=self._fill_open_tickets,
                    contacts=self._fill_contacts,
                )
                count += entry is not None
        return count

    def forget_customers(self, tenant_id: str, customer_ids: Iterable[str]) -> None:
        """Another instance changed these customers: drop them from the cache."""
        self.cache.invalidate(tenant_id, customer_ids)

    async def forget_ticket_customer(self, tenant_id: str, ticket_id: str) -> None:
        """Another instance changed a ticket: drop its customer from the cache."""
        async with self._store.tenant(tenant_id) as repo:
            ticket = await repo.ticket(ticket_id)
        if ticket is not None and ticket.customer_id is not None:
            self.cache.invalidate(tenant_id, [ticket.customer_id])

    # the phone-number index

    async def warm_index(self) -> int:
        """Load every number's owner into the index; how many numbers."""
        self._index.clear()
        count = 0
        async with self._store.platform() as platform:
            async for chunk in platform.phone_owners():
                count += self._index.load(chunk)
        self._index.warmed = True
        return count

    async def _refresh_numbers(self, repo: TicketsRepository, phones: Iterable[str]) -> None:
        """Recompute the owners of `phones`; the index takes them once committed."""
        numbers = tuple(set(phones))
        if not numbers:
            return
        owners = await repo.phone_owners(numbers)
        tenant_id = repo.tenant_id
        repo.after_commit(lambda: self._index.apply(tenant_id, numbers, owners))

    async def refresh_customer_numbers(self, tenant_id: str, customer_id: str) -> None:
        """Another instance changed this customer: take its numbers' owners from the database."""
        async with self._store.tenant(tenant_id) as repo:
            record = await repo.customer(customer_id)
            if record is not None:
                await self._refresh_numbers(repo, record.customer.phones)

    async def refresh_numbers(self, tenant_id: str, phones: Iterable[str]) -> None:
        async with self._store.tenant(tenant_id) as repo:
            await self._refresh_numbers(repo, phones)

    async def owner_of(self, repo: TicketsRepository, number: str) -> CustomerRecord | None:
        """The customer a number (E.164) belongs to: the index, checked against the record
        (so an entry made stale by another instance is caught), else the database."""
        tenant_id = repo.tenant_id
        cached = self._index.get(tenant_id, number)
        if cached is not None:
            record = await repo.customer(cached)
            if record is not None and number in record.customer.phones:
                return record
            self._index.forget(tenant_id, number)
        owners = await repo.phone_owners([number])
        owner = owners.get(number)
        if owner is None:
            return None
        self._index.apply(tenant_id, [number], owners)
        return await repo.customer(owner)

    async def normalize_number(
        self, repo: TicketsRepository, raw: str, *, field: str = "phone_number"
    ) -> str:
        if len(raw) > 64:
            raise ValidationFailed(
                "a phone number has at most 64 characters",
                field=field,
                error_id="invalid-phone-number",
            )
        if raw.strip().startswith("+"):
            return normalize_phone(raw, field=field)
        region = (await self._settings.get(repo)).default_region
        return normalize_phone(raw, default_region=region, field=field)

    async def lookup(
        self, tenant_id: str, raw_number: str, *, contacts: int = 5, open_tickets: int = 10
    ) -> CustomerLookup:
        """Who is calling: card, open tickets and latest contacts (screen pop, routing).

        The number's owner comes from the in-process index; the record read with it must
        still carry the number (another instance may have changed it), else the owner is
        asked of the database and the index corrected.
        """
        check_tenant_id(tenant_id)
        if raw_number.strip().startswith("+") and len(raw_number) <= 64:
            number = normalize_phone(raw_number, field="phone_number")
        else:
            async with self._store.tenant(tenant_id) as repo:
                number = await self.normalize_number(repo, raw_number)
        limits = {"open_tickets": open_tickets, "contacts": contacts}
        entry = None
        cached = self._index.get(tenant_id, number)
        if cached is not None:
            entry = self.cache.get(tenant_id, cached)
            if entry is not None and number in entry.phones and entry.covers(**limits):
                return _answer(number, entry, **limits)
            entry = await self._fill(tenant_id, cached, **limits)
            if entry is None or number not in entry.phones:
                self._index.forget(tenant_id, number)
                entry = None
        elif self.cache.is_unknown(tenant_id, number):
            return CustomerLookup(phone_number=number, found=False)
        if entry is None:
            generation = self.cache.unknown_generation(tenant_id)
            async with self._store.tenant(tenant_id) as repo:
                owners = await repo.phone_owners([number])
            self._index.apply(tenant_id, [number], owners)
            owner = owners.get(number)
            if owner is None:
                self.cache.put_unknown(tenant_id, number, generation=generation)
            else:
                entry = await self._fill(tenant_id, owner, **limits)
        if entry is None:
            return CustomerLookup(phone_number=number, found=False)
        return _answer(number, entry, **limits)

    # customers

    async def create(self, tenant_id: str, body: CustomerCreate) -> CustomerPublic:
        async with self._store.tenant(tenant_id) as repo:
            settings = await self._settings.get(repo)
            if body.owner_agent_id is not None:
                await check_agent(
                    repo, body.owner_agent_id, "owner_agent_id", enabled=self._check_agents
                )
            customer = build_customer(
                body.draft(),
                customer_id=new_id(),
                tenant_id=tenant_id,
                at=self._clock(),
                field_definitions=await repo.custom_fields(),
                default_region=settings.default_region,
            )
            record = CustomerRecord(customer, body.company.strip(), body.lifecycle)
            await self._insert(repo, record)
        return customer_public(record)

    async def _insert(self, repo: TicketsRepository, record: CustomerRecord) -> None:
        await repo.insert_customer(record)
        await self._notifier.customer_created(repo.session, record.customer)
        await self._refresh_numbers(repo, record.customer.phones)

    async def owner_or_lead(
        self, repo: TicketsRepository, number: str, *, name: str, at: datetime
    ) -> str:
        """The customer of a number, or a new LEAD record for an unknown caller."""
        record = await self.owner_of(repo, number)
        if record is not None:
            return record.id
        lead = build_customer(
            CustomerDraft(name=name.strip()[:200], phones=(number,)),
            customer_id=new_id(),
            tenant_id=repo.tenant_id,
            at=at,
        )
        await self._insert(repo, CustomerRecord(lead, "", "lead"))
        return lead.id

    async def get(self, tenant_id: str, customer_id: str) -> CustomerPublic:
        async with self._store.tenant(tenant_id) as repo:
            return customer_public(await self._customer(repo, customer_id))

    async def _customer(
        self, repo: TicketsRepository, customer_id: str, *, for_update: bool = False
    ) -> CustomerRecord:
        record = await repo.customer(customer_id, for_update=for_update)
        if record is None:
            raise _no_such("customer", customer_id)
        return record

    async def find(
        self,
        tenant_id: str,
        *,
        text: str | None = None,
        phone: str | None = None,
        owner_agent_id: str | None = None,
        lifecycle: Lifecycle | None = None,
        limit: int = 25,
        cursor: str | None = None,
    ) -> CustomerPage:
        after = _decode_cursor(cursor)
        async with self._store.tenant(tenant_id) as repo:
            number = (
                await self.normalize_number(repo, phone, field="phone")
                if phone is not None
                else None
            )
            records = await repo.list_customers(
                CustomerFilter(
                    text=text, phone=number, owner_agent_id=owner_agent_id, lifecycle=lifecycle
                ),
                limit=limit + 1,
                after=after,
            )
        page = records[:limit]
        next_cursor = None
        if len(records) > limit:
            last = page[-1].customer
            next_cursor = TicketCursor(created_at=last.created_at, ticket_id=last.id).encode()
        return CustomerPage(items=[customer_public(r) for r in page], next_cursor=next_cursor)

    async def update(
        self, tenant_id: str, customer_id: str, body: CustomerUpdate
    ) -> CustomerPublic:
        async with self._store.tenant(tenant_id) as repo:
            current = await self._customer(repo, customer_id, for_update=True)
            ensure_version(
                "customer", customer_id, expected=body.version, actual=current.customer.version
            )
            if body.owner_agent_id is not None:
                await check_agent(
                    repo, body.owner_agent_id, "owner_agent_id", enabled=self._check_agents
                )
            settings = await self._settings.get(repo)
            customer = apply_customer_patch(
                current.customer,
                body.patch(),
                at=_later_of(self._clock(), current.customer.updated_at),
                field_definitions=await repo.custom_fields(),
                default_region=settings.default_region,
            )
            record = CustomerRecord(
                customer,
                body.company.strip() if body.company is not None else current.company,
                body.lifecycle or current.lifecycle,
            )
            if not await repo.update_customer(record, expected_version=current.customer.version):
                raise _version_moved("customer", customer_id, body.version)
            await self._refresh_numbers(repo, (*current.customer.phones, *customer.phones))
        return customer_public(record)

    async def delete(self, tenant_id: str, customer_id: str, *, version: int | None) -> None:
        """Delete a record with its notes and history; its tickets stay, detached."""
        async with self._store.tenant(tenant_id) as repo:
            current = await self._customer(repo, customer_id, for_update=True)
            if version is not None:
                ensure_version(
                    "customer", customer_id, expected=version, actual=current.customer.version
                )
            await repo.reassign_tickets_customer(from_id=customer_id, to_id=None, at=self._clock())
            await repo.delete_customer(customer_id)
            await self._refresh_numbers(repo, current.customer.phones)

    async def merge(self, tenant_id: str, body: MergeRequest) -> MergeOutcome:
        at = self._clock()
        async with self._store.tenant(tenant_id) as repo:
            first_id, second_id = sorted(body.customer_ids)
            first = await self._customer(repo, first_id, for_update=True)
            second = await self._customer(repo, second_id, for_update=True)
            result = merge_customers(
                first.customer,
                second.customer,
                at=_later_of(at, max(first.customer.updated_at, second.customer.updated_at)),
                conflict_policy=body.conflict_policy,
                resolutions=body.resolutions,
            )
            survivor, merged = (
                (first, second) if result.report.survivor_id == first.id else (second, first)
            )
            record = CustomerRecord(
                result.survivor,
                survivor.company or merged.company,
                "lead" if survivor.is_lead and merged.is_lead else "customer",
            )
            if not await repo.update_customer(record, expected_version=survivor.customer.version):
                raise _version_moved("customer", survivor.id, survivor.customer.version)
            await repo.move_customer_data(from_id=merged.id, to_id=survivor.id, at=at)
            await repo.delete_customer(merged.id)
            await self._notifier.customer_merged(repo.session, tenant_id, result.report, at)
            await self._refresh_numbers(repo, (*survivor.customer.phones, *merged.customer.phones))
        return MergeOutcome(survivor=customer_public(record), report=result.report)

    # notes and history

    async def add_note(
        self, tenant_id: str, customer_id: str, body: NoteCreate, *, author_id: str | None
    ) -> NotePublic:
        note = NotePublic(
            id=new_id(),
            customer_id=customer_id,
            author_id=author_id,
            body=body.body,
            created_at=self._clock(),
        )
        async with self._store.tenant(tenant_id) as repo:
            await self._customer(repo, customer_id)
            await repo.insert_note(note)
        return note

    async def notes(self, tenant_id: str, customer_id: str) -> list[NotePublic]:
        async with self._store.tenant(tenant_id) as repo:
            await self._customer(repo, customer_id)
            return await repo.notes(customer_id)

    async def delete_note(self, tenant_id: str, customer_id: str, note_id: str) -> None:
        async with self._store.tenant(tenant_id) as repo:
            await self._customer(repo, customer_id)
            if not await repo.delete_note(customer_id, note_id):
                raise _no_such("note", note_id)

    async def history(
        self, tenant_id: str, customer_id: str, *, limit: int = 25, cursor: str | None = None
    ) -> ContactPage:
        after = _decode_cursor(cursor)
        async with self._store.tenant(tenant_id) as repo:
            await self._customer(repo, customer_id)
            entries = await repo.contacts(customer_id, limit=limit + 1, after=after)
        page = entries[:limit]
        next_cursor = None
        if len(entries) > limit:
            next_cursor = TicketCursor(created_at=page[-1].at, ticket_id=page[-1].id).encode()
        return ContactPage(items=list(page), next_cursor=next_cursor)


# -- tickets ------------------------------------------------------------------------------------


class TicketsService:
    """Tickets: opening, editing, workflow, comments, attachments, search, and the
    reminders and escalations the timer fires."""

    def __init__(
        self,
        store: TicketsStore,
        notifier: TicketsNotifier,
        settings: TenantSettingsReader,
        customers: CustomersService,
        *,
        clock: Clock = utc_now,
        check_agents: bool = True,
        wakeup_listener: Callable[[datetime], None] | None = None,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._settings = settings
        self._customers = customers
        self._clock = clock
        self._check_agents = check_agents
        self._wakeup_listener = wakeup_listener

    def set_wakeup_listener(self, listener: Callable[[datetime], None]) -> None:
        """Told the new wake-up time whenever a saved ticket needs the timer."""
        self._wakeup_listener = listener

    def _announce_wakeup(self, repo: TicketsRepository, at: datetime | None) -> None:
        listener = self._wakeup_listener
        if listener is not None and at is not None:
            repo.after_commit(lambda: listener(at))

    # references

    async def _check_category(self, repo: TicketsRepository, key: str) -> None:
        if key == BUILTIN_CATEGORY:
            return
        category = await repo.category(key)
        if category is None or not category.active:
            raise ValidationFailed(
                f"no active category {key!r} in this tenant",
                field="category",
                error_id="unknown-category",
                details={"category": key},
            )

    async def _check_department(self, repo: TicketsRepository, department_id: str) -> None:
        if await repo.department(department_id) is None:
            raise ValidationFailed(
                f"no department {department_id!r} in this tenant",
                field="department_id",
                error_id="unknown-department",
            )

    async def _check_customer(self, repo: TicketsRepository, customer_id: str) -> None:
        if await repo.customer(customer_id) is None:
            raise ValidationFailed(
                f"no customer {customer_id!r} in this tenant",
                field="customer_id",
                error_id="unknown-customer",
            )

    async def _ticket(
        self, repo: TicketsRepository, ticket_id: str, *, for_update: bool = False
    ) -> Ticket:
        ticket = await repo.ticket(ticket_id, for_update=for_update)
        if ticket is None:
            raise _no_such("ticket", ticket_id)
        return ticket

    # opening

    async def create(self, tenant_id: str, body: TicketCreate) -> TicketPublic:
        async with self._store.tenant(tenant_id) as repo:
            await self._check_category(repo, body.category)
            if body.department_id is not None:
                await self._check_department(repo, body.department_id)
            if body.assignee_id is not None:
                await check_agent(repo, body.assignee_id, "assignee_id", enabled=self._check_agents)
            customer_id = body.customer_id
            if customer_id is not None:
                await self._check_customer(repo, customer_id)
            elif body.origin_call_id is not None:
                customer_id = await repo.customer_of_call(body.origin_call_id)
            ticket = await self._open(repo, body.draft(customer_id=customer_id))
        return TicketPublic.of(ticket)

    async def _open(self, repo: TicketsRepository, draft: TicketDraft) -> Ticket:
        settings = await self._settings.get(repo)
        ticket = open_ticket(
            draft,
            ticket_id=new_id(),
            tenant_id=repo.tenant_id,
            sequence=await repo.next_sequence(),
            at=self._clock(),
            policy=settings.policy,
        )
        wake = next_wakeup(ticket, set())
        await repo.insert_ticket(ticket, next_wakeup_at=wake)
        await self._notifier.ticket_created(repo.session, ticket)
        await self._record_milestone(repo, ticket, "created")
        self._announce_wakeup(repo, wake)
        return ticket

    async def open_for_voicemail(
        self, repo: TicketsRepository, event: VoicemailLeft, *, customer_id: str | None
    ) -> Ticket:
        """A caller left a message that asks for a ticket: open one with the recording."""
        draft = TicketDraft(
            subject=f"Voicemail from {event.caller_number}"[:200],
            description=f"Voicemail left in mailbox {event.mailbox} "
            f"({event.duration_ms // 1000} s).",
            customer_id=customer_id,
            origin_call_id=event.call_id,
        )
        ticket = await self._open(repo, draft)
        await repo.insert_attachment(
            AttachmentPublic(
                id=new_id(),
                ticket_id=ticket.id,
                kind="recording",
                recording_id=event.recording_path[:512],
                url=None,
                title="voicemail",
                created_by=None,
                created_at=ticket.created_at,
            )
        )
        return ticket

    async def _record_milestone(
        self, repo: TicketsRepository, ticket: Ticket, event: Milestone
    ) -> None:
        """A ticket milestone in its customer's contact history."""
        if ticket.customer_id is None:
            return
        entry = TicketContact(
            id=new_id(),
            tenant_id=ticket.tenant_id,
            customer_id=ticket.customer_id,
            at=ticket.updated_at,
            ticket_id=ticket.id,
            ticket_number=ticket.number,
            event=event,
        )
        await repo.add_contact(
            entry, ref=f"{ticket.id}:{event}:{ticket.version}", customer_id=ticket.customer_id
        )

    async def _save(self, repo: TicketsRepository, before: Ticket, after: Ticket) -> None:
        """Store a change (if any), announce it, and move the ticket's wake-up time."""
        if after is before:
            return
        repo.touch_customers(before.customer_id)
        fired = await repo.fired_keys(after.id)
        wake = next_wakeup(after, fired)
        if not await repo.update_ticket(
            after, expected_version=before.version, next_wakeup_at=wake
        ):
            raise _version_moved("ticket", after.id, before.version)
        await self._notifier.ticket_changed(repo.session, before, after)
        milestone = _MILESTONES.get(after.status)
        if after.status != before.status and milestone is not None:
            await self._record_milestone(repo, after, milestone)
        self._announce_wakeup(repo, wake)

    # reading

    async def get(self, tenant_id: str, ticket_id: str) -> TicketPublic:
        async with self._store.tenant(tenant_id) as repo:
            return TicketPublic.of(await self._ticket(repo, ticket_id))

    async def search(self, tenant_id: str, query: TicketSearchQuery) -> TicketPage:
        words = normalize_text_query(query.text) if query.text is not None else []
        if query.text is not None and not words:
            raise ValidationFailed(
                "search text needs at least one word", field="text", error_id="empty-search-text"
            )
        async with self._store.tenant(tenant_id) as repo:
            sequence = None
            if query.number is not None:
                settings = await self._settings.get(repo)
                try:
                    sequence = settings.policy.numbering.parse(query.number)
                except ValidationFailed:
                    sequence = None
            rows = await repo.search_tickets(query, sequence=sequence, words=words)
        items = rows[: query.size]
        has_more = len(rows) > query.size
        next_cursor = None
        if has_more and query.page is None:
            next_cursor = TicketCursor(
                created_at=items[-1].created_at, ticket_id=items[-1].id
            ).encode()
        return TicketPage(
            items=[TicketPublic.of(ticket) for ticket in items],
            next_cursor=next_cursor,
            has_more=has_more,
            page=query.page,
            size=query.size,
        )

    # changing

    async def update(self, tenant_id: str, ticket_id: str, body: TicketUpdate) -> TicketPublic:
        async with self._store.tenant(tenant_id) as repo:
            before = await self._ticket(repo, ticket_id, for_update=True)
            ensure_version("ticket", ticket_id, expected=body.version, actual=before.version)
            if body.category is not None:
                await self._check_category(repo, body.category)
            if body.department_id is not None:
                await self._check_department(repo, body.department_id)
            if body.customer_id is not None:
                await self._check_customer(repo, body.customer_id)
            settings = await self._settings.get(repo)
            after = update_details(
                before,
                at=_later_of(self._clock(), before.updated_at),
                policy=settings.policy,
                subject=body.subject,
                description=body.description,
                category=body.category,
                department_id=body.department_id,
                customer_id=body.customer_id,
                urgency=body.urgency,
                impact=body.impact,
                priority=body.priority,
            )
            await self._save(repo, before, after)
        return TicketPublic.of(after)

    async def transition(
        self, tenant_id: str, ticket_id: str, body: TransitionRequest
    ) -> TicketPublic:
        async with self._store.tenant(tenant_id) as repo:
            before = await self._ticket(repo, ticket_id, for_update=True)
            if body.version is not None:
                ensure_version("ticket", ticket_id, expected=body.version, actual=before.version)
            if body.assignee_id is not None:
                await check_agent(repo, body.assignee_id, "assignee_id", enabled=self._check_agents)
            settings = await self._settings.get(repo)
            after = change_status(
                before,
                body.status,
                at=_later_of(self._clock(), before.updated_at),
                policy=settings.policy,
                assignee_id=body.assignee_id,
                resolution=body.resolution,
                during_call_id=body.during_call_id,
            )
            await self._save(repo, before, after)
        return TicketPublic.of(after)

    async def assign(self, tenant_id: str, ticket_id: str, body: AssignRequest) -> TicketPublic:
        async with self._store.tenant(tenant_id) as repo:
            before = await self._ticket(repo, ticket_id, for_update=True)
            if body.version is not None:
                ensure_version("ticket", ticket_id, expected=body.version, actual=before.version)
            await check_agent(repo, body.assignee_id, "assignee_id", enabled=self._check_agents)
            settings = await self._settings.get(repo)
            after = assign(
                before,
                body.assignee_id,
                at=_later_of(self._clock(), before.updated_at),
                policy=settings.policy,
            )
            await self._save(repo, before, after)
        return TicketPublic.of(after)

    async def call_ended(self, repo: TicketsRepository, call_id: str, ended_at: datetime) -> None:
        """The call a ticket was opened from hung up (first-contact resolution needs it)."""
        for before in await repo.tickets_of_call(call_id):
            after = record_call_ended(before, call_id=call_id, ended_at=ended_at)
            await self._save(repo, before, after)

    # comments and attachments

    async def add_comment(
        self, tenant_id: str, ticket_id: str, body: CommentCreate, *, author_id: str | None
    ) -> CommentPublic:
        """A comment; a public one is the first response to the customer if none was yet."""
        async with self._store.tenant(tenant_id) as repo:
            before = await self._ticket(repo, ticket_id, for_update=not body.internal)
            at = _later_of(self._clock(), before.updated_at)
            comment = CommentPublic(
                id=new_id(),
                ticket_id=ticket_id,
                author_id=author_id,
                body=body.body,
                internal=body.internal,
                created_at=at,
            )
            await repo.insert_comment(comment)
            if not body.internal:
                settings = await self._settings.get(repo)
                after = record_first_response(before, at=at, policy=settings.policy)
                await self._save(repo, before, after)
        return comment

    async def comments(self, tenant_id: str, ticket_id: str) -> list[CommentPublic]:
        async with self._store.tenant(tenant_id) as repo:
            await self._ticket(repo, ticket_id)
            return await repo.comments(ticket_id)

    async def add_attachment(
        self, tenant_id: str, ticket_id: str, body: AttachmentCreate, *, author_id: str | None
    ) -> AttachmentPublic:
        attachment = AttachmentPublic(
            id=new_id(),
            ticket_id=ticket_id,
            kind=body.kind,
            recording_id=body.recording_id,
            url=body.url,
            title=body.title,
            created_by=author_id,
            created_at=self._clock(),
        )
        async with self._store.tenant(tenant_id) as repo:
            await self._ticket(repo, ticket_id)
            await repo.insert_attachment(attachment)
        return attachment

    async def attachments(self, tenant_id: str, ticket_id: str) -> list[AttachmentPublic]:
        async with self._store.tenant(tenant_id) as repo:
            await self._ticket(repo, ticket_id)
            return await repo.attachments(ticket_id)

    async def delete_attachment(self, tenant_id: str, ticket_id: str, attachment_id: str) -> None:
        async with self._store.tenant(tenant_id) as repo:
            await self._ticket(repo, ticket_id)
            if not await repo.delete_attachment(ticket_id, attachment_id):
                raise _no_such("attachment", attachment_id)

    # reminders and escalations

    async def fire_due_actions(self, tenant_id: str, ticket_id: str, now: datetime) -> int:
        """Fire what is due on one ticket, each action at most once; how many fired.

        The ticket row is locked (skipped if another instance holds it) and every action
        key is inserted under a unique constraint before its notification and event, in the
        same transaction: a crash or a concurrent timer can repeat the attempt, never the
        action.
        """
        async with self._store.tenant(tenant_id) as repo:
            ticket = await repo.claim_due_ticket(ticket_id, now)
            if ticket is None:
                return 0
            fired = await repo.fired_keys(ticket.id)
            count = 0
            lead: str | None = None
            if ticket.department_id is not None:
                department = await repo.department(ticket.department_id)
                lead = department.lead_agent_id if department is not None else None
            for action in due_actions(ticket, now, fired):
                fired.add(action.key)
                if not await repo.claim_action(action.key, ticket.id, now):
                    continue
                recipient = {
                    "assignee": ticket.assignee_id,
                    "department_lead": lead,
                    "tenant_admin": None,
                }[action.notify]
                notification = NotificationPublic(
                    id=new_id(),
                    ticket_id=ticket.id,
                    kind=action.kind,
                    clock=action.clock,
                    level=action.level,
                    notify=action.notify,
                    recipient_id=recipient,
                    due_at=action.due_at,
                    fire_at=action.fire_at,
                    created_at=now,
                    acknowledged_at=None,
                    acknowledged_by=None,
                )
                await repo.insert_notification(notification, key=action.key)
                await self._notifier.action_fired(repo.session, ticket, action, now)
                count += 1
            await repo.set_next_wakeup(ticket.id, next_wakeup(ticket, fired))
        return count

    async def notifications(
        self,
        tenant_id: str,
        *,
        recipient_id: str | None = None,
        ticket_id: str | None = None,
        unacknowledged: bool = False,
        limit: int = 50,
    ) -> list[NotificationPublic]:
        async with self._store.tenant(tenant_id) as repo:
            return await repo.notifications(
                recipient_id=recipient_id,
                ticket_id=ticket_id,
                unacknowledged=unacknowledged,
                limit=limit,
            )

    async def acknowledge(
        self, tenant_id: str, notification_id: str, *, by: str | None
    ) -> NotificationPublic:
        async with self._store.tenant(tenant_id) as repo:
            notification = await repo.acknowledge_notification(
                notification_id, by=by, at=self._clock()
            )
        if notification is None:
            raise _no_such("notification", notification_id)
        return notification


# -- consumed events ------------------------------------------------------------------------------


def survey_score(event: SurveyCompleted) -> int | None:
    """0-10 from the 1-5 scale answers (their mean, doubled); None without any."""
    values = [
        answer.value
        for answer in event.answers
        if answer.kind == "scale"
        and isinstance(answer.value, int)
        and not isinstance(answer.value, bool)
    ]
    if not values:
        return None
    return max(0, min(10, round(2 * sum(values) / len(values))))


def _event_id(value: str, field: str) -> str:
    """An id from an event, refused (for good: no retry heals it) when it is too long."""
    if not 1 <= len(value) <= MAX_EVENT_ID_LENGTH:
        raise ValidationFailed(
            f"{field} must have 1 to {MAX_EVENT_ID_LENGTH} characters",
            field=field,
            error_id="invalid-event-id",
        )
    return value


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What one event tells about a call."""

    at: datetime
    caller_number: str | None = None
    caller_name: str = ""
    direction: str | None = None
    queue_id: str | None = None
    agent_id: str | None = None
    duration: timedelta | None = None
    disposition: str | None = None
    default_disposition: str | None = None
    recording_id: str | None = None


class ContactHistoryService:
    """Turns call, queue, survey and voicemail events into contact history, and user events
    into the agent directory. Each event is handled once (its id is claimed in the same
    transaction as its effects)."""

    def __init__(
        self,
        store: TicketsStore,
        customers: CustomersService,
        tickets: TicketsService,
        settings: TenantSettingsReader,
        *,
        processed: SqlProcessedEvents | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._customers = customers
        self._tickets = tickets
        self._settings = settings
        self._processed = processed
        self._clock = clock

    async def handle(self, envelope: Envelope) -> None:
        """Consumer entry point: events the service does not use are ignored."""
        try:
            payload = envelope.payload()
        except ValidationFailed as exc:
            if exc.error_id == "unknown-event-type":
                return
            raise
        if isinstance(payload, CallArrived):
            facts = CallFacts(
                at=payload.arrived_at,
                caller_number=payload.caller_number,
                caller_name=payload.caller_name,
                direction=payload.direction,
            )
            await self._call_event(envelope, payload.call_id, facts)
        elif isinstance(payload, CallEnqueued):
            facts = CallFacts(
                at=payload.enqueued_at,
                caller_number=payload.caller_number or None,
                queue_id=payload.queue_id,
            )
            await self._call_event(envelope, payload.call_id, facts)
        elif isinstance(payload, QueueCallAnswered):
            facts = CallFacts(
                at=payload.answered_at, queue_id=payload.queue_id, agent_id=payload.agent_id
            )
            await self._call_event(envelope, payload.call_id, facts)
        elif isinstance(payload, CallAbandoned):
            facts = CallFacts(
                at=payload.abandoned_at, queue_id=payload.queue_id, default_disposition="abandoned"
            )
            await self._call_event(envelope, payload.call_id, facts)
        elif isinstance(payload, CallRecordingStopped):
            facts = CallFacts(at=envelope.time, recording_id=payload.path[:512])
            await self._call_event(envelope, payload.call_id, facts)
        elif isinstance(payload, CallEnded):
            duration = timedelta(seconds=payload.duration_s)
            facts = CallFacts(at=payload.ended_at - duration, duration=duration)
            await self._call_event(envelope, payload.call_id, facts, ended_at=payload.ended_at)
        elif isinstance(payload, SurveyCompleted):
            await self._survey(envelope, payload)
        elif isinstance(payload, VoicemailLeft):
            if payload.open_ticket:
                await self._voicemail(envelope, payload)
        elif isinstance(payload, UserCreated | UserUpdated):
            await self._agent_saved(envelope, payload)
        elif isinstance(payload, UserDeleted):
            await self._agent_deleted(envelope, payload)

    async def _claim(self, repo: TicketsRepository, event_id: str) -> bool:
        if self._processed is None:
            return True
        return await self._processed.claim(repo.session, event_id)

    async def _call_event(
        self,
        envelope: Envelope,
        call_id: str,
        facts: CallFacts,
        *,
        ended_at: datetime | None = None,
    ) -> None:
        async with self._store.tenant(envelope.tenant) as repo:
            if not await self._claim(repo, envelope.id):
                return
            await self._merge_call(repo, _event_id(call_id, "call_id"), facts)
            if ended_at is not None:
                await self._tickets.call_ended(repo, call_id, ended_at)

    async def _merge_call(self, repo: TicketsRepository, call_id: str, facts: CallFacts) -> None:
        """Fold one event's facts into the call's history row (events come in any order)."""
        row = await repo.ensure_call_row(call_id, at=facts.at)
        data: dict[str, Any] = dict(row.data)
        for name in ("direction", "queue_id", "agent_id", "disposition", "recording_id"):
            value = getattr(facts, name)
            if value is not None:
                data[name] = value
        if facts.default_disposition is not None and not data.get("disposition"):
            data["disposition"] = facts.default_disposition
        if facts.duration is not None:
            data["duration"] = facts.duration.total_seconds()
        customer_id: str | None = row.customer_id
        number: str | None = row.caller_number
        if customer_id is None and facts.caller_number:
            region = (await self._settings.get(repo)).default_region
            e164 = try_normalize_phone(facts.caller_number, default_region=region)
            number = e164 or facts.caller_number[:64]
            if e164 is not None:
                customer_id = await self._customers.owner_or_lead(
                    repo, e164, name=facts.caller_name, at=facts.at
                )
                await repo.attach_call_surveys(call_id, customer_id)
        entry = parse_contact(
            {
                **data,
                "kind": "call",
                "id": row.id,
                "tenant_id": repo.tenant_id,
                "customer_id": customer_id or "unknown",
                "at": min(row.at, facts.at),
                "call_id": call_id,
            }
        )
        await repo.update_call_row(
            row.id,
            at=entry.at,
            data=entry.model_dump(
                mode="json", exclude={"id", "tenant_id", "customer_id", "at", "kind"}
            ),
            customer_id=customer_id,
            caller_number=number,
            updated_at=self._clock(),
        )

    async def set_disposition(self, tenant_id: str, call_id: str, disposition: str) -> None:
        """The agent's wrap-up code for a call (REST, until a wrap-up event exists)."""
        async with self._store.tenant(tenant_id) as repo:
            await self._merge_call(
                repo,
                _event_id(call_id, "call_id"),
                CallFacts(at=self._clock(), disposition=disposition),
            )

    async def _survey(self, envelope: Envelope, event: SurveyCompleted) -> None:
        async with self._store.tenant(envelope.tenant) as repo:
            if not await self._claim(repo, envelope.id):
                return
            call_id = _event_id(event.call_id, "call_id")
            survey_id = _event_id(event.survey_id, "survey_id")
            customer_id = await repo.customer_of_call(call_id)
            entry = parse_contact(
                {
                    "kind": "survey",
                    "id": new_id(),
                    "tenant_id": repo.tenant_id,
                    "customer_id": customer_id or "unknown",
                    "at": event.completed_at,
                    "survey_id": survey_id,
                    "call_id": call_id,
                    "score": survey_score(event),
                }
            )
            await repo.add_contact(entry, ref=f"{call_id}:{survey_id}", customer_id=customer_id)

    async def _voicemail(self, envelope: Envelope, event: VoicemailLeft) -> None:
        async with self._store.tenant(envelope.tenant) as repo:
            if not await self._claim(repo, envelope.id):
                return
            region = (await self._settings.get(repo)).default_region
            number = try_normalize_phone(event.caller_number, default_region=region)
            customer_id = None
            if number is not None:
                customer_id = await self._customers.owner_or_lead(
                    repo, number, name="", at=event.left_at
                )
            _event_id(event.call_id, "call_id")
            await self._tickets.open_for_voicemail(repo, event, customer_id=customer_id)

    async def _agent_saved(self, envelope: Envelope, event: UserCreated | UserUpdated) -> None:
        async with self._store.tenant(envelope.tenant) as repo:
            if not await self._claim(repo, envelope.id):
                return
            await repo.save_agent(
                event.user_id, event.display_name or event.username, event.enabled, self._clock()
            )

    async def _agent_deleted(self, envelope: Envelope, event: UserDeleted) -> None:
        async with self._store.tenant(envelope.tenant) as repo:
            if not await self._claim(repo, envelope.id):
                return
            await repo.delete_agent(event.user_id)


_TICKET_CHANGES: tuple[str, ...] = (
    TicketAssigned.EVENT_TYPE,
    TicketStatusChanged.EVENT_TYPE,
    TicketResolved.EVENT_TYPE,
    TicketClosed.EVENT_TYPE,
)


class PhoneIndexListener:
    """Keeps this instance's phone-number index and look-up cache current with other
    instances' writes (customer and ticket events on the tickets topic, consumed by every
    instance). Writes without an event (customer edit, delete, contact history) reach the
    cache through the database's change notifications (`ChangeListener`)."""

    def __init__(self, customers: CustomersService) -> None:
        self._customers = customers

    async def handle(self, envelope: Envelope) -> None:
        if envelope.type == CustomerCreated.EVENT_TYPE:
            created = envelope.payload_as(CustomerCreated)
            await self._customers.refresh_numbers(envelope.tenant, created.phones)
        elif envelope.type == CustomerMerged.EVENT_TYPE:
            merged = envelope.payload_as(CustomerMerged)
            self._customers.forget_customers(
                envelope.tenant, [merged.survivor_id, merged.merged_id]
            )
            await self._customers.refresh_customer_numbers(envelope.tenant, merged.survivor_id)
        elif envelope.type == TicketCreated.EVENT_TYPE:
            ticket = envelope.payload_as(TicketCreated)
            if ticket.customer_id is not None:
                self._customers.forget_customers(envelope.tenant, [ticket.customer_id])
        elif envelope.type in _TICKET_CHANGES:
            ticket_id = str(envelope.data.get("ticket_id", ""))
            if ticket_id:
                await self._customers.forget_ticket_customer(envelope.tenant, ticket_id)
