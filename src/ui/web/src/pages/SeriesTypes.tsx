/** Series types, their rules (any rule matches) and rule attributes (all must match), and re-classification. */
import { useState } from 'react';
import {
  Badge,
  Button,
  Grid,
  Group,
  Paper,
  Stack,
  Table,
  Text,
  Title,
  UnstyledButton,
  Loader,
} from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { IconTrash } from '@tabler/icons-react';
import { api } from '../lib/api';
import { tagString } from '../lib/format';
import { useSeriesTypes } from '../lib/metadata';
import { useSession } from '../lib/session';
import type { NamedId, SeriesTypeRule, SeriesTypeRuleAttribute } from '../lib/types';
import { confirmThen, Empty, QueryState, useAction } from '../components/common';
import { CreateForm } from '../components/Crud';

const OPERATORS = ['equals', 'contains', 'starts_with', 'regex', '<', '>', 'range'];

function Rule({ rule, index }: { rule: SeriesTypeRule; index: number }) {
  const { isAdmin } = useSession();
  const qc = useQueryClient();
  const attributes = useQuery({
    queryKey: ['seriestypes', 'attributes', rule.id],
    queryFn: () => api<SeriesTypeRuleAttribute[]>(`/seriestypes/rules/${rule.id}/attributes`),
  });
  const invalidate = [['seriestypes'], ['metadata']];
  const removeRule = useAction(
    () => api(`/seriestypes/rules/${rule.id}`, { method: 'DELETE', what: 'Deleting the rule' }),
    { invalidate },
  );
  const removeAttribute = useAction(
    (a: SeriesTypeRuleAttribute) =>
      api(`/seriestypes/rules/${rule.id}/attributes/${a.id}`, {
        method: 'DELETE',
        what: 'Removing the condition',
      }),
    {
      invalidate,
    },
  );
  return (
    <Paper withBorder p="sm" mb="sm">
      <Group justify="space-between">
        <Text fw={600} size="sm">
          Rule {index + 1}: matches when all of these hold
        </Text>
        {isAdmin && (
          <Button
            size="xs"
            color="red"
            variant="subtle"
            leftSection={<IconTrash size={14} />}
            onClick={() =>
              confirmThen('Delete this rule?', 'Series are re-classified.', 'Delete', () =>
                removeRule.mutate(undefined),
              )
            }
          >
            Delete rule
          </Button>
        )}
      </Group>
      <QueryState query={attributes} what="conditions">
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No conditions: this rule matches every series.</Empty>
          ) : (
            <Table fz="sm" aria-label={`Conditions of rule ${index + 1}`}>
              <Table.Tbody>
                {rows.map((a) => (
                  <Table.Tr key={a.id}>
                    <Table.Td>
                      {a.name || tagString(a.tag)}{' '}
                      <Text span className="mono dimmed-text">
                        {tagString(a.tag)}
                      </Text>
                    </Table.Td>
                    <Table.Td>{a.operator ?? 'equals'}</Table.Td>
                    <Table.Td className="mono">{a.values}</Table.Td>
                    {isAdmin && (
                      <Table.Td w={90}>
                        <Button
                          size="xs"
                          variant="subtle"
                          color="red"
                          onClick={() => removeAttribute.mutate(a)}
                        >
                          Remove
                        </Button>
                      </Table.Td>
                    )}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )
        }
      </QueryState>
      {isAdmin && (
        <CreateForm
          title="Add a condition"
          fields={[
            { name: 'name', label: 'Keyword', placeholder: 'Modality', width: 170 },
            {
              name: 'operator',
              label: 'Operator',
              type: 'select',
              initial: 'equals',
              width: 130,
              options: OPERATORS.map((o) => ({ value: o, label: o })),
            },
            { name: 'values', label: 'Value', placeholder: 'MR', width: 170 },
          ]}
          submitLabel="Add"
          onSubmit={async (v) => {
            await api(`/seriestypes/rules/${rule.id}/attributes`, {
              body: {
                id: -1,
                seriesTypeRuleId: rule.id,
                name: v.name.trim(),
                tagPath: null,
                namePath: null,
                values: v.values,
                operator: v.operator,
              },
              what: 'Adding the condition',
            });
            for (const k of invalidate) await qc.invalidateQueries({ queryKey: k });
          }}
        />
      )}
    </Paper>
  );
}

function Rules({ type }: { type: NamedId }) {
  const { isAdmin } = useSession();
  const rules = useQuery({
    queryKey: ['seriestypes', 'rules', type.id],
    queryFn: () => api<SeriesTypeRule[]>(`/seriestypes/rules?seriestypeid=${type.id}`),
  });
  const add = useAction(
    () => api('/seriestypes/rules', { body: { id: -1, seriesTypeId: type.id }, what: 'Adding a rule' }),
    { invalidate: [['seriestypes']] },
  );
  return (
    <div>
      <Group justify="space-between" mb="xs">
        <Title order={3} size="h5">
          {type.name}: any rule matches
        </Title>
        {isAdmin && (
          <Button size="xs" onClick={() => add.mutate(undefined)} loading={add.isPending}>
            Add rule
          </Button>
        )}
      </Group>
      <QueryState query={rules} what="rules">
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No rules: nothing is classified as {type.name} automatically.</Empty>
          ) : (
            rows.map((r, i) => <Rule key={r.id} rule={r} index={i} />)
          )
        }
      </QueryState>
    </div>
  );
}

export function SeriesTypesPage() {
  const { isAdmin } = useSession();
  const qc = useQueryClient();
  const types = useSeriesTypes();
  const status = useQuery({
    queryKey: ['seriestypes', 'status'],
    queryFn: () => api<{ running: boolean }>('/seriestypes/rules/updatestatus'),
    refetchInterval: 2_000,
  });
  const [selected, setSelected] = useState<number | null>(null);
  const current = types.data?.find((t) => t.id === selected);
  const remove = useAction(
    (t: NamedId) =>
      api(`/seriestypes/${t.id}`, { method: 'DELETE', what: `Deleting series type "${t.name}"` }),
    {
      invalidate: [['seriestypes'], ['metadata']],
      done: (_, t) => `Deleted series type "${t.name}".`,
    },
  );
  return (
    <Stack gap={0}>
      <Group justify="space-between">
        <Title order={2}>Series types</Title>
        {status.data && (
          <Badge
            color={status.data.running ? 'blue' : 'green'}
            variant="light"
            leftSection={status.data.running ? <Loader size={10} /> : undefined}
            aria-live="polite"
          >
            {status.data.running ? 'Re-classifying series…' : 'All series classified'}
          </Badge>
        )}
      </Group>
      <Text size="sm" mt={4}>
        Series types label series by rules over their attributes (for example "MR T1"); types can also be set
        by hand on a series, and those are kept. Changing rules re-classifies every series in the background.
      </Text>
      {isAdmin && (
        <CreateForm
          title="New series type"
          fields={[{ name: 'name', label: 'Name', width: 240 }]}
          submitLabel="Create"
          onSubmit={async (v) => {
            const t = await api<NamedId>('/seriestypes', {
              body: { id: -1, name: v.name },
              what: 'Creating the series type',
            });
            await qc.invalidateQueries({ queryKey: ['seriestypes'] });
            setSelected(t.id);
          }}
        />
      )}
      <Grid mt="xs">
        <Grid.Col span={{ base: 12, md: 4 }}>
          <QueryState query={types} what="series types">
            {(rows) =>
              rows.length === 0 ? (
                <Empty>No series types.</Empty>
              ) : (
                <Table striped aria-label="Series types">
                  <Table.Tbody>
                    {rows.map((t) => (
                      <Table.Tr key={t.id} bg={t.id === selected ? 'var(--mantine-color-blue-0)' : undefined}>
                        <Table.Td>
                          <UnstyledButton
                            onClick={() => setSelected(t.id)}
                            aria-pressed={t.id === selected}
                            style={{ textDecoration: 'underline' }}
                          >
                            {t.name}
                          </UnstyledButton>
                        </Table.Td>
                        {isAdmin && (
                          <Table.Td w={100}>
                            <Button
                              size="xs"
                              color="red"
                              variant="light"
                              aria-label={`Delete series type ${t.name}`}
                              onClick={() =>
                                confirmThen(
                                  `Delete series type "${t.name}"?`,
                                  'Series lose this type.',
                                  'Delete',
                                  () => remove.mutate(t),
                                )
                              }
                            >
                              Delete
                            </Button>
                          </Table.Td>
                        )}
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              )
            }
          </QueryState>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 8 }}>
          {current ? <Rules type={current} /> : <Empty>Choose a series type to see its rules.</Empty>}
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
