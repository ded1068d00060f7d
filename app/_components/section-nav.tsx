"use client";

import { TabsNav } from "@whop/react/components";
import Link from "next/link";
import { usePathname } from "next/navigation";

/**
 * The one navigation of a set of sections (dashboard or member app): Frosted UI tabs,
 * each a link to its own route; the current section is marked active. On a phone the
 * tabs scroll sideways inside their bar, never the page.
 */
export function SectionNav({ base, sections, label }: { base: string; sections: { href: string; title: string }[]; label: string }) {
  const path = usePathname();
  return (
    <div className="section-nav">
      <TabsNav.Root aria-label={label}>
        {sections.map((s) => {
          const href = `${base}${s.href}`;
          const active = s.href === "" ? path === base : path === href || path.startsWith(`${href}/`);
          return (
            <TabsNav.Link key={s.href} asChild active={active}>
              <Link href={href} aria-current={active ? "page" : undefined}>
                {s.title}
              </Link>
            </TabsNav.Link>
          );
        })}
      </TabsNav.Root>
    </div>
  );
}
