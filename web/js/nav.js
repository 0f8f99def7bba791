// The header's links to the pages the logged-in role may use (contract "Pages"). Loaded by a page
// as a module of its own, it fills each `nav[data-nav]` from the cached user at once and again when
// /api/me answers; the dashboard calls `fillNav` itself (its wall mode has no login and no links).

import { cachedUser, currentUser } from "./session.js";

const ALL = ["dispatcher", "biller", "admin"];
const BILLING = ["biller", "admin"];
const ADMIN = ["admin"];

export const PAGES = [
  { href: "/scanner.html", text: "Scanner", roles: ALL },
  { href: "/bills.html", text: "Bill scanner", roles: BILLING },
  { href: "/lookup.html", text: "Lookup", roles: ALL },
  { href: "/bags.html", text: "Bags", roles: ALL },
  { href: "/bill-list.html", text: "Bills", roles: BILLING },
  { href: "/scans.html", text: "Scans", roles: ALL },
  { href: "/returns.html", text: "Returns", roles: BILLING },
  { href: "/dashboard.html", text: "Dashboard", roles: ALL },
  { href: "/audit.html", text: "Audit", roles: ADMIN },
  { href: "/imports.html", text: "Imports", roles: ADMIN },
  { href: "/admin.html", text: "Admin", roles: ADMIN },
];

/** The pages `role` may use, as {href, text}. */
export function pagesFor(role) {
  return PAGES.filter((page) => page.roles.includes(role));
}

/** Fill `nav` with links to the pages of `role`, the page being shown marked. */
export function fillNav(nav, role) {
  const here = location.pathname === "/" ? "/index.html" : location.pathname;
  nav.replaceChildren(...pagesFor(role).map(({ href, text }) => {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (href === here) a.setAttribute("aria-current", "page");
    return a;
  }));
  nav.dataset.role = role;
}

async function mount() {
  const navs = [...document.querySelectorAll("nav[data-nav]")];
  if (navs.length === 0) return;
  const cached = cachedUser();
  if (cached && cached.user) for (const nav of navs) fillNav(nav, cached.user.role);
  const session = await currentUser().catch(() => null);
  if (session && session.user) for (const nav of navs) fillNav(nav, session.user.role);
}

mount();
