"""REST API of the tickets service (`/v1/...`): parse, check permission, call the service.

Every route acts for the caller's tenant (from the token or API key); another tenant's
records answer 404 exactly like unknown ones. Permissions: `customers:read|write`,
`tickets:read|write`, and `tickets:configure` for the tenant's ticket configuration
(settings, SLA policy, departments, categories, customer custom fields).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from switchboard_common.auth import Principal, require
from switchboard_tickets.domain import CustomFieldDefinition, TicketSearchQuery
from switchboard_tickets.schemas import (
    CATEGORY_PATTERN,
    FIELD_KEY_PATTERN,
    ID_PATTERN,
    AssignRequest,
    AttachmentCreate,
    AttachmentPublic,
    CategoryCreate,
    CategoryPublic,
    CategoryUpdate,
    CommentCreate,
    CommentPublic,
    ContactPage,
    CustomerCreate,
    CustomerLookup,
    CustomerPage,
    CustomerPublic,
    CustomerUpdate,
    CustomFieldBody,
    DepartmentCreate,
    DepartmentPublic,
    DepartmentUpdate,
    DispositionUpdate,
    Lifecycle,
    MergeOutcome,
    MergeRequest,
    NoteCreate,
    NotePublic,
    NotificationPublic,
    SlaPolicyUpdate,
    TicketCreate,
    TicketPage,
    TicketPublic,
    TicketSettingsPublic,
    TicketSettingsUpdate,
    TicketUpdate,
    TransitionRequest,
    check_storable,
)
from switchboard_tickets.services import (
    ConfigurationService,
    ContactHistoryService,
    CustomersService,
    TicketsService,
)

READ_CUSTOMERS = "customers:read"
WRITE_CUSTOMERS = "customers:write"
READ_TICKETS = "tickets:read"
WRITE_TICKETS = "tickets:write"
CONFIGURE_TICKETS = "tickets:configure"

EntityPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
CallPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
CategoryPath = Annotated[str, Path(pattern=CATEGORY_PATTERN)]
FieldKeyPath = Annotated[str, Path(pattern=FIELD_KEY_PATTERN)]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=128, pattern=ID_PATTERN)]
CursorQuery = Annotated[str | None, Query(max_length=512)]


class ErrorBody(BaseModel):
    """Every error: a stable id, a message, and details naming the field at fault."""

    error: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422)
}


async def _storable_query(request: Request) -> None:
    """422 `invalid-text` for query parameters the database could not store."""
    for name, value in request.query_params.multi_items():
        check_storable(value, name)


def _author(principal: Principal) -> str | None:
    return principal.user_id or principal.api_key_id


def _tenant(principal: Principal) -> str:
    assert principal.tenant_id is not None, "tenant principals always carry a tenant"
    return principal.tenant_id


@dataclass(frozen=True, slots=True)
class ApiServices:
    customers: CustomersService
    tickets: TicketsService
    configuration: ConfigurationService
    contacts: ContactHistoryService
    lookup_contacts: int = 5
    lookup_open_tickets: int = 10


def build_router(services: ApiServices) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(_storable_query)], responses=_ERRORS)
    router.include_router(_customer_routes(services))
    router.include_router(_ticket_routes(services))
    router.include_router(_configuration_routes(services))
    return router


def _customer_routes(services: ApiServices) -> APIRouter:
    customers = services.customers
    reader = Annotated[Principal, Depends(require(READ_CUSTOMERS))]
    writer = Annotated[Principal, Depends(require(WRITE_CUSTOMERS))]
    router = APIRouter(tags=["customers"])

    @router.post("/customers", status_code=status.HTTP_201_CREATED)
    async def create_customer(body: CustomerCreate, principal: writer) -> CustomerPublic:
        """Create a customer (phone numbers in E.164, or national with the tenant's region)."""
        return await customers.create(_tenant(principal), body)

    @router.get("/customers")
    async def list_customers(
        principal: reader,
        q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        phone: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        owner_agent_id: IdQuery = None,
        lifecycle: Lifecycle | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 25,
        cursor: CursorQuery = None,
    ) -> CustomerPage:
        """Customers newest first; `q` matches name or company, `phone` any of the numbers."""
        return await customers.find(
            _tenant(principal),
            text=q,
            phone=phone,
            owner_agent_id=owner_agent_id,
            lifecycle=lifecycle,
            limit=limit,
            cursor=cursor,
        )

    @router.get("/customers/lookup")
    async def lookup_customer(
        principal: reader,
        phone_number: Annotated[str, Query(min_length=1, max_length=64)],
        contacts: Annotated[int, Query(ge=1, le=50)] = services.lookup_contacts,
        open_tickets: Annotated[int, Query(ge=1, le=100)] = services.lookup_open_tickets,
    ) -> CustomerLookup:
        """Who owns a number: the customer card, open tickets and latest contacts."""
        return await customers.lookup(
            _tenant(principal), phone_number, contacts=contacts, open_tickets=open_tickets
        )

    @router.post("/customers/merge")
    async def merge_customers(body: MergeRequest, principal: writer) -> MergeOutcome:
        """Merge two records of one customer into the older one, which keeps its id; notes,
        history and tickets move to it and the other record is deleted."""
        return await customers.merge(_tenant(principal), body)

    @router.get("/customers/{customer_id}")
    async def get_customer(customer_id: EntityPath, principal: reader) -> CustomerPublic:
        return await customers.get(_tenant(principal), customer_id)

    @router.patch("/customers/{customer_id}")
    async def update_customer(
        customer_id: EntityPath, body: CustomerUpdate, principal: writer
    ) -> CustomerPublic:
        """Change some fields; `version` must be the one read (else 409 version-conflict)."""
        return await customers.update(_tenant(principal), customer_id, body)

    @router.delete(
        "/customers/{customer_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
    )
    async def delete_customer(
        customer_id: EntityPath,
        principal: writer,
        version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    ) -> None:
        """Delete a customer, its notes and history; its tickets stay, without customer."""
        await customers.delete(_tenant(principal), customer_id, version=version)

    @router.get("/customers/{customer_id}/notes")
    async def list_notes(customer_id: EntityPath, principal: reader) -> list[NotePublic]:
        return await customers.notes(_tenant(principal), customer_id)

    @router.post("/customers/{customer_id}/notes", status_code=status.HTTP_201_CREATED)
    async def add_note(customer_id: EntityPath, body: NoteCreate, principal: writer) -> NotePublic:
        return await customers.add_note(
            _tenant(principal), customer_id, body, author_id=_author(principal)
        )

    @router.delete(
        "/customers/{customer_id}/notes/{note_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
    )
    async def delete_note(customer_id: EntityPath, note_id: EntityPath, principal: writer) -> None:
        await customers.delete_note(_tenant(principal), customer_id, note_id)

    @router.get("/customers/{customer_id}/contacts")
    async def contact_history(
        customer_id: EntityPath,
        principal: reader,
        limit: Annotated[int, Query(ge=1, le=100)] = 25,
        cursor: CursorQuery = None,
    ) -> ContactPage:
        """Calls, surveys and ticket milestones of the customer, newest first."""
        return await customers.history(_tenant(principal), customer_id, limit=limit, cursor=cursor)

    @router.put(
        "/calls/{call_id}/disposition",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
    )
    async def set_disposition(
        call_id: CallPath, body: DispositionUpdate, principal: writer
    ) -> None:
        """The wrap-up code of a call, kept in the caller's contact history."""
        await services.contacts.set_disposition(_tenant(principal), call_id, body.disposition)

    return router


def _ticket_routes(services: ApiServices) -> APIRouter:
    tickets = services.tickets
    reader = Annotated[Principal, Depends(require(READ_TICKETS))]
    writer = Annotated[Principal, Depends(require(WRITE_TICKETS))]
    router = APIRouter(tags=["tickets"])

    @router.post("/tickets", status_code=status.HTTP_201_CREATED)
    async def create_ticket(body: TicketCreate, principal: writer) -> TicketPublic:
        """Open a ticket; with `origin_call_id` and no customer, the caller of that call."""
        return await tickets.create(_tenant(principal), body)

    @router.get("/tickets")
    async def search_tickets(
        principal: reader,
        number: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
        customer_id: IdQuery = None,
        ticket_status: Annotated[
            list[str] | None,
            Query(alias="status", description="statuses, repeated or comma-separated"),
        ] = None,
        department_id: IdQuery = None,
        assignee_id: IdQuery = None,
        unassigned: bool = False,
        category: Annotated[str | None, Query(pattern=CATEGORY_PATTERN)] = None,
        created_from: Annotated[datetime | None, Query(description="inclusive")] = None,
        created_to: Annotated[datetime | None, Query(description="exclusive")] = None,
        text: Annotated[
            str | None,
            Query(
                min_length=2,
                max_length=200,
                description="words in subject or description; the last may be unfinished",
            ),
        ] = None,
        cursor: CursorQuery = None,
        page: Annotated[int | None, Query(ge=1, le=10_000)] = None,
        size: Annotated[int, Query(ge=1, le=100)] = 25,
    ) -> TicketPage:
        """Tickets newest first, filters ANDed; page with `cursor` (stable) or `page`."""
        params: dict[str, Any] = {
            "number": number,
            "customer_id": customer_id,
            "status": ",".join(ticket_status) if ticket_status else (),
            "department_id": department_id,
            "assignee_id": assignee_id,
            "unassigned": unassigned,
            "category": category,
            "created_from": created_from,
            "created_to": created_to,
            "text": text,
            "cursor": cursor,
            "page": page,
            "size": size,
        }
        return await tickets.search(_tenant(principal), TicketSearchQuery.parse(params))

    @router.get("/tickets/{ticket_id}")
    async def get_ticket(ticket_id: EntityPath, principal: reader) -> TicketPublic:
        return await tickets.get(_tenant(principal), ticket_id)

    @router.patch("/tickets/{ticket_id}")
    async def update_ticket(
        ticket_id: EntityPath, body: TicketUpdate, principal: writer
    ) -> TicketPublic:
        """Edit descriptive fields; `version` must be the one read (else 409)."""
        return await tickets.update(_tenant(principal), ticket_id, body)

    @router.post("/tickets/{ticket_id}/transitions")
    async def change_ticket_status(
        ticket_id: EntityPath, body: TransitionRequest, principal: writer
    ) -> TicketPublic:
        """Move the ticket along its workflow (illegal moves: 409 illegal-transition)."""
        return await tickets.transition(_tenant(principal), ticket_id, body)

    @router.post("/tickets/{ticket_id}/assign")
    async def assign_ticket(
        ticket_id: EntityPath, body: AssignRequest, principal: writer
    ) -> TicketPublic:
        return await tickets.assign(_tenant(principal), ticket_id, body)

    @router.get("/tickets/{ticket_id}/comments")
    async def list_comments(ticket_id: EntityPath, principal: reader) -> list[CommentPublic]:
        return await tickets.comments(_tenant(principal), ticket_id)

    @router.post("/tickets/{ticket_id}/comments", status_code=status.HTTP_201_CREATED)
    async def add_comment(
        ticket_id: EntityPath, body: CommentCreate, principal: writer
    ) -> CommentPublic:
        """A comment; the first public one meets the response SLA."""
        return await tickets.add_comment(
            _tenant(principal), ticket_id, body, author_id=_author(principal)
        )

    @router.get("/tickets/{ticket_id}/attachments")
    async def list_attachments(ticket_id: EntityPath, principal: reader) -> list[AttachmentPublic]:
        return await tickets.attachments(_tenant(principal), ticket_id)

    @router.post("/tickets/{ticket_id}/attachments", status_code=status.HTTP_201_CREATED)
    async def add_attachment(
        ticket_id: EntityPath, body: AttachmentCreate, principal: writer
    ) -> AttachmentPublic:
        """Link a call recording or a web address to the ticket."""
        return await tickets.add_attachment(
            _tenant(principal), ticket_id, body, author_id=_author(principal)
        )

    @router.delete(
        "/tickets/{ticket_id}/attachments/{attachment_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
    )
    async def delete_attachment(
        ticket_id: EntityPath, attachment_id: EntityPath, principal: writer
    ) -> None:
        await tickets.delete_attachment(_tenant(principal), ticket_id, attachment_id)

    @router.get("/notifications")
    async def list_notifications(
        principal: reader,
        recipient_id: IdQuery = None,
        ticket_id: IdQuery = None,
        unacknowledged: bool = False,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> list[NotificationPublic]:
        """Reminders and escalations fired by the SLA timer, newest first."""
        return await tickets.notifications(
            _tenant(principal),
            recipient_id=recipient_id,
            ticket_id=ticket_id,
            unacknowledged=unacknowledged,
            limit=limit,
        )

    @router.post("/notifications/{notification_id}/acknowledge")
    async def acknowledge_notification(
        notification_id: EntityPath, principal: writer
    ) -> NotificationPublic:
        return await tickets.acknowledge(_tenant(principal), notification_id, by=_author(principal))

    return router


def _configuration_routes(services: ApiServices) -> APIRouter:
    configuration = services.configuration
    ticket_reader = Annotated[Principal, Depends(require(READ_TICKETS))]
    customer_reader = Annotated[Principal, Depends(require(READ_CUSTOMERS))]
    admin = Annotated[Principal, Depends(require(CONFIGURE_TICKETS))]
    router = APIRouter(tags=["ticket configuration"])

    @router.get("/ticket-settings")
    async def get_settings(principal: ticket_reader) -> TicketSettingsPublic:
        """Numbering, priority matrix, reopen window, default region and SLA policy."""
        return await configuration.settings(_tenant(principal))

    @router.put("/ticket-settings")
    async def save_settings(body: TicketSettingsUpdate, principal: admin) -> TicketSettingsPublic:
        return await configuration.save_settings(_tenant(principal), body)

    @router.put("/ticket-settings/sla")
    async def save_sla_policy(body: SlaPolicyUpdate, principal: admin) -> TicketSettingsPublic:
        """The SLA policy: business calendar, targets per category/priority, escalation.
        New tickets follow it; open tickets keep the clocks they were given."""
        return await configuration.save_sla(_tenant(principal), body)

    @router.delete("/ticket-settings/sla")
    async def drop_sla_policy(
        principal: admin, version: Annotated[int, Query(ge=0, le=2**31 - 1)]
    ) -> TicketSettingsPublic:
        return await configuration.drop_sla(_tenant(principal), version)

    @router.get("/departments")
    async def list_departments(principal: ticket_reader) -> list[DepartmentPublic]:
        return await configuration.departments(_tenant(principal))

    @router.post("/departments", status_code=status.HTTP_201_CREATED)
    async def create_department(body: DepartmentCreate, principal: admin) -> DepartmentPublic:
        return await configuration.create_department(_tenant(principal), body)

    @router.get("/departments/{department_id}")
    async def get_department(
        department_id: EntityPath, principal: ticket_reader
    ) -> DepartmentPublic:
        return await configuration.department(_tenant(principal), department_id)

    @router.patch("/departments/{department_id}")
    async def update_department(
        department_id: EntityPath, body: DepartmentUpdate, principal: admin
    ) -> DepartmentPublic:
        return await configuration.update_department(_tenant(principal), department_id, body)

    @router.delete(
        "/departments/{department_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
    )
    async def delete_department(department_id: EntityPath, principal: admin) -> None:
        await configuration.delete_department(_tenant(principal), department_id)

    @router.get("/ticket-categories")
    async def list_categories(principal: ticket_reader) -> list[CategoryPublic]:
        """The tenant's categories and sub-categories (`general` is always valid too)."""
        return await configuration.categories(_tenant(principal))

    @router.post("/ticket-categories", status_code=status.HTTP_201_CREATED)
    async def create_category(body: CategoryCreate, principal: admin) -> CategoryPublic:
        return await configuration.create_category(_tenant(principal), body)

    @router.get("/ticket-categories/{key}")
    async def get_category(key: CategoryPath, principal: ticket_reader) -> CategoryPublic:
        return await configuration.category(_tenant(principal), key)

    @router.patch("/ticket-categories/{key}")
    async def update_category(
        key: CategoryPath, body: CategoryUpdate, principal: admin
    ) -> CategoryPublic:
        return await configuration.update_category(_tenant(principal), key, body)

    @router.delete(
        "/ticket-categories/{key}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
    )
    async def delete_category(key: CategoryPath, principal: admin) -> None:
        await configuration.delete_category(_tenant(principal), key)

    @router.get("/customer-fields")
    async def list_custom_fields(principal: customer_reader) -> list[CustomFieldDefinition]:
        """The tenant's custom customer fields, in the order they were defined."""
        return await configuration.custom_fields(_tenant(principal))

    @router.get("/customer-fields/{key}")
    async def get_custom_field(
        key: FieldKeyPath, principal: customer_reader
    ) -> CustomFieldDefinition:
        return await configuration.custom_field(_tenant(principal), key)

    @router.put("/customer-fields/{key}")
    async def save_custom_field(
        key: FieldKeyPath, body: CustomFieldBody, principal: admin, response: Response
    ) -> CustomFieldDefinition:
        """Create or replace a definition (201 when created); existing values stay."""
        definition, created = await configuration.save_custom_field(_tenant(principal), key, body)
        if created:
            response.status_code = status.HTTP_201_CREATED
        return definition

    @router.delete(
        "/customer-fields/{key}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
    )
    async def delete_custom_field(key: FieldKeyPath, principal: admin) -> None:
        await configuration.delete_custom_field(_tenant(principal), key)

    return router
