// The bills list (web/bill-list.html): GET /api/bills with the contract's filters. Each bill links
// to its detail page for those who may open it (billers, admins); a dispatcher sees the number.
import { linkOrText } from "./dom.js";
import { billHrefFor } from "./hrefs.js";
import { areaWords, statusWords, when } from "./labels.js";
import { listPage } from "./listpage.js";

listPage({
  endpoint: "/api/bills",
  key: "bills",
  rowData: (bill) => ({ "data-code": bill.code }),
  columns: [
    { head: "Bill", class: "mono", cell: (bill, user) => linkOrText(billHrefFor(user.role, bill.code), bill.code) },
    { head: "State", cell: (bill) => statusWords(bill.status) },
    { head: "Area", cell: (bill) => areaWords(bill.area) },
    { head: "Parents", class: "n", cell: (bill) => `${bill.parent_count}/${bill.capacity}` },
    { head: "Destination", class: "text", cell: (bill) => bill.destination || "–" },
    { head: "Vehicle", class: "text", cell: (bill) => bill.vehicle || "–" },
    { head: "Created", cell: (bill) => when(bill.created_at) },
    { head: "Finished", cell: (bill) => when(bill.completed_at) },
  ],
});
