// The admin page: users, their sessions, scanners (which user each belongs to) and wall-screen
// links. Everything goes through the hub's admin API; errors are shown with the message it sends.
import { currentUser, goToLogin, logout } from "./session.js";
import { labelCells } from "./tables.js";

const $ = (selector) => document.querySelector(selector);

function show(text, kind = "ok") {
  const box = $("#admin-message");
  box.hidden = false;
  box.dataset.kind = kind;
  box.textContent = text;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, credentials: "same-origin",
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 401) {
    goToLogin();
    throw new Error("not logged in");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `The hub answered ${response.status}.`);
  return data;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  row.append(td);
  return td;
}

function button(row, label, onClick) {
  const td = cell(row, "");
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  td.append(b);
}

async function loadUsers() {
  const { users } = await api("GET", "/api/users");
  const body = $("#users");
  body.replaceChildren();
  for (const user of users) {
    const row = document.createElement("tr");
    cell(row, user.username);
    cell(row, user.role);
    cell(row, user.area || "all");
    cell(row, !user.active ? "inactive" : user.locked ? "locked" : "active");
    cell(row, String(user.sessions));
    button(row, "Log out everywhere", async () => {
      try {
        const { revoked } = await api("POST", `/api/users/${user.id}/revoke-sessions`);
        show(`${user.username}: ${revoked} session(s) ended.`);
        await loadUsers();
      } catch (error) {
        show(error.message, "error");
      }
    });
    body.append(row);
  }
  labelCells(body.closest("table"));
}

async function loadDevices() {
  const { devices } = await api("GET", "/api/devices");
  const body = $("#devices");
  body.replaceChildren();
  for (const device of devices) {
    const row = document.createElement("tr");
    row.dataset.device = device.device;
    cell(row, device.device).className = "device-id";
    cell(row, device.owner.username);
    cell(row, device.last_scan_at ? new Date(device.last_scan_at).toLocaleString() : "never");
    button(row, "Release", async () => {
      try {
        const { owner } = await api("POST", `/api/devices/${encodeURIComponent(device.device)}/release`);
        show(`Scanner ${device.device} released from ${owner.username}: its next user takes it over.`);
        await loadDevices();
      } catch (error) {
        show(error.message, "error");
      }
    });
    body.append(row);
  }
  labelCells(body.closest("table"));
}

async function loadTokens() {
  const { tokens } = await api("GET", "/api/wall-tokens");
  const body = $("#tokens");
  body.replaceChildren();
  for (const token of tokens) {
    const row = document.createElement("tr");
    cell(row, token.label);
    cell(row, token.area || "all areas");
    cell(row, new Date(token.created_at).toLocaleString());
    cell(row, token.revoked ? "revoked" : "live");
    if (token.revoked) {
      cell(row, "");
    } else {
      button(row, "Revoke", async () => {
        try {
          await api("POST", `/api/wall-tokens/${token.id}/revoke`);
          show(`Wall screen "${token.label}" revoked; its screen goes blank.`);
          await loadTokens();
        } catch (error) {
          show(error.message, "error");
        }
      });
    }
    body.append(row);
  }
  labelCells(body.closest("table"));
}

async function fillAreas() {
  const { areas } = await api("GET", "/api/areas");
  for (const select of document.querySelectorAll("select.areas")) {
    if (select.dataset.all) select.append(new Option(select.dataset.all, ""));
    for (const area of areas) select.append(new Option(area.label, area.name));
  }
}

async function main() {
  const session = await currentUser();
  if (!session) {
    goToLogin();
    return;
  }
  $("#logout").addEventListener("click", logout);
  if (session.user.role !== "admin") {
    // Say so here, once: the login page would only send a logged-in operator straight back.
    $("#home-link").href = session.home || "/";
    $("#wrong-role").hidden = false;
    show(`You are logged in as ${session.user.username} (${session.user.role}): this page is for admins.`, "error");
    return;
  }
  $("#admin-work").hidden = false;
  $("#who").textContent = `Admin · ${session.user.username}`;
  await fillAreas();
  $("#new-user").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const role = form.get("role");
    try {
      await api("POST", "/api/users", {
        username: form.get("username"), password: form.get("password"), role,
        area: role === "admin" ? null : form.get("area"),
      });
      show(`User ${form.get("username")} created.`);
      event.target.reset();
      await loadUsers();
    } catch (error) {
      show(error.message, "error");
    }
  });
  $("#new-token").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const token = await api("POST", "/api/wall-tokens", { label: form.get("label"), area: form.get("area") || null });
      const link = $("#new-token-link");
      link.hidden = false;
      link.textContent = `Open this on the wall screen (shown only now): ${location.origin}${token.url}`;
      event.target.reset();
      await loadTokens();
    } catch (error) {
      show(error.message, "error");
    }
  });
  await Promise.all([loadUsers(), loadDevices(), loadTokens()]);
}

main().catch((error) => show(error.message, "error"));
