// One list page of the records API (bags, bills, scans, audit): the filter form mirrored in the
// URL query (a list can be bookmarked and shared), keyset pages with "Next page" / "Previous page"
// (the cursors of the pages before are kept in the history entry, so a reload or Back keeps them),
// a table whose rows become cards on a handheld, and the export buttons of the list's filter.

import { getJson } from "./api.js";
import { el } from "./dom.js";
import { explainError, hideMessage, show, startPage } from "./pagebase.js";
import { labelCells } from "./tables.js";

const $ = (id) => document.getElementById(id);

/** The form's filters that have a value, as URLSearchParams (what the API and the exports take). */
function formFilters(form) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    const text = String(value).trim();
    if (text) params.set(name, text);
  }
  return params;
}

function fillForm(form, params) {
  for (const field of form.elements) {
    if (!field.name) continue;
    const value = params.get(field.name);
    if (field.tagName === "SELECT" && value !== null && ![...field.options].some((o) => o.value === value)) {
      field.append(new Option(value, value)); // a bookmarked value this list does not offer (yet)
    }
    field.value = value ?? (field.tagName === "SELECT" ? field.options[0]?.value ?? "" : "");
  }
}

async function fillAreas(select, user) {
  if (user.role !== "admin") {
    // a non-admin sees their own area only: the filter would say nothing
    select.closest("label").hidden = true;
    return;
  }
  const { areas } = await getJson("/api/areas");
  for (const area of areas) select.append(new Option(area.label, area.name));
}

const DATASETS = { bags: "Bags", links: "Child-parent links", bills: "Bills", scans: "Scans" };

/** The export buttons of each dataset the container names (`data-export`), for the list's filters. */
async function mountExports(container, filters) {
  if (!container) return;
  try {
    const { mountExport } = await import("./exports.js");
    const datasets = container.dataset.export.split(" ");
    for (const dataset of datasets) {
      // a page with two datasets (bags and their links) says which buttons are which
      const set = el("div", { class: "export-set", "data-dataset": dataset },
        datasets.length > 1 ? el("span", { class: "export-name", text: DATASETS[dataset] || dataset }) : null);
      container.append(set);
      mountExport(set, dataset, filters);
    }
  } catch (error) {
    console.info("list: no export buttons (web/js/exports.js)", error);
    container.hidden = true;
  }
}

/**
 * Run a list page. `endpoint` (/api/bags), `key` (the answer's list field: "bags"), `columns`
 * [{head, cell(item, user) -> node or text, class?}], `roles` who may use it, `rowData(item)`
 * the row's data-* attributes.
 */
export async function listPage({ endpoint, key, columns, roles, rowData = () => ({}) }) {
  const session = await startPage(roles);
  if (!session) return;
  const { user } = session;
  const form = $("filters");
  const table = $("list");
  table.tHead.replaceChildren(el("tr", {}, ...columns.map((c) => el("th", { class: c.class, text: c.head }))));
  const areaSelect = form.elements.namedItem("area");
  if (areaSelect) await fillAreas(areaSelect, user).catch((error) => show("error", explainError(error)));

  // `limit` (rows a page) is not a form field: a URL may set it, and it stays as the filters change
  const state = { filters: new URLSearchParams(), after: null, limit: null, stack: [] };
  const read = () => {
    const params = new URLSearchParams(location.search);
    state.after = params.get("after");
    state.limit = params.get("limit");
    params.delete("after");
    params.delete("limit");
    state.filters = params;
    state.stack = (history.state && Array.isArray(history.state.stack)) ? history.state.stack : [];
    fillForm(form, state.filters);
  };
  const query = () => {
    const params = new URLSearchParams(state.filters);
    if (state.limit) params.set("limit", state.limit);
    if (state.after) params.set("after", state.after);
    return params;
  };
  const write = (push) => {
    const text = query().toString();
    const url = `${location.pathname}${text ? `?${text}` : ""}`;
    if (push) history.pushState({ stack: state.stack }, "", url);
    else history.replaceState({ stack: state.stack }, "", url);
  };

  let next = null;
  let loading = 0;
  const load = async () => {
    const mine = ++loading;
    const params = query();
    document.body.dataset.loading = "true";
    try {
      const answer = await getJson(`${endpoint}?${params}`);
      if (mine !== loading) return;
      hideMessage();
      const items = answer[key] || [];
      next = answer.next ?? null;
      table.tBodies[0].replaceChildren(...items.map((item) => el("tr", rowData(item),
        ...columns.map((c) => el("td", { class: c.class }, c.cell(item, user) ?? "–")))));
      labelCells(table);
      $("empty").hidden = items.length > 0;
      table.hidden = items.length === 0;
    } catch (error) {
      if (mine !== loading) return;
      next = null;
      table.tBodies[0].replaceChildren();
      show("error", explainError(error));
    } finally {
      if (mine === loading) {
        $("page-no").textContent = `Page ${state.stack.length + 1}`;
        $("prev").disabled = state.stack.length === 0 && !state.after;
        $("next").disabled = !next;
        document.body.dataset.loading = "false";
        document.body.dataset.ready = "true";
      }
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.filters = formFilters(form);
    state.after = null;
    state.stack = [];
    write(true);
    load();
  });
  $("clear").addEventListener("click", () => {
    fillForm(form, new URLSearchParams());
    form.requestSubmit();
  });
  $("next").addEventListener("click", () => {
    if (!next) return;
    state.stack = [...state.stack, state.after];
    state.after = next;
    write(true);
    load();
  });
  $("prev").addEventListener("click", () => {
    // a bookmarked page has no stack: Previous then goes back to the first page
    state.after = state.stack.length ? state.stack[state.stack.length - 1] : null;
    state.stack = state.stack.slice(0, -1);
    write(true);
    load();
  });
  window.addEventListener("popstate", () => {
    read();
    load();
  });
  read();
  write(false);
  mountExports($("exports"), () => new URLSearchParams(state.filters));
  await load();
}
