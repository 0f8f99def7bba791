// Who is logged in. The hub keeps the session (cookie tt_session, HttpOnly); the page keeps a copy
// of the user in localStorage so that it can start and keep scanning while the hub is unreachable.

const USER_KEY = "tt.user";

export function cachedUser() {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY));
  } catch {
    return null;
  }
}

export function rememberUser(body) {
  localStorage.setItem(USER_KEY, JSON.stringify({ user: body.user, home: body.home }));
}

/**
 * `{user, home, offline}` of the session; from the cached copy (offline: true) when the hub cannot
 * be reached; null when the hub says nobody is logged in.
 */
export async function currentUser() {
  try {
    const response = await fetch("/api/me", { cache: "no-store", credentials: "same-origin" });
    if (response.status === 401) {
      localStorage.removeItem(USER_KEY);
      return null;
    }
    if (response.ok) {
      const body = await response.json();
      rememberUser(body);
      return { ...body, offline: false };
    }
  } catch {
    // unreachable: use the copy
  }
  const cached = cachedUser();
  return cached ? { ...cached, offline: true } : null;
}

/**
 * The login page's `?next=` as an absolute URL of `origin`, or null. Only a path of this site
 * passes, however the browser's URL parser reads it: that parser drops tabs, CR and LF, reads `\`
 * as `/` and collapses `/.//`, so `/%09/other-host/` would otherwise lead to another host. The
 * check is on the parsed URL, and what is returned is that URL, never the raw text re-parsed later.
 */
export function sameOriginUrl(next, origin) {
  if (typeof next !== "string" || !next.startsWith("/") || /[\u0000-\u001f\u007f\\]/.test(next)) return null;
  let url;
  try {
    url = new URL(next, origin);
  } catch {
    return null;
  }
  return url.origin === origin ? url.href : null;
}

/** Go to the login page, coming back here afterwards. */
export function goToLogin() {
  location.replace(`/?next=${encodeURIComponent(location.pathname)}`);
}

export async function logout() {
  try {
    await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
  } catch {
    // offline: the cookie goes when the hub is reached again or expires
  }
  localStorage.removeItem(USER_KEY);
  location.replace("/");
}
