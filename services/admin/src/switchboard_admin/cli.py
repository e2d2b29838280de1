"""`switchboard tenants ...`: the platform operator's command line for tenants.

Talks to the admin REST API at `--url` (default `$SB_ADMIN_HTTP`, else
http://127.0.0.1:8108) with the operator token from `$SWITCHBOARD_OPERATOR_TOKEN` (in
development, when it is unset, the development default that admin accepts there).
Exit codes: 0 done, 1 the API refused or could not be reached, 2 bad usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO
from urllib.parse import quote

import httpx

from switchboard_common.settings import DEV_SECRET

DEFAULT_URL = "http://127.0.0.1:8108"
TOKEN_ENV = "SWITCHBOARD_OPERATOR_TOKEN"
ADMIN_PASSWORD_ENV = "SWITCHBOARD_TENANT_ADMIN_PASSWORD"


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard tenants",
        description="Manage tenants through the admin service's operator API.",
        epilog=f"The operator token is read from ${TOKEN_ENV}.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("SB_ADMIN_HTTP") or DEFAULT_URL,
        help="admin service URL (default: $SB_ADMIN_HTTP or %(default)s)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = sub.add_parser(
        "create",
        help="onboard a tenant",
        description="Create a tenant with its default roles, SIP domain, an optional first "
        "admin user and (unless --no-api-key) a tenant-admin API key whose secret is printed "
        "once.",
    )
    create.add_argument("slug", help="short name: 3-40 lowercase letters, digits, dashes")
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--sip-domain", help="SIP domain (default: <slug>.<platform suffix>)")
    create.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC)")
    create.add_argument("--max-concurrent-calls", type=int, help="quota (default 10)")
    create.add_argument("--max-agents", type=int, help="quota (default 10)")
    create.add_argument("--max-queues", type=int, help="quota (default 20)")
    create.add_argument("--retention-days", type=int, help="recording retention (default 90)")
    create.add_argument("--admin-username", help="create a first tenant admin with this name")
    create.add_argument(
        "--admin-password",
        help=f"its password (default: ${ADMIN_PASSWORD_ENV}, else asked on the terminal)",
    )
    create.add_argument("--no-api-key", action="store_true", help="do not create an API key")

    listing = sub.add_parser("list", help="list tenants")
    listing.add_argument("--status", choices=["active", "suspended"], help="only this status")

    for action, text in (
        ("get", "show one tenant"),
        ("suspend", "stop a tenant's new calls (data kept)"),
        ("resume", "take a suspended tenant back into service"),
    ):
        command = sub.add_parser(action, help=text)
        command.add_argument("tenant", help="tenant id or slug")

    delete = sub.add_parser("delete", help="delete a tenant and all its objects")
    delete.add_argument("tenant", help="tenant id or slug")
    delete.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    return parser


def operator_token() -> str:
    token = os.environ.get(TOKEN_ENV, "")
    if token:
        return token
    if os.environ.get("SWITCHBOARD_ENV", "development") == "development":
        return DEV_SECRET
    raise CliError(f"set {TOKEN_ENV} to the platform operator token", code=2)


class TenantsClient:
    """The operator API over HTTP."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        try:
            response = self._client.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach admin at {self._client.base_url}: {exc}") from exc
        if response.status_code == 204:
            return None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.is_error:
            if isinstance(payload, dict) and "error" in payload:
                field = payload.get("details", {}).get("field")
                where = f" (field {field})" if field else ""
                raise CliError(f"{payload['error']}: {payload.get('message', '')}{where}")
            raise CliError(f"admin answered HTTP {response.status_code}")
        return payload

    def all_tenants(self, status: str | None) -> list[dict[str, Any]]:
        tenants: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "500"}
            if status:
                params["status"] = status
            if cursor:
                params["cursor"] = cursor
            page = self.call("GET", "/v1/tenants", params=params)
            tenants.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return tenants


def _create_body(args: argparse.Namespace) -> dict[str, Any]:
    quotas = {
        name: value
        for name, value in (
            ("max_concurrent_calls", args.max_concurrent_calls),
            ("max_agents", args.max_agents),
            ("max_queues", args.max_queues),
            ("recording_retention_days", args.retention_days),
        )
        if value is not None
    }
    body: dict[str, Any] = {
        "slug": args.slug,
        "name": args.name,
        "timezone": args.timezone,
        "quotas": quotas,
        "create_api_key": not args.no_api_key,
    }
    if args.sip_domain:
        body["sip_domain"] = args.sip_domain
    if args.admin_username:
        password = args.admin_password or os.environ.get(ADMIN_PASSWORD_ENV)
        if not password:
            if not sys.stdin.isatty():
                raise CliError(
                    f"give --admin-password or ${ADMIN_PASSWORD_ENV} for the admin user", code=2
                )
            password = getpass.getpass(f"password for {args.admin_username}: ")
        body["admin"] = {"username": args.admin_username, "password": password}
    return body


def _tenant_lines(tenant: dict[str, Any]) -> list[str]:
    quotas = tenant.get("quotas", {})
    return [
        f"tenant     {tenant['slug']} ({tenant['id']})",
        f"name       {tenant['name']}",
        f"status     {tenant['status']}",
        f"sip domain {tenant['sip_domain']}",
        f"time zone  {tenant['timezone']}",
        "quotas     " + ", ".join(f"{name}={value}" for name, value in sorted(quotas.items())),
    ]


def _table(tenants: Sequence[dict[str, Any]]) -> list[str]:
    rows = [("SLUG", "STATUS", "ID", "SIP DOMAIN", "TIME ZONE")]
    rows += [(t["slug"], t["status"], t["id"], t["sip_domain"], t["timezone"]) for t in tenants]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def run(args: argparse.Namespace, api: TenantsClient, out: TextIO) -> int:
    def emit(lines: Sequence[str]) -> None:
        for line in lines:
            print(line, file=out)

    if args.action == "create":
        result = api.call("POST", "/v1/tenants", body=_create_body(args))
        if args.json:
            emit([json.dumps(result, indent=2)])
            return 0
        emit(_tenant_lines(result["tenant"]))
        if result.get("admin_user"):
            emit([f"admin      {result['admin_user']['username']} ({result['admin_user']['id']})"])
        if result.get("api_key"):
            emit(
                [
                    f"api key    {result['api_key']['key']}",
                    "           (shown once: store it now)",
                ]
            )
        return 0
    if args.action == "list":
        tenants = api.all_tenants(args.status)
        emit([json.dumps(tenants, indent=2)] if args.json else _table(tenants))
        return 0
    if args.action == "delete":
        if not args.yes:
            raise CliError("deleting a tenant removes all its objects; add --yes", code=2)
        api.call("DELETE", f"/v1/tenants/{quote(args.tenant, safe='')}")
        emit([f"deleted {args.tenant}"])
        return 0
    if args.action == "get":
        tenant = api.call("GET", f"/v1/tenants/{quote(args.tenant, safe='')}")
    else:
        tenant = api.call("POST", f"/v1/tenants/{quote(args.tenant, safe='')}/{args.action}")
    emit([json.dumps(tenant, indent=2)] if args.json else _tenant_lines(tenant))
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["tenants"]:
        arguments = arguments[1:]
    args = build_parser().parse_args(arguments)
    try:
        headers = {"Authorization": f"Bearer {operator_token()}"}
        with httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout) as client:
            return run(args, TenantsClient(client), sys.stdout)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
