// Tables on a handheld: each cell named by its column (data-label), which web/css/tables.css shows
// in front of the value when a row becomes a card.

export function labelCells(table) {
  const heads = [...table.tHead.rows[0].cells].map((th) => th.textContent.trim());
  for (const row of table.tBodies[0].rows) {
    for (const cell of row.cells) cell.dataset.label = heads[cell.cellIndex] || "";
  }
}
