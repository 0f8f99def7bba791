// The audit log (web/audit.html, admins): GET /api/audit with its filters; each entry's before and
// after shown field by field, the fields that changed marked.
import { el } from "./dom.js";
import { when, words } from "./labels.js";
import { listPage } from "./listpage.js";

function text(value) {
  if (value === null || value === undefined) return "–";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** before/after as "field: value" lines; a field whose value differs on the other side is marked. */
function fields(value, other) {
  if (value === null || value === undefined) return el("span", { class: "none", text: "–" });
  if (typeof value !== "object" || Array.isArray(value)) return el("span", { text: text(value) });
  const against = other && typeof other === "object" ? other : {};
  return el("dl", { class: "changes" }, ...Object.entries(value).flatMap(([name, item]) => {
    const changed = text(item) !== text(against[name]);
    return [el("dt", { class: changed ? "changed" : null, text: words(name) }),
      el("dd", { class: changed ? "changed" : null, text: text(item) })];
  }));
}

listPage({
  endpoint: "/api/audit",
  key: "entries",
  roles: ["admin"],
  rowData: (entry) => ({ "data-id": entry.id, "data-action": entry.action }),
  columns: [
    { head: "Time", cell: (entry) => el("time", { datetime: entry.at, text: when(entry.at) }) },
    { head: "Who", cell: (entry) => entry.actor || "–" },
    { head: "Action", cell: (entry) => entry.action },
    { head: "Target", class: "mono", cell: (entry) => entry.target || "–" },
    { head: "Before", class: "text", cell: (entry) => fields(entry.before, entry.after) },
    { head: "After", class: "text", cell: (entry) => fields(entry.after, entry.before) },
  ],
});
