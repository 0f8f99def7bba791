// Export buttons for a list page: "CSV" and "Excel" fetch the list's current filter as a file,
// with a progress line (rows and bytes received so far), then hand it to the browser as a download.
// The hub streams the file in chunks; nothing is fetched until a button is pressed.

const FORMATS = [["csv", "CSV"], ["xlsx", "Excel"]];

function megabytes(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

async function download(dataset, format, params, line, buttons) {
  const query = params.toString();
  const url = `/api/exports/${dataset}.${format}${query ? `?${query}` : ""}`;
  buttons.forEach((b) => { b.disabled = true; });
  line.hidden = false;
  line.dataset.kind = "ok";
  line.textContent = "Preparing the export…";
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.message || `The hub answered ${response.status}.`);
    }
    const reader = response.body.getReader();
    const parts = [];
    let bytes = 0;
    let rows = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      bytes += value.length;
      if (format === "csv") rows += value.reduce((n, byte) => n + (byte === 10 ? 1 : 0), 0);
      line.textContent = format === "csv"
        ? `${Math.max(rows - 1, 0).toLocaleString()} rows received (${megabytes(bytes)})…`
        : `${megabytes(bytes)} received…`;
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob(parts, { type: response.headers.get("content-type") || "" }));
    link.download = `${dataset}.${format}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    line.textContent = format === "csv"
      ? `Exported ${Math.max(rows - 1, 0).toLocaleString()} rows (${megabytes(bytes)}).`
      : `Exported ${megabytes(bytes)}.`;
    line.dataset.done = "true";
  } catch (error) {
    line.dataset.kind = "error";
    line.textContent = `Export failed: ${error.message}`;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

/**
 * Render "CSV" and "Excel" export buttons for `dataset` (bags, links, bills, scans) into
 * `container`; `paramsFn()` gives the page's current filters as URLSearchParams.
 */
export function mountExport(container, dataset, paramsFn) {
  const box = document.createElement("div");
  box.className = "export";
  const label = document.createElement("span");
  label.textContent = "Export:";
  const line = document.createElement("p");
  line.className = "export-progress message";
  line.setAttribute("role", "status");
  line.hidden = true;
  const buttons = FORMATS.map(([format, text]) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.dataset.format = format;
    button.textContent = text;
    button.addEventListener("click", () => {
      const params = new URLSearchParams(paramsFn());
      params.delete("after");
      params.delete("limit");
      download(dataset, format, params, line, buttons);
    });
    return button;
  });
  box.append(label, ...buttons, line);
  container.append(box);
  return box;
}
