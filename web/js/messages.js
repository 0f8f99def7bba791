// What the operator reads for every result code of the hub (hub/codes.py, docs/protocol.md
// section 7), for websocket close codes, and for the page's own situations.
//
// One table for the scanner and the bill scanner. Each entry has a short `title` (read at a glance
// from arm's length) and a `say` sentence telling the operator what happened and what to do,
// filled from the ack's data (see `fill`). tests/browser/test_messages.py checks that every code of hub/codes.py has
// an entry here.

export const MESSAGES = {
  OK: {
    title: "Saved",
    say: "Done.",
  },
  BAD_REQUEST: {
    title: "Scan not understood",
    say: "The hub could not read what this scanner sent. Scan the bag again. If it keeps happening, tell your supervisor.",
  },
  INVALID_CODE: {
    title: "Not a bag label",
    say: "{code|This code} is not one of our bag labels. Check the label and scan it again.",
  },
  NOT_A_PARENT: {
    title: "Not a parent bag",
    say: "{code|This code} is not a parent bag. Scan a parent bag (SB… or M444-…) first, then its children.",
  },
  NOT_A_CHILD: {
    title: "This is a parent bag",
    say: "{code|This bag} is a parent bag and cannot go inside another bag. Scan a child bag.",
  },
  SEQ_TOO_FAR: {
    title: "Scan not saved",
    say: "This scanner numbered the scan wrongly and the hub did not save it. Reload the page and scan {code|the bag} again; if it repeats, tell your supervisor.",
  },
  DEVICE_TAKEN: {
    title: "Not your scanner",
    say: "This scanner is registered to another user. Ask an admin to release it, then try again.",
  },
  AREA_REQUIRED: {
    title: "Dispatch area needed",
    say: "Your login has no dispatch area, and a new parent bag or bill needs one. Use a login of the bag's dispatch area.",
  },
  UNKNOWN_AREA: {
    title: "No such dispatch area",
    say: "There is no dispatch area[ {area}]. Check it, or ask an admin.",
  },
  STALE_SEQ: {
    title: "Scan not saved",
    say: "This scan reached the hub out of order and was not saved. Scan {code|the bag} again.",
  },
  FORBIDDEN: {
    title: "Not allowed",
    say: "Your login is not allowed to do this. Ask your supervisor.",
  },
  WRONG_AREA: {
    title: "Other dispatch area",
    say: "This bag belongs to another dispatch area[ ({area})]. Put it aside and tell your supervisor.",
  },
  UNKNOWN_PARENT: {
    title: "Parent bag not known",
    say: "Parent bag[ {parent}] has not been scanned yet. Scan the parent bag first, then its children.",
  },
  PARENT_FULL: {
    title: "Parent bag is full",
    say: "Parent bag[ {parent}] is already full[ ({count}/{capacity})]. Scan the next parent bag.",
  },
  ALREADY_LINKED: {
    title: "Already in another bag",
    say: "{code|This bag} is already inside another parent bag[ ({other_parent})]. Put it aside and tell your supervisor.",
  },
  ALREADY_IN_PARENT: {
    title: "Already scanned",
    say: "{code|This bag} is already in this parent bag. Nothing changed; scan the next one.",
  },
  PARENT_ON_BILL: {
    title: "Parent bag already on a bill",
    say: "This parent bag is already on a bill[ ({bill})] and cannot change any more.",
  },
  NOTHING_TO_UNDO: {
    title: "Nothing to undo",
    say: "There is no scan of yours that can be undone.",
  },
  NOT_LAST_SCAN: {
    title: "Only the last scan",
    say: "Only your very last scan can be undone[ (that was {last})].",
  },
  UNDO_EXPIRED: {
    title: "Too late to undo",
    say: "A scan can be undone only within one hour. Ask your supervisor to correct it.",
  },
  INVALID_BILL: {
    title: "Bill details not valid",
    say: "Check the bill: a number of letters, digits, - / _ (not a bag's label) and a capacity from 1 to 1000 parent bags.[ The hub says: {reason}.]",
  },
  BILL_EXISTS: {
    title: "Bill number taken",
    say: "A bill with this number[ ({bill})] already exists. Use another number, or continue that bill.",
  },
  UNKNOWN_BILL: {
    title: "No such bill",
    say: "There is no bill with this number[ ({bill})]. Check the number, or create the bill first.",
  },
  BILL_NOT_OPEN: {
    title: "Bill is finished",
    say: "Bill[ {bill}] is finished. Reopen it before you change it.",
  },
  BILL_NOT_COMPLETED: {
    title: "Bill is still open",
    say: "Bill[ {bill}] is still open; only a finished bill can be reopened.",
  },
  BILL_FULL: {
    title: "Bill is full",
    say: "Bill[ {bill}] already has all its[ {capacity}] parent bags. Finish it, or start another bill.",
  },
  BILL_EMPTY: {
    title: "Bill is empty",
    say: "Scan at least one full parent bag onto the bill before finishing it.",
  },
  PARENT_INCOMPLETE: {
    title: "Parent bag not full",
    say: "Parent bag[ {parent}] is not full yet[ ({count}/{capacity})]. Only full parent bags go on a bill.",
  },
  ALREADY_ON_BILL: {
    title: "Already on a bill",
    say: "This parent bag is already on a bill[ ({bill})] and cannot go on another. Scan the next parent bag.",
  },
  UNKNOWN_BAG: {
    title: "No such bag",
    say: "There is no bag {bag|with this code}. Check the code and try again.",
  },
  NOT_IN_PARENT: {
    title: "Not in a parent",
    say: "{bag|This bag} is not inside a parent bag, so there is nothing to take it out of or move it from.",
  },
  NOT_ON_BILL: {
    title: "Not on a bill",
    say: "Parent bag[ {bag}][ {parent}] is not on a bill, so there is nothing to take it off or return.",
  },
  SAME_AREA: {
    title: "Already in that area",
    say: "This parent bag is already in the dispatch area[ {area}]. Nothing was changed.",
  },
  BAG_NOT_EMPTY: {
    title: "Bag holds children",
    say: "This parent bag holds[ {count}] child bags. Take them out (or move them) first, then delete it.",
  },
  BAG_IN_PARENT: {
    title: "Bag is in a parent",
    say: "This bag is inside the parent bag[ {parent}]. Take it out first, then delete it.",
  },
  BAG_ON_BILL: {
    title: "Bag is on a bill",
    say: "This parent bag is on the bill[ {bill}]. Take it off the bill first, then delete it.",
  },
  // Returns
  INVALID_RETURN: {
    title: "Not a ticket number",
    say: "This is not a valid return ticket number[: {reason}]. Check the number and try again.",
  },
  UNKNOWN_RETURN: {
    title: "No such ticket",
    say: "There is no return ticket with this number[ ({ticket})]. Open a ticket first.",
  },
  RETURN_NOT_OPEN: {
    title: "Ticket is closed",
    say: "Return ticket[ {ticket}] is already[ {status}]. Open a new ticket for these bags.",
  },
  RETURN_EMPTY: {
    title: "Ticket is empty",
    say: "Scan at least one returned parent bag onto the ticket before finalising it, or cancel it.",
  },
  ALREADY_RETURNED: {
    title: "Already returned",
    say: "Parent bag[ {parent}] is already on return ticket[ {ticket}]. Scan the next parent bag.",
  },
  PARENT_ON_RETURN: {
    title: "Bag is being returned",
    say: "This parent bag is on return ticket[ {ticket}]. Finalise or cancel that ticket before billing it again.",
  },
  CONFLICT: {
    title: "Scan again",
    say: "Another scanner changed this bag at the same moment. Scan {code|it} again.",
  },
  RATE_LIMITED: {
    title: "Saving delayed",
    say: "Too many scans reached the hub at once. This one stays in the queue and is sent again by itself.",
  },
  RETRY: {
    title: "Saving delayed",
    say: "The hub could not save this scan just now. It stays in the queue and is sent again by itself.",
  },
};

/** Close codes of the websocket (docs/protocol.md section 8), for the connection banner. */
export const CLOSE_MESSAGES = {
  1000: "The hub closed the connection.",
  1002: "This page and the hub do not understand each other (protocol error). Reload the page; if it repeats, tell your supervisor.",
  1003: "The hub refused what this page sent. Reload the page; if it repeats, tell your supervisor.",
  1006: "The connection to the hub was lost. Scans are kept and sent when it is back.",
  1008: "You need to log in again.",
  1009: "This page sent something too big for the hub. Tell your supervisor.",
  1011: "The hub had a problem. Reconnecting…",
  1012: "The hub is restarting. Reconnecting…",
  1013: "The hub cannot reach its database just now. Scans are kept and sent when it is back.",
  4001: "Your login has ended. Log in again; your scans are kept.",
  4002: "This scanner is open in another window or tab. Use that one, or press “Use here”.",
  4003: "This scanner is registered to another user. Ask an admin to release it, then press “Try again”.",
  4008: "The connection was too slow. Reconnecting…",
  4009: "The hub has too many connections just now. Reconnecting…",
};

/** The page's own situations, in the same words. */
export const LOCAL = {
  EMPTY: { title: "Nothing scanned", say: "The scan was empty." },
  QUEUED: { title: "Saved on this device", say: "No connection to the hub: the scan is kept here and sent when the connection is back." },
  WAITING: { title: "Waiting for the hub…", say: "{what} is sent; wait for the hub to confirm it." },
  SENT_LATER_OK: { title: "Offline scans saved", say: "All {total} scans kept on this device are saved now." },
  SENT_LATER_FAILED: {
    title: "Offline scans: {failed} not saved",
    say: "{failed} of the {total} scans kept on this device were refused: see the red lines below.",
  },
  NO_PARENT: { title: "Scan a parent bag", say: "Scan the parent bag first, then its children." },
  NO_BILL: { title: "No bill", say: "Create or open a bill first." },
  BILL_IS_BAG: {
    title: "That is a bag label",
    say: "{code} is the label of a parent bag, not a bill number. Type the bill's own number; scan parent bags once the bill is open.",
  },
  PARENT_COMPLETE: { title: "Parent bag full!", say: "Parent bag {parent} holds {count}/{capacity}. Scan the next parent bag." },
  NOTHING_TO_UNDO: { title: "Nothing to undo", say: "There is no scan of yours on this device to undo." },
  UNDO_SENT: { title: "Undo", say: "Taking {code} out again…" },
  LOGIN: { title: "Log in again", say: "Your login has ended. Your scans are kept on this device." },
  ORIGIN: { title: "Connection refused", say: "The hub does not accept connections from this page's address. Tell your supervisor." },
  FORBIDDEN_PAGE: { title: "Not for your role", say: "This page is for billers. Use the scanner page instead." },
};

/**
 * Fill a sentence from `data`: `{name}` is the value (or `words` in `{name|words}` when the data
 * lacks it); a `[...]` part is kept only when every `{name}` inside it has a value.
 */
export function fill(template, data = {}) {
  const has = (name) => data[name] !== undefined && data[name] !== null && data[name] !== "";
  return template
    .replace(/\[([^\]]*)\]/g, (_, part) => [...part.matchAll(/\{(\w+)\}/g)].every((m) => has(m[1])) ? part : "")
    .replace(/\{(\w+)(?:\|([^}]*))?\}/g, (_, name, words) => (has(name) ? String(data[name]) : words ?? ""));
}

/**
 * The operator's words for a result: `{title, say}`. `data` is the ack's data plus the scanned
 * `code`; `fallback` is the hub's own message, used only for a code this page does not know.
 */
export function describe(code, data = {}, fallback = "") {
  const entry = MESSAGES[code];
  if (!entry) {
    return { title: "Not saved", say: fallback || `The hub answered ${code}. Tell your supervisor.` };
  }
  return { title: entry.title, say: fill(entry.say, data) };
}

/** The banner text for a websocket close code. */
export function closeMessage(code) {
  return CLOSE_MESSAGES[code] || "The connection to the hub was lost. Scans are kept and sent when it is back.";
}

/** A page message of `LOCAL`, filled from `data`. */
export function local(key, data = {}) {
  const entry = LOCAL[key];
  return { title: fill(entry.title, data), say: fill(entry.say, data) };
}
