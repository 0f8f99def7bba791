// The admin page: users (role, area, active, password, sessions, login limits), dispatch areas,
// scanners (which user each belongs to, and their names) and wall-screen links. Everything goes
// through the hub's admin API; errors are shown with the message it sends (LAST_ADMIN, OWN_ACCOUNT...).
import { currentUser, goToLogin, logout } from "./session.js";
import { labelCells } from "./tables.js";

const $ = (selector) => document.querySelector(selector);
const ROLES = ["dispatcher", "biller", "admin"];
let areaList = []; // [{name, label}], for the pickers

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

function makeButton(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function button(row, label, onClick) {
  cell(row, "").append(makeButton(label, onClick));
}

/** A cell of buttons: [[label, onClick], ...]. */
function actions(row, list) {
  const box = document.createElement("div");
  box.className = "actions";
  box.append(...list.map(([label, onClick]) => makeButton(label, onClick)));
  cell(row, "").append(box);
}

function picker(name, options, value) {
  const select = document.createElement("select");
  select.name = name;
  for (const [optionValue, text] of options) select.append(new Option(text, optionValue, false, optionValue === value));
  return select;
}

/** Run one admin action: its success words on success, the hub's message on failure; then reload. */
function act(work, reload) {
  return async () => {
    try {
      show(await work());
    } catch (error) {
      show(error.message, "error");
    }
    await reload().catch((error) => show(error.message, "error"));
  };
}

async function loadUsers() {
  const { users } = await api("GET", "/api/users");
  const body = $("#users");
  body.replaceChildren();
  const reset = $("#reset-user");
  reset.replaceChildren(...users.map((user) => new Option(user.username, String(user.id))));
  for (const user of users) {
    const row = document.createElement("tr");
    row.dataset.user = user.username;
    cell(row, user.username);
    const role = picker("role", ROLES.map((r) => [r, r]), user.role);
    cell(row, "").append(role);
    const area = picker("area", [["", "all (admins)"], ...areaList.map((a) => [a.name, a.label])], user.area || "");
    cell(row, "").append(area);
    cell(row, !user.active ? "inactive" : user.locked ? "locked" : "active");
    cell(row, String(user.sessions));
    // `change()` is read when the button is pressed, from the row's pickers as they are then.
    const patch = (change, done) => act(async () => {
      const { sessions_ended: ended } = await api("PATCH", `/api/users/${user.id}`, change());
      return `${user.username}: ${done}${ended ? `; ${ended} session(s) ended` : ""}.`;
    }, loadUsers);
    actions(row, [
      ["Save", patch(() => ({ role: role.value, area: area.value || null }), "role and area saved")],
      user.active ? ["Deactivate", patch(() => ({ active: false }), "deactivated")]
        : ["Reactivate", patch(() => ({ active: true }), "reactivated")],
      ...(user.locked ? [["Unlock", act(async () => {
        await api("POST", `/api/users/${user.id}/unlock`);
        return `${user.username} may log in again from anywhere.`;
      }, loadUsers)]] : []),
      ["Log out everywhere", act(async () => {
        const { revoked } = await api("POST", `/api/users/${user.id}/revoke-sessions`);
        return `${user.username}: ${revoked} session(s) ended.`;
      }, loadUsers)],
    ]);
    body.append(row);
  }
  labelCells(body.closest("table"));
}

async function loadAreas() {
  ({ areas: areaList } = await api("GET", "/api/areas"));
  const body = $("#areas");
  body.replaceChildren();
  for (const area of areaList) {
    const row = document.createElement("tr");
    row.dataset.area = area.name;
    cell(row, area.name).className = "device-id";
    const label = document.createElement("input");
    label.name = "label";
    label.value = area.label;
    label.maxLength = 100;
    cell(row, "").append(label);
    actions(row, [["Rename", act(async () => {
      const { area: renamed } = await api("PATCH", `/api/areas/${encodeURIComponent(area.name)}`, { label: label.value });
      return `Area ${renamed.name} is now called ${renamed.label}.`;
    }, refreshAreas)]]);
    body.append(row);
  }
  labelCells(body.closest("table"));
  for (const select of document.querySelectorAll("select.areas")) {
    const chosen = select.value;
    select.replaceChildren();
    if (select.dataset.all) select.append(new Option(select.dataset.all, ""));
    for (const a of areaList) select.append(new Option(a.label, a.name, false, a.name === chosen));
  }
}

/** After an area changes: the areas table, the pickers, and the users' area pickers. */
async function refreshAreas() {
  await loadAreas();
  await loadUsers();
}

async function loadDevices() {
  const { devices } = await api("GET", "/api/devices");
  const body = $("#devices");
  body.replaceChildren();
  for (const device of devices) {
    const row = document.createElement("tr");
    row.dataset.device = device.device;
    cell(row, device.device).className = "device-id";
    const name = document.createElement("input");
    name.name = "name";
    name.value = device.name ?? "";
    name.maxLength = 60;
    name.placeholder = "no name";
    cell(row, "").append(name);
    cell(row, device.owner.username);
    cell(row, device.last_scan_at ? new Date(device.last_scan_at).toLocaleString() : "never");
    const path = `/api/devices/${encodeURIComponent(device.device)}`;
    actions(row, [
      ["Save name", act(async () => {
        const { name: saved } = await api("PATCH", path, { name: name.value.trim() || null });
        return saved ? `Scanner ${device.device} is now shown as ${saved}.` : `Scanner ${device.device} has no name now.`;
      }, loadDevices)],
      ["Release", act(async () => {
        const { owner } = await api("POST", `${path}/release`);
        return `Scanner ${device.device} released from ${owner.username}: its next user takes it over.`;
      }, loadDevices)],
    ]);
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
  await loadAreas();
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
  $("#reset-password").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const user = $("#reset-user").selectedOptions[0]?.textContent ?? "";
    try {
      const { sessions_ended: ended } = await api("POST", `/api/users/${form.get("user")}/password`,
        { password: form.get("password") });
      show(`New password set for ${user}; ${ended} session(s) ended.`);
      event.target.reset();
      await loadUsers();
    } catch (error) {
      show(error.message, "error");
    }
  });
  $("#new-area").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const { area } = await api("POST", "/api/areas", { name: form.get("name"), label: form.get("label") });
      show(`Area ${area.label} (${area.name}) added.`);
      event.target.reset();
      await refreshAreas();
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
