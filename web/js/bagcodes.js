// Bag codes as the pages see them: normalised like the hub does, classified by the parent formats
// the hub sent in its last `welcome` (kept in localStorage, so a page started offline knows them).
// The hub normalises and decides again: this only picks the operation to send.

const FORMATS_KEY = "tt.formats";

/** The hub's defaults, used until the first `welcome` arrives. */
export const DEFAULT_FORMATS = [
  { name: "standard", pattern: "^SB[0-9]{5}$", capacity: 30 },
  { name: "mini", pattern: "^M444-[0-9]{5}$", capacity: 15 },
];

/** Strip whitespace, control and zero-width characters a wedge scanner may add; upper-case. */
export function normalise(raw) {
  return String(raw).replace(/[\s\p{C}\p{Z}]/gu, "").toUpperCase();
}

export function loadFormats() {
  try {
    const saved = JSON.parse(localStorage.getItem(FORMATS_KEY));
    if (Array.isArray(saved) && saved.length) return saved;
  } catch {
    // fall through to the defaults
  }
  return DEFAULT_FORMATS;
}

export function saveFormats(formats) {
  if (Array.isArray(formats) && formats.length) localStorage.setItem(FORMATS_KEY, JSON.stringify(formats));
}

const compiled = new Map();

function regex(pattern) {
  let re = compiled.get(pattern);
  if (!re) {
    // The hub matches the whole code (fullmatch) whether or not the pattern is anchored.
    const bare = pattern.replace(/^\^/, "").replace(/\$$/, "");
    try {
      re = new RegExp(`^(?:${bare})$`);
    } catch {
      re = /$^/; // a pattern JavaScript cannot read matches nothing here; the hub still decides
    }
    compiled.set(pattern, re);
  }
  return re;
}

/** The parent format `code` (normalised) belongs to, or null. */
export function parentFormat(code, formats = loadFormats()) {
  return formats.find((format) => regex(format.pattern).test(code)) || null;
}
