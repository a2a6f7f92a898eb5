/** A list of managed things with a create form and delete buttons: SCPs, SCUs, watched directories, users… */
import { useState, type ReactNode } from 'react';
import {
  Alert,
  Button,
  Checkbox,
  Group,
  NumberInput,
  Paper,
  PasswordInput,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { IconPlus, IconTrash } from '@tabler/icons-react';
import { api, errorMessage } from '../lib/api';
import { useSession } from '../lib/session';
import { confirmThen, Empty, notifyDone, QueryState, useAction } from './common';

export interface Field {
  name: string;
  label: string;
  /** A checkbox's value is 'true' or 'false'. */
  type?: 'text' | 'number' | 'password' | 'select' | 'checkbox';
  options?: Array<{ value: string; label: string }>;
  placeholder?: string;
  description?: string;
  initial?: string;
  width?: number;
}

export interface Column<T> {
  label: string;
  render: (row: T) => ReactNode;
}

export function CreateForm({
  fields,
  submitLabel,
  onSubmit,
  title,
}: {
  fields: Field[];
  submitLabel: string;
  onSubmit: (values: Record<string, string>) => Promise<unknown>;
  title: string;
}) {
  const initial = () => Object.fromEntries(fields.map((f) => [f.name, f.initial ?? '']));
  const [values, setValues] = useState<Record<string, string>>(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const set = (name: string, v: string) => setValues({ ...values, [name]: v });
  return (
    <Paper withBorder p="sm" my="sm">
      <form
        aria-label={title}
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError('');
          try {
            await onSubmit(values);
            setValues(initial());
          } catch (err) {
            setError(errorMessage(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Text fw={600} size="sm" mb="xs">
          {title}
        </Text>
        <Group align="flex-end" gap="xs" wrap="wrap">
          {fields.map((f) => {
            // The key goes on each element: React refuses a key spread in with the other props.
            const common = {
              label: f.label,
              description: f.description,
              placeholder: f.placeholder,
              size: 'xs' as const,
              w: f.width ?? 180,
              required: true,
            };
            if (f.type === 'checkbox')
              return (
                <Checkbox
                  key={f.name}
                  label={f.label}
                  description={f.description}
                  size="xs"
                  mb={6}
                  checked={values[f.name] === 'true'}
                  onChange={(e) => set(f.name, String(e.currentTarget.checked))}
                />
              );
            if (f.type === 'number')
              return (
                <NumberInput
                  key={f.name}
                  {...common}
                  value={values[f.name]}
                  onChange={(v) => set(f.name, String(v))}
                  min={1}
                  max={65535}
                  allowDecimal={false}
                />
              );
            if (f.type === 'password')
              return (
                <PasswordInput
                  key={f.name}
                  {...common}
                  value={values[f.name]}
                  onChange={(e) => set(f.name, e.currentTarget.value)}
                  autoComplete="new-password"
                />
              );
            if (f.type === 'select')
              return (
                <Select
                  key={f.name}
                  {...common}
                  data={f.options ?? []}
                  value={values[f.name] || null}
                  onChange={(v) => set(f.name, v ?? '')}
                  allowDeselect={false}
                />
              );
            return (
              <TextInput
                key={f.name}
                {...common}
                value={values[f.name]}
                onChange={(e) => set(f.name, e.currentTarget.value)}
              />
            );
          })}
          <Button type="submit" size="xs" loading={busy} leftSection={<IconPlus size={14} />}>
            {submitLabel}
          </Button>
        </Group>
        {error && (
          <Alert color="red" mt="xs" role="alert">
            {error}
          </Alert>
        )}
      </form>
    </Paper>
  );
}

export function CrudPage<T extends { id: number }>({
  title,
  intro,
  path,
  queryKey,
  columns,
  fields,
  toBody,
  created,
  itemName,
  rowActions,
  canDelete = () => true,
  deletePath = (row) => `${path}/${row.id}`,
  refetchInterval,
}: {
  title: string;
  intro: ReactNode;
  path: string;
  queryKey: string;
  columns: Array<Column<T>>;
  fields?: Field[];
  toBody?: (v: Record<string, string>) => unknown;
  created?: (row: T) => string;
  itemName: (row: T) => string;
  rowActions?: (row: T) => ReactNode;
  canDelete?: (row: T) => boolean;
  deletePath?: (row: T) => string;
  refetchInterval?: number;
}) {
  const { isAdmin } = useSession();
  const qc = useQueryClient();
  const query = useQuery({
    queryKey: [queryKey],
    queryFn: () => api<T[]>(`${path}?count=10000`),
    refetchInterval,
  });
  const remove = useAction(
    (row: T) => api(deletePath(row), { method: 'DELETE', what: `Deleting ${itemName(row)}` }),
    {
      invalidate: [[queryKey], ['sources'], ['destinations']],
      done: (_, row) => `Deleted ${itemName(row)}.`,
    },
  );
  return (
    <Stack gap={0}>
      <Title order={2}>{title}</Title>
      <Text size="sm" mt={4} mb="xs">
        {intro}
      </Text>
      {isAdmin && fields && toBody && (
        <CreateForm
          title={`Add ${title.toLowerCase().replace(/s( \(.*\))?$/, '')}`}
          fields={fields}
          submitLabel="Add"
          onSubmit={async (v) => {
            const row = await api<T>(path, { body: toBody(v), what: 'Adding' });
            notifyDone(created ? created(row) : `Added ${itemName(row)}.`);
            for (const k of [[queryKey], ['sources'], ['destinations']])
              await qc.invalidateQueries({ queryKey: k });
          }}
        />
      )}
      <QueryState query={query} what={title.toLowerCase()}>
        {(rows) =>
          rows.length === 0 ? (
            <Empty>None yet.</Empty>
          ) : (
            <Table.ScrollContainer minWidth={480}>
              <Table striped aria-label={title}>
                <Table.Thead>
                  <Table.Tr>
                    {columns.map((c) => (
                      <Table.Th key={c.label}>{c.label}</Table.Th>
                    ))}
                    {(isAdmin || rowActions) && <Table.Th>Actions</Table.Th>}
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((row) => (
                    <Table.Tr key={row.id}>
                      {columns.map((c) => (
                        <Table.Td key={c.label}>{c.render(row)}</Table.Td>
                      ))}
                      {(isAdmin || rowActions) && (
                        <Table.Td>
                          <Group gap="xs" wrap="nowrap">
                            {rowActions?.(row)}
                            {isAdmin && canDelete(row) && (
                              <Button
                                size="xs"
                                color="red"
                                variant="light"
                                leftSection={<IconTrash size={14} />}
                                aria-label={`Delete ${itemName(row)}`}
                                onClick={() =>
                                  confirmThen(
                                    `Delete ${itemName(row)}?`,
                                    'This cannot be undone.',
                                    'Delete',
                                    () => remove.mutate(row),
                                  )
                                }
                              >
                                Delete
                              </Button>
                            )}
                          </Group>
                        </Table.Td>
                      )}
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )
        }
      </QueryState>
    </Stack>
  );
}
