"""Every result code and websocket close code the hub sends, in one table.

`docs/protocol.md` lists the same codes; `tests/test_protocol_doc.py` checks the two agree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class CodeInfo:
    message: str
    retry: bool = False


class Code(enum.StrEnum):
    """Result of one operation. `OK` is the only success; the rest say why nothing changed."""

    OK = "OK"
    # Input
    BAD_REQUEST = "BAD_REQUEST"
    INVALID_CODE = "INVALID_CODE"
    NOT_A_PARENT = "NOT_A_PARENT"
    NOT_A_CHILD = "NOT_A_CHILD"
    STALE_SEQ = "STALE_SEQ"
    SEQ_TOO_FAR = "SEQ_TOO_FAR"
    # Rights
    FORBIDDEN = "FORBIDDEN"
    WRONG_AREA = "WRONG_AREA"
    DEVICE_TAKEN = "DEVICE_TAKEN"
    AREA_REQUIRED = "AREA_REQUIRED"
    UNKNOWN_AREA = "UNKNOWN_AREA"
    # Parents and children
    UNKNOWN_PARENT = "UNKNOWN_PARENT"
    PARENT_FULL = "PARENT_FULL"
    ALREADY_LINKED = "ALREADY_LINKED"
    ALREADY_IN_PARENT = "ALREADY_IN_PARENT"
    PARENT_ON_BILL = "PARENT_ON_BILL"
    # Undo
    NOTHING_TO_UNDO = "NOTHING_TO_UNDO"
    NOT_LAST_SCAN = "NOT_LAST_SCAN"
    UNDO_EXPIRED = "UNDO_EXPIRED"
    # Bills
    INVALID_BILL = "INVALID_BILL"
    BILL_EXISTS = "BILL_EXISTS"
    UNKNOWN_BILL = "UNKNOWN_BILL"
    BILL_NOT_OPEN = "BILL_NOT_OPEN"
    BILL_NOT_COMPLETED = "BILL_NOT_COMPLETED"
    BILL_FULL = "BILL_FULL"
    BILL_EMPTY = "BILL_EMPTY"
    PARENT_INCOMPLETE = "PARENT_INCOMPLETE"
    ALREADY_ON_BILL = "ALREADY_ON_BILL"
    # Corrections
    UNKNOWN_BAG = "UNKNOWN_BAG"
    NOT_IN_PARENT = "NOT_IN_PARENT"
    NOT_ON_BILL = "NOT_ON_BILL"
    SAME_AREA = "SAME_AREA"
    BAG_NOT_EMPTY = "BAG_NOT_EMPTY"
    BAG_IN_PARENT = "BAG_IN_PARENT"
    BAG_ON_BILL = "BAG_ON_BILL"
    # Returns
    INVALID_RETURN = "INVALID_RETURN"
    UNKNOWN_RETURN = "UNKNOWN_RETURN"
    RETURN_NOT_OPEN = "RETURN_NOT_OPEN"
    RETURN_EMPTY = "RETURN_EMPTY"
    ALREADY_RETURNED = "ALREADY_RETURNED"
    PARENT_ON_RETURN = "PARENT_ON_RETURN"
    # Transient
    CONFLICT = "CONFLICT"
    RETRY = "RETRY"
    RATE_LIMITED = "RATE_LIMITED"

    @property
    def info(self) -> CodeInfo:
        return CODES[self]

    @property
    def message(self) -> str:
        return CODES[self].message

    @property
    def retry(self) -> bool:
        """True when the operation was not applied and the client should send it again later."""
        return CODES[self].retry


CODES: dict[Code, CodeInfo] = {
    Code.OK: CodeInfo("Done."),
    Code.BAD_REQUEST: CodeInfo("The scanner sent a message the hub does not understand."),
    Code.INVALID_CODE: CodeInfo("This is not a valid bag code."),
    Code.NOT_A_PARENT: CodeInfo("This code is not a parent bag. Scan a parent bag first."),
    Code.NOT_A_CHILD: CodeInfo("This is a parent bag; it cannot go inside another bag."),
    Code.STALE_SEQ: CodeInfo("This scan is older than scans already recorded from this device."),
    Code.SEQ_TOO_FAR: CodeInfo("This scan's number is far above the device's last one; it was not recorded."),
    Code.FORBIDDEN: CodeInfo("Your role does not allow this."),
    Code.WRONG_AREA: CodeInfo("This bag belongs to another dispatch area."),
    Code.DEVICE_TAKEN: CodeInfo("This scanner is registered to another user. Ask an admin to release it."),
    Code.AREA_REQUIRED: CodeInfo("Choose the dispatch area for the new bag or bill."),
    Code.UNKNOWN_AREA: CodeInfo("There is no dispatch area with this name."),
    Code.UNKNOWN_PARENT: CodeInfo("This parent bag has not been scanned yet. Scan the parent first."),
    Code.PARENT_FULL: CodeInfo("This parent bag is already full."),
    Code.ALREADY_LINKED: CodeInfo("This bag is already inside another parent bag."),
    Code.ALREADY_IN_PARENT: CodeInfo("This bag is already in this parent bag."),
    Code.PARENT_ON_BILL: CodeInfo("This parent bag is already on a bill and cannot change."),
    Code.NOTHING_TO_UNDO: CodeInfo("There is no scan of yours to undo."),
    Code.NOT_LAST_SCAN: CodeInfo("Only your last scan can be undone."),
    Code.UNDO_EXPIRED: CodeInfo("Scans can be undone only within one hour."),
    Code.INVALID_BILL: CodeInfo("Bill details are not valid."),
    Code.BILL_EXISTS: CodeInfo("A bill with this number already exists."),
    Code.UNKNOWN_BILL: CodeInfo("There is no bill with this number."),
    Code.BILL_NOT_OPEN: CodeInfo("This bill is finished. Reopen it to change it."),
    Code.BILL_NOT_COMPLETED: CodeInfo("This bill is still open."),
    Code.BILL_FULL: CodeInfo("This bill is already full."),
    Code.BILL_EMPTY: CodeInfo("A bill needs at least one parent bag before it can be finished."),
    Code.PARENT_INCOMPLETE: CodeInfo("This parent bag is not full yet; only full parents go on a bill."),
    Code.ALREADY_ON_BILL: CodeInfo("This parent bag is already on a bill."),
    Code.UNKNOWN_BAG: CodeInfo("There is no bag with this code."),
    Code.NOT_IN_PARENT: CodeInfo("This bag is not inside a parent bag."),
    Code.NOT_ON_BILL: CodeInfo("This parent bag is not on a bill."),
    Code.SAME_AREA: CodeInfo("This parent bag is already in this dispatch area."),
    Code.BAG_NOT_EMPTY: CodeInfo("This parent bag holds child bags; take them out before deleting it."),
    Code.BAG_IN_PARENT: CodeInfo("This bag is inside a parent bag; take it out before deleting it."),
    Code.BAG_ON_BILL: CodeInfo("This parent bag is on a bill; take it off the bill before deleting it."),
    Code.INVALID_RETURN: CodeInfo("This is not a valid return ticket number."),
    Code.UNKNOWN_RETURN: CodeInfo("There is no return ticket with this number."),
    Code.RETURN_NOT_OPEN: CodeInfo("This return ticket is already finalised or cancelled."),
    Code.RETURN_EMPTY: CodeInfo("A return ticket needs at least one parent bag before it can be finalised."),
    Code.ALREADY_RETURNED: CodeInfo("This parent bag is already on an open return ticket."),
    Code.PARENT_ON_RETURN: CodeInfo("This parent bag is on an open return ticket; finalise or cancel it first."),
    Code.CONFLICT: CodeInfo("Another scanner changed this bag at the same moment; scan again."),
    Code.RETRY: CodeInfo("The hub could not save this scan just now; it will be sent again.", retry=True),
    Code.RATE_LIMITED: CodeInfo("Too many scans at once; this one will be sent again in a moment.", retry=True),
}


class Close(enum.IntEnum):
    """Websocket close codes. 1000-1015 are RFC 6455's; 4000-4999 are the hub's own."""

    NORMAL = 1000
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    SERVER_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    SLOW_CONSUMER = 4008
    SESSION_REVOKED = 4001
    REPLACED = 4002
    DEVICE_TAKEN = 4003
    TOO_MANY_CONNECTIONS = 4009

    @property
    def reconnect(self) -> bool:
        """Whether a client should reconnect after this close (with backoff)."""
        return self in _RECONNECT


_RECONNECT = frozenset({Close.SERVER_ERROR, Close.SERVICE_RESTART, Close.TRY_AGAIN_LATER, Close.SLOW_CONSUMER,
                        Close.TOO_MANY_CONNECTIONS})


@dataclass(frozen=True)
class ApiInfo:
    status: int
    message: str


class ApiCode(enum.StrEnum):
    """Error codes of the HTTP API (`{"error": CODE, "message": ...}`), each with its HTTP status.

    The message here is the default; an answer may carry a more specific one.
    """

    BAD_REQUEST = "BAD_REQUEST"
    INVALID_TEXT = "INVALID_TEXT"
    INVALID_ID = "INVALID_ID"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_LOGIN = "INVALID_LOGIN"
    FORBIDDEN = "FORBIDDEN"
    CROSS_ORIGIN = "CROSS_ORIGIN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    BUSY = "BUSY"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # Accounts and wall-screen tokens
    INVALID_USERNAME = "INVALID_USERNAME"
    INVALID_ROLE = "INVALID_ROLE"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    AREA_REQUIRED = "AREA_REQUIRED"
    UNKNOWN_AREA = "UNKNOWN_AREA"
    USERNAME_TAKEN = "USERNAME_TAKEN"
    UNKNOWN_USER = "UNKNOWN_USER"
    UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
    UNKNOWN_DEVICE = "UNKNOWN_DEVICE"
    # Records
    UNKNOWN_BAG = "UNKNOWN_BAG"
    UNKNOWN_BILL = "UNKNOWN_BILL"
    INVALID_CURSOR = "INVALID_CURSOR"
    INVALID_FILTER = "INVALID_FILTER"
    # Admin: users, areas, devices
    LAST_ADMIN = "LAST_ADMIN"
    OWN_ACCOUNT = "OWN_ACCOUNT"
    AREA_EXISTS = "AREA_EXISTS"
    INVALID_AREA = "INVALID_AREA"
    # Transfer (imports and exports)
    IMPORT_UNREADABLE = "IMPORT_UNREADABLE"
    IMPORT_COLUMNS = "IMPORT_COLUMNS"
    IMPORT_EMPTY = "IMPORT_EMPTY"
    IMPORT_TOO_MANY_ROWS = "IMPORT_TOO_MANY_ROWS"
    UNKNOWN_IMPORT = "UNKNOWN_IMPORT"
    # Returns
    UNKNOWN_RETURN = "UNKNOWN_RETURN"

    @property
    def status(self) -> int:
        return API_CODES[self].status

    @property
    def message(self) -> str:
        return API_CODES[self].message


API_CODES: dict[ApiCode, ApiInfo] = {
    ApiCode.BAD_REQUEST: ApiInfo(400, "The request is not valid."),
    ApiCode.INVALID_TEXT: ApiInfo(400, "A text field holds characters that are not printable text, or is too long."),
    ApiCode.INVALID_ID: ApiInfo(400, "An id in the path is not a whole number from 1 to 2^63-1."),
    ApiCode.UNAUTHENTICATED: ApiInfo(401, "You are not logged in, or your session has ended."),
    ApiCode.INVALID_LOGIN: ApiInfo(401, "Wrong username or password."),
    ApiCode.FORBIDDEN: ApiInfo(403, "Your role does not allow this."),
    ApiCode.CROSS_ORIGIN: ApiInfo(403, "Requests that change something must come from the hub's own pages."),
    ApiCode.NOT_FOUND: ApiInfo(404, "There is nothing at this address."),
    ApiCode.METHOD_NOT_ALLOWED: ApiInfo(405, "This address does not accept this method."),
    ApiCode.PAYLOAD_TOO_LARGE: ApiInfo(413, "The request body is larger than the hub accepts."),
    ApiCode.UNSUPPORTED_MEDIA_TYPE: ApiInfo(415, "Send the body as JSON, with Content-Type: application/json."),
    ApiCode.RATE_LIMITED: ApiInfo(429, "Too many requests; wait as long as Retry-After says."),
    ApiCode.BUSY: ApiInfo(503, "The hub is busy; try again in a moment."),
    ApiCode.INTERNAL_ERROR: ApiInfo(500, "Something went wrong in the hub; it has been logged."),
    ApiCode.INVALID_USERNAME: ApiInfo(400, "A username is 2 to 40 characters: letters, digits, '.', '_' or '-'."),
    ApiCode.INVALID_ROLE: ApiInfo(400, "Unknown role: use admin, biller or dispatcher."),
    ApiCode.WEAK_PASSWORD: ApiInfo(400, "This password may not be used; choose another."),
    ApiCode.AREA_REQUIRED: ApiInfo(400, "Dispatchers and billers need a dispatch area."),
    ApiCode.UNKNOWN_AREA: ApiInfo(400, "There is no such dispatch area."),
    ApiCode.USERNAME_TAKEN: ApiInfo(409, "A user with this name already exists."),
    ApiCode.UNKNOWN_USER: ApiInfo(404, "There is no such user."),
    ApiCode.UNKNOWN_TOKEN: ApiInfo(404, "There is no such live wall-screen token."),
    ApiCode.UNKNOWN_DEVICE: ApiInfo(404, "No user holds this scanner device."),
    ApiCode.UNKNOWN_BAG: ApiInfo(404, "There is no bag with this code."),
    ApiCode.UNKNOWN_BILL: ApiInfo(404, "There is no bill with this number."),
    ApiCode.INVALID_CURSOR: ApiInfo(400, "The page cursor is not one this list gave out; start again from page 1."),
    ApiCode.INVALID_FILTER: ApiInfo(400, "A filter of the list is not valid."),
    ApiCode.LAST_ADMIN: ApiInfo(409, "This is the last active admin; make another admin first."),
    ApiCode.OWN_ACCOUNT: ApiInfo(403, "You cannot change your own role or deactivate yourself."),
    ApiCode.AREA_EXISTS: ApiInfo(409, "A dispatch area with this name already exists."),
    ApiCode.INVALID_AREA: ApiInfo(400, "An area name is 2 to 40 characters of a-z 0-9 _, starting with a letter."),
    ApiCode.IMPORT_UNREADABLE: ApiInfo(400, "The file is neither UTF-8 CSV nor an Excel workbook the hub can read."),
    ApiCode.IMPORT_COLUMNS: ApiInfo(400, "The file's first row does not name the columns this import needs."),
    ApiCode.IMPORT_EMPTY: ApiInfo(400, "The file has no rows to import."),
    ApiCode.IMPORT_TOO_MANY_ROWS: ApiInfo(400, "The file has more rows than one import may hold; split it."),
    ApiCode.UNKNOWN_IMPORT: ApiInfo(404, "There is no such import."),
    ApiCode.UNKNOWN_RETURN: ApiInfo(404, "There is no return ticket with this number."),
}
