// The login page: after login each role lands on its own start page (the hub's `home`), or back
// on the page that sent the operator here (`?next=`, a path of this site only).

import { currentUser, rememberUser, sameOriginUrl } from "./session.js";

const $ = (id) => document.getElementById(id);

function nextPage(home) {
  return sameOriginUrl(new URLSearchParams(location.search).get("next"), location.origin) || home;
}

function showError(text) {
  const box = $("login-error");
  box.textContent = text;
  box.hidden = false;
}

async function submit(event) {
  event.preventDefault();
  const username = $("username").value.trim().toLowerCase();
  const password = $("password").value;
  if (!username || !password) {
    showError("Type your user name and password.");
    ($("username").value ? $("password") : $("username")).focus();
    return;
  }
  $("submit").disabled = true;
  $("login-error").hidden = true;
  try {
    const response = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ username, password }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      rememberUser(body);
      location.replace(nextPage(body.home || "/"));
      return;
    }
    if (response.status === 401) showError("Wrong user name or password. Try again.");
    else showError(body.message || `The hub answered ${response.status}. Try again.`);
    $("password").value = "";
    $("password").focus();
  } catch {
    showError("The hub cannot be reached. Check the Wi-Fi and try again.");
  } finally {
    $("submit").disabled = false;
  }
}

async function main() {
  $("login").addEventListener("submit", submit);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  // already logged in (and online): straight on; "Log out" on the pages switches the user
  const me = await currentUser().catch(() => null);
  if (me && !me.offline) {
    location.replace(nextPage(me.home));
    return;
  }
  document.body.dataset.ready = "true";
}

main();
