/** Small pieces every page uses: error messages, paging, sortable headers, confirmations, notifications. */
import type { ReactNode } from 'react';
import { Alert, Button, Group, Loader, Select, Table, Text, UnstyledButton } from '@mantine/core';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient, type QueryKey } from '@tanstack/react-query';
import { IconAlertTriangle, IconChevronDown, IconChevronUp, IconSelector } from '@tabler/icons-react';
import { errorMessage } from '../lib/api';

export function ErrorAlert({
  error,
  title = 'Something went wrong',
  onRetry,
}: {
  error: unknown;
  title?: string;
  onRetry?: () => void;
}) {
  return (
    <Alert color="red" title={title} icon={<IconAlertTriangle size={18} />} role="alert" my="sm">
      <Text size="sm">{errorMessage(error)}</Text>
      {onRetry && (
        <Button size="xs" variant="light" color="red" mt="xs" onClick={onRetry}>
          Try again
        </Button>
      )}
    </Alert>
  );
}

/** Loading, error or the content of a query. */
export function QueryState<T>({
  query,
  children,
  what,
}: {
  query: {
    isPending: boolean;
    isError: boolean;
    error: unknown;
    data: T | undefined;
    refetch: () => unknown;
  };
  children: (data: T) => ReactNode;
  what?: string;
}) {
  if (query.isPending)
    return (
      <Group gap="xs" my="md" aria-live="polite">
        <Loader size="sm" />
        <Text size="sm">Loading{what ? ` ${what}` : ''}…</Text>
      </Group>
    );
  if (query.isError)
    return (
      <ErrorAlert
        error={query.error}
        title={`Could not load ${what ?? 'this'}`}
        onRetry={() => query.refetch()}
      />
    );
  return <>{children(query.data as T)}</>;
}

export function notifyError(err: unknown, title = 'That did not work') {
  notifications.show({ color: 'red', title, message: errorMessage(err), autoClose: 10_000 });
}

export function notifyDone(message: string, title = 'Done') {
  notifications.show({ color: 'green', title, message, autoClose: 4_000 });
}

/**
 * A mutation that reports success and failure as notifications and refreshes the given queries afterwards.
 */
export function useAction<TArg, TResult = unknown>(
  fn: (arg: TArg) => Promise<TResult>,
  opts: {
    invalidate?: QueryKey[];
    done?: string | ((r: TResult, arg: TArg) => string);
    failed?: string;
    onSuccess?: (r: TResult, arg: TArg) => void;
  } = {},
) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSuccess: (r, arg) => {
      if (opts.done) notifyDone(typeof opts.done === 'string' ? opts.done : opts.done(r, arg));
      opts.onSuccess?.(r, arg);
    },
    onError: (err) => notifyError(err, opts.failed),
    onSettled: () => {
      for (const key of opts.invalidate ?? []) void qc.invalidateQueries({ queryKey: key });
    },
  });
}

/** Asks before something that cannot be undone. */
export function confirmThen(title: string, message: ReactNode, confirmLabel: string, action: () => void) {
  modals.openConfirmModal({
    title,
    children: <Text size="sm">{message}</Text>,
    labels: { confirm: confirmLabel, cancel: 'Cancel' },
    confirmProps: { color: 'red' },
    onConfirm: action,
  });
}

export interface Paging {
  page: number;
  pageSize: number;
}

/** Previous / next with the page size; the API has no totals (as Slicebox), so `hasNext` comes from asking one more row. */
export function Pager({
  paging,
  onChange,
  hasNext,
  shown,
}: {
  paging: Paging;
  onChange: (p: Paging) => void;
  hasNext: boolean;
  shown: number;
}) {
  const first = paging.page * paging.pageSize;
  return (
    <Group justify="space-between" mt="sm" wrap="wrap">
      <Text size="sm" className="dimmed-text" aria-live="polite">
        {shown === 0 ? 'Nothing to show' : `Rows ${first + 1}–${first + shown}`}
      </Text>
      <Group gap="xs">
        <Select
          aria-label="Rows per page"
          size="xs"
          w={90}
          data={['25', '50', '100', '200']}
          value={String(paging.pageSize)}
          onChange={(v) => onChange({ page: 0, pageSize: Number(v ?? 25) })}
          allowDeselect={false}
        />
        <Button
          size="xs"
          variant="default"
          disabled={paging.page === 0}
          onClick={() => onChange({ ...paging, page: paging.page - 1 })}
        >
          Previous
        </Button>
        <Button
          size="xs"
          variant="default"
          disabled={!hasNext}
          onClick={() => onChange({ ...paging, page: paging.page + 1 })}
        >
          Next
        </Button>
      </Group>
    </Group>
  );
}

export interface Sort {
  by: string;
  ascending: boolean;
}

/** A column header that sorts by `column` when clicked (or activated by the keyboard). */
export function SortHeader({
  label,
  column,
  sort,
  onSort,
  wide,
}: {
  label: string;
  column: string;
  sort: Sort;
  /** Shown only on screens at least this wide (a phone keeps the essential columns). */
  wide?: boolean;
  onSort: (s: Sort) => void;
}) {
  const active = sort.by === column;
  const Icon = active ? (sort.ascending ? IconChevronUp : IconChevronDown) : IconSelector;
  return (
    <Table.Th
      visibleFrom={wide ? 'sm' : undefined}
      aria-sort={active ? (sort.ascending ? 'ascending' : 'descending') : 'none'}
    >
      <UnstyledButton
        onClick={() => onSort({ by: column, ascending: active ? !sort.ascending : true })}
        style={{ fontWeight: 700 }}
      >
        <Group gap={4} wrap="nowrap">
          {label}
          <Icon size={14} aria-hidden />
        </Group>
      </UnstyledButton>
    </Table.Th>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <Text size="sm" className="dimmed-text" my="md">
      {children}
    </Text>
  );
}
