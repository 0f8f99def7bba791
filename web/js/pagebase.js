// What the records pages (lookup, lists, bill detail, audit) share: the login check and the header,
// a refusal in words for a role the page is not for, and the message box saying what happened.

import { el } from "./dom.js";
import { MESSAGES, describe } from "./messages.js";
import { currentUser, goToLogin, logout } from "./session.js";

const $ = (id) => document.getElementById(id);

/** Titles for the HTTP API's own codes; the sentence is the hub's message. */
const API_TITLES = {
  UNKNOWN_BAG: "No such bag",
  NOT_FOUND: "Not found",
  INVALID_CURSOR: "Page not found",
  INVALID_FILTER: "Filter not valid",
  BAD_REQUEST: "Not understood",
  BUSY: "Hub busy",
  OFFLINE: "No connection",
  RATE_LIMITED: "Too many requests",
};

/** `{title, say}` for an ApiError: the scanner's words for scan codes, else the hub's sentence. */
export function explainError(error) {
  if (error && MESSAGES[error.code] && error.code !== "BAD_REQUEST") {
    return describe(error.code, error.data || {});
  }
  return { title: API_TITLES[error && error.code] || "Not done", say: (error && error.message) || String(error) };
}

/** Show `{title, say}` in the page's message box (#page-message); kind: ok | error | info. */
export function show(kind, { title, say }) {
  const box = $("page-message");
  box.hidden = false;
  box.dataset.kind = kind;
  box.replaceChildren(el("div", { class: "title", text: title }), el("div", { class: "say", text: say || "" }));
}

export function hideMessage() {
  $("page-message").hidden = true;
}

/**
 * Check the login and fill the header; null when the page must not be used: not logged in (off
 * to the login page) or a role not in `roles` (said once on the page, #wrong-role shown).
 */
export async function startPage(roles = ["dispatcher", "biller", "admin"]) {
  const session = await currentUser();
  if (!session) {
    goToLogin();
    return null;
  }
  const { user } = session;
  $("who").textContent = `${user.username} · ${user.area ? user.area.replace(/_/g, " ") : "all areas"}`;
  $("logout").addEventListener("click", logout);
  if (!roles.includes(user.role)) {
    const wrong = $("wrong-role");
    wrong.hidden = false;
    wrong.querySelector("a").href = session.home || "/";
    show("error", { title: "Not for your role",
      say: `You are logged in as ${user.username} (${user.role}); this page is for ${roles.map((r) => `${r}s`).join(" and ")}.` });
    document.body.dataset.ready = "true";
    return null;
  }
  return session;
}
