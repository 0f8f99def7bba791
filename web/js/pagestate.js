// A page's own state in localStorage: the item being worked on (a parent, a bill) and what the page
// last knew of recent items, so a reload shows the same screen. Kept to the last `keep` items.

export function loadState(key, current, items) {
  try {
    const saved = JSON.parse(localStorage.getItem(key));
    if (saved && typeof saved === "object") return { [current]: saved[current] || null, [items]: saved[items] || {} };
  } catch {
    // start afresh
  }
  return { [current]: null, [items]: {} };
}

export function storeState(key, state, current, items, keep) {
  const codes = Object.keys(state[items]);
  for (const code of codes.slice(0, Math.max(0, codes.length - keep))) {
    if (code !== state[current]) delete state[items][code];
  }
  localStorage.setItem(key, JSON.stringify(state));
}
