// Building DOM nodes from data without innerHTML: every value lands as text or an attribute, so a
// bag code or a destination can never become markup (and the pages stay within the strict CSP).

/**
 * `el("a", {href, class, text}, ...children)`: attributes with a null, undefined or false value
 * are left out; `class` sets className, `text` the text content; children are nodes or text.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A link, or plain text when there is nowhere to go (`href` null). */
export function linkOrText(href, text, attrs = {}) {
  return href ? el("a", { ...attrs, href, text }) : el("span", { ...attrs, text });
}
