// The records pages' calls to the hub's JSON API (docs/api.md): one place that sends the session
// cookie, goes to the login page when the session has ended, and turns an error answer
// (`{"error", "message", "data"}`) into an ApiError the page can put into words.

import { goToLogin } from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message, data = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.data = data;
  }
}

/**
 * `method path` with an optional JSON `body`; resolves to the answer's JSON. `headers` are added
 * (an Idempotency-Key, for one). A network failure becomes ApiError "OFFLINE" (status 0).
 */
export async function call(method, path, body = undefined, headers = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "OFFLINE", "The hub cannot be reached. Check the Wi-Fi and try again.");
  }
  if (response.status === 401) {
    goToLogin();
    throw new ApiError(401, "LOGIN", "Your login has ended. Log in again.");
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const code = (answer && answer.error) || `HTTP_${response.status}`;
    const message = (answer && answer.message) || `The hub answered ${response.status}.`;
    throw new ApiError(response.status, code, message, (answer && answer.data) || {});
  }
  return answer ?? {};
}

export const getJson = (path) => call("GET", path);

/**
 * Whether the hub answered a request for good (done or refused). Unanswered (no connection) or
 * BUSY (503), the same request is sent again with the same Idempotency-Key; answered, whatever is
 * sent next is a new request and needs a new key, or the hub would replay the old answer.
 */
export function answered(error) {
  return !(error instanceof ApiError) || (error.status !== 0 && error.status !== 503);
}

/** A fresh Idempotency-Key (contract: 1-64 of A-Za-z0-9_-): a retried click is answered, not redone. */
export function idempotencyKey() {
  // getRandomValues, not randomUUID: a hub on a warehouse LAN is plain http, not a secure context
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}
