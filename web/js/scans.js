// The scans list (web/scans.html): GET /api/scans with the contract's filters. Codes lead to the
// bag or bill, users and scanners to this list filtered by them.
import { el, linkOrText } from "./dom.js";
import { codeHref, scansHref, targetHref } from "./hrefs.js";
import { areaWords, opWords, resultWords, when } from "./labels.js";
import { listPage } from "./listpage.js";

listPage({
  endpoint: "/api/scans",
  key: "scans",
  rowData: (scan) => ({ "data-id": scan.id, "data-result": scan.result, class: scan.result === "OK" ? "ok" : "rejected" }),
  columns: [
    { head: "Time", cell: (scan) => el("time", { datetime: scan.at, text: when(scan.at) }) },
    { head: "Result", cell: (scan) => el("span", { class: "result", title: scan.result, text: resultWords(scan.result) }) },
    { head: "What", cell: (scan) => opWords(scan.op) },
    { head: "Code", class: "mono",
      cell: (scan, user) => (scan.code ? linkOrText(codeHref(scan.op, scan.code, user.role), scan.code) : "") },
    { head: "Into / onto", class: "mono",
      cell: (scan, user) => (scan.target ? linkOrText(targetHref(scan.op, scan.target, user.role), scan.target) : "") },
    { head: "User", cell: (scan) => linkOrText(scansHref("user", scan.user), scan.user || "–", { class: "user" }) },
    { head: "Scanner", class: "mono", cell: (scan) => linkOrText(scansHref("device", scan.device), scan.device, { class: "device" }) },
    { head: "Area", cell: (scan) => areaWords(scan.area) },
  ],
});
