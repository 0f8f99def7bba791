// The imports page (admins): upload a CSV or Excel file of links, follow its progress line by line
// (the hub answers NDJSON: started, progress..., finished), then the summary, the bad rows' report
// and the list of past imports.
import { currentUser, goToLogin, logout } from "./session.js";
import { labelCells } from "./tables.js";

const $ = (selector) => document.querySelector(selector);
const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const STATES = { running: "running", done: "done", refused: "nothing imported", failed: "failed" };

function show(text, kind = "ok") {
  const box = $("#import-message");
  box.hidden = false;
  box.dataset.kind = kind;
  box.textContent = text;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  row.append(td);
  return td;
}

function reportLink(record) {
  const link = document.createElement("a");
  link.className = "link-button small";
  link.href = `/api/imports/${record.id}/errors.csv`;
  link.textContent = "Bad rows";
  return link;
}

async function loadImports() {
  const response = await fetch("/api/imports", { credentials: "same-origin" });
  if (!response.ok) return;
  const { imports } = await response.json();
  const body = $("#imports");
  body.replaceChildren();
  for (const record of imports) {
    const row = document.createElement("tr");
    row.dataset.id = record.id;
    cell(row, new Date(record.started_at).toLocaleString());
    cell(row, record.file_name);
    cell(row, record.actor);
    cell(row, record.kind);
    cell(row, record.mode === "all" ? "all or nothing" : "row by row");
    cell(row, STATES[record.status] || record.status);
    cell(row, String(record.rows_total));
    cell(row, String(record.applied));
    cell(row, String(record.already));
    cell(row, String(record.bad));
    const last = cell(row, "");
    if (record.bad > 0) last.append(reportLink(record));
    body.append(row);
  }
  labelCells(body.closest("table"));
}

function summarise(record) {
  const state = record.status === "refused"
    ? `Nothing was imported: ${record.bad} bad row(s). Fix them and import the file again.`
    : record.status === "failed"
      ? "The import could not finish (the hub lost its database). Import the same file again to finish it."
      : `Imported: ${record.applied} row(s) applied, ${record.already} already there, ${record.bad} bad.`;
  return `${record.file_name}: ${record.rows_total} row(s). ${state}`;
}

async function upload(form) {
  const file = form.file.files[0];
  if (!file) return;
  const params = new URLSearchParams({ kind: form.kind.value, mode: form.mode.value, name: file.name });
  if (form.area.value) params.set("area", form.area.value);
  const type = file.name.toLowerCase().endsWith(".xlsx") ? XLSX : "text/csv";
  const progress = $("#import-progress");
  const summary = $("#import-summary");
  const errors = $("#import-errors");
  errors.hidden = true;
  summary.hidden = true;
  progress.hidden = false;
  progress.value = 0;
  show("Uploading…");
  const response = await fetch(`/api/imports?${params}`, {
    method: "POST", credentials: "same-origin", headers: { "content-type": type }, body: file,
  });
  if (response.status === 401) return goToLogin();
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    progress.hidden = true;
    return show(body.message || `The hub answered ${response.status}.`, "error");
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let last = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    const lines = buffer.split("\n");
    buffer = lines.pop();
    for (const line of lines.filter(Boolean)) {
      const event = JSON.parse(line);
      if (event.event === "progress") {
        progress.max = Math.max(event.rows, 1);
        progress.value = event.done;
        show(`Checked ${event.done} of ${event.rows} rows…`);
      } else if (event.import) {
        last = event.import;
        progress.max = Math.max(last.rows_total, 1);
        progress.value = last.rows_done;
      }
    }
  }
  if (!last) return show("The import stopped without an answer; see the list below.", "error");
  progress.value = progress.max;
  summary.hidden = false;
  summary.textContent = summarise(last);
  show(last.status === "done" && last.bad === 0 ? "Import finished." : summarise(last),
       last.status === "done" && last.bad === 0 ? "ok" : "error");
  if (last.bad > 0) {
    errors.href = `/api/imports/${last.id}/errors.csv`;
    errors.hidden = false;
  }
  await loadImports();
}

async function loadAreas() {
  const response = await fetch("/api/areas", { credentials: "same-origin" });
  const { areas } = await response.json();
  const select = $("select[name=area]");
  select.replaceChildren(new Option("(none: the file names existing parents only)", ""),
                         ...areas.map((area) => new Option(area.label, area.name)));
}

async function start() {
  const me = await currentUser();
  if (!me) return goToLogin();
  $("#logout").addEventListener("click", logout);
  $("#who").textContent = `${me.user.username} · imports`;
  if (me.user.role !== "admin") {
    $("#wrong-role").hidden = false;
    $("#home-link").href = me.home || "/";
    return;
  }
  $("#import-work").hidden = false;
  $("#import-form").addEventListener("submit", (event) => {
    event.preventDefault();
    upload(event.target).catch((error) => show(`The import failed: ${error.message}`, "error"));
  });
  await Promise.all([loadAreas(), loadImports()]);
}

start();
