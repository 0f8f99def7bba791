// The bags list (web/bags.html): GET /api/bags with the contract's filters.
import { el, linkOrText } from "./dom.js";
import { billHrefFor, lookupHref } from "./hrefs.js";
import { areaWords, statusWords, when } from "./labels.js";
import { listPage } from "./listpage.js";

listPage({
  endpoint: "/api/bags",
  key: "bags",
  rowData: (bag) => ({ "data-code": bag.code }),
  columns: [
    { head: "Bag", class: "mono", cell: (bag) => el("a", { href: lookupHref(bag.code), text: bag.code }) },
    { head: "Kind", cell: (bag) => (bag.kind === "parent" ? "Parent" : "Child") },
    { head: "State", cell: (bag) => statusWords(bag.status) },
    { head: "Area", cell: (bag) => areaWords(bag.area) },
    { head: "Children", class: "n",
      cell: (bag) => (bag.kind === "parent" ? `${bag.child_count}/${bag.capacity}` : "") },
    { head: "Parent", class: "mono",
      cell: (bag) => (bag.parent ? linkOrText(lookupHref(bag.parent), bag.parent) : "") },
    { head: "Bill", class: "mono",
      cell: (bag, user) => (bag.bill ? linkOrText(billHrefFor(user.role, bag.bill), bag.bill) : "") },
    { head: "Created", cell: (bag) => when(bag.created_at) },
  ],
});
