import type { ReactNode } from 'react';
import { Anchor, Breadcrumbs } from '@mantine/core';
import { Link } from 'wouter';

/** An in-app link: a real anchor (keyboard, middle click, copy) that navigates without reloading. */
export function AppLink({ to, children, label }: { to: string; children: ReactNode; label?: string }) {
  return (
    <Anchor component={Link} href={to} aria-label={label}>
      {children}
    </Anchor>
  );
}

export function Crumbs({ items }: { items: Array<{ to?: string; label: string }> }) {
  return (
    <Breadcrumbs mb="sm" separatorMargin={6} aria-label="Breadcrumb">
      {items.map((i) =>
        i.to ? (
          <AppLink key={i.label + i.to} to={i.to}>
            {i.label}
          </AppLink>
        ) : (
          <span key={i.label}>{i.label}</span>
        ),
      )}
    </Breadcrumbs>
  );
}
