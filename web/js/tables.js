// Tables on a handheld: each cell named by its column (data-label), which web/css/tables.css shows
// in front of the value when a row becomes a card.

/** The column names of `table`'s header row. */
export function headings(table) {
  return [...table.tHead.rows[0].cells].map((th) => th.textContent.trim());
}

/** Name each cell of `row` by its column in `heads` (from `headings`); returns the row. */
export function labelRow(row, heads) {
  for (const cell of row.cells) cell.dataset.label = heads[cell.cellIndex] || "";
  return row;
}

export function labelCells(table) {
  const heads = headings(table);
  for (const row of table.tBodies[0].rows) labelRow(row, heads);
}
