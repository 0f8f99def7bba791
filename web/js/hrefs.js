// Where each code on a page leads: a bag to the lookup, a bill to its detail, a user or scanner to
// the scans list filtered by it. By the op of a scan row (the contract's op names), its `code` and
// `target` are bags, bills, or neither (an area, a return ticket). No imports: the dashboard uses it.

/** The ops whose `code` is a bill and those whose `target` is one (the rest name bags). */
const BILL_CODE_OPS = new Set(["bill_create", "bill_finish", "bill_reopen", "bill_edit"]);
const BILL_TARGET_OPS = new Set(["bill_add", "take_off_bill"]);
const BAG_TARGET_OPS = new Set(["child", "move_child", "take_out"]);

export const lookupHref = (code) => (code ? `/lookup.html?code=${encodeURIComponent(code)}` : null);
export const billHref = (code) => (code ? `/bill.html?code=${encodeURIComponent(code)}` : null);
export const scansHref = (name, value) => (value ? `/scans.html?${new URLSearchParams({ [name]: value })}` : null);

/** A bill's detail for a `role` that may open it (billers, admins); null for a dispatcher. */
export const billHrefFor = (role, code) => (role === "biller" || role === "admin" ? billHref(code) : null);

/** Where a scan row's `code` leads for `role`: a bill's detail, a bag's lookup, or nowhere (a ticket). */
export function codeHref(op, code, role) {
  if (BILL_CODE_OPS.has(op)) return billHrefFor(role, code);
  if (String(op).startsWith("return_") && op !== "return_add") return null;
  return lookupHref(code);
}

/** Where a scan row's `target` leads for `role`: the bill or parent it names; an area or ticket stays text. */
export function targetHref(op, target, role) {
  if (BILL_TARGET_OPS.has(op)) return billHrefFor(role, target);
  if (BAG_TARGET_OPS.has(op)) return lookupHref(target);
  return null;
}
