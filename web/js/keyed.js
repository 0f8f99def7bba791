// A list of elements kept in step with a list of items without rebuilding it. A dashboard repaints
// in every animation frame while scans pour in; rebuilding hundreds of table rows each time would
// cost more than the frame. An element is built again only when what it shows (its item's
// signature) changed, and moved only when its place changed: the rest of the list is not touched.

export class KeyedChildren {
  /**
   * @param {Element} parent the element whose children this keeps (a <tbody>, an <ol>); it holds nothing else
   * @param {(item: any) => string} key names an item from one update to the next
   * @param {(item: any) => string} signature everything the item's element shows, as one string
   * @param {(item: any) => Element} build the element for an item
   */
  constructor(parent, key, signature, build) {
    this.parent = parent;
    this.key = key;
    this.signature = signature;
    this.build = build;
    this.entries = new Map(); // key -> {signature, node}
  }

  /** Make the parent's children the elements of `items`, in that order; returns how many were built. */
  update(items) {
    const entries = new Map();
    let cursor = this.parent.firstChild; // the children before it are in place
    let built = 0;
    for (const item of items) {
      let key = this.key(item);
      while (entries.has(key)) key += "\u0000"; // a key seen twice: each occurrence its own element
      const signature = this.signature(item);
      let entry = this.entries.get(key);
      if (entry === undefined || entry.signature !== signature) {
        entry = { signature, node: this.build(item) };
        built += 1;
      }
      entries.set(key, entry);
      if (entry.node === cursor) cursor = cursor.nextSibling;
      else this.parent.insertBefore(entry.node, cursor);
    }
    while (cursor !== null) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
    this.entries = entries;
    return built;
  }
}
