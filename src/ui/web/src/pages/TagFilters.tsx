/** Tag filters (white and black lists of attributes) and which sources they apply to. */
import { useState } from 'react';
import { Badge, Button, Grid, Group, Paper, Stack, Table, Text, Title, UnstyledButton } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { IconTrash } from '@tabler/icons-react';
import { api } from '../lib/api';
import { sourceKey, sourceLabel, useSources } from '../lib/metadata';
import { useSession } from '../lib/session';
import { formatTagPath, parseTagPath } from '../lib/tagpath';
import type { SourceTagFilter, TagFilter, TagFilterTagPath } from '../lib/types';
import { confirmThen, Empty, notifyDone, QueryState, useAction } from '../components/common';
import { CreateForm } from '../components/Crud';

function TagPaths({ filter }: { filter: TagFilter }) {
  const { isAdmin } = useSession();
  const qc = useQueryClient();
  const paths = useQuery({
    queryKey: ['filters', 'paths', filter.id],
    queryFn: () => api<TagFilterTagPath[]>(`/filtering/filters/${filter.id}/tagpaths?count=10000`),
  });
  const remove = useAction(
    (p: TagFilterTagPath) =>
      api(`/filtering/filters/${filter.id}/tagpaths/${p.id}`, {
        method: 'DELETE',
        what: 'Removing the attribute',
      }),
    {
      invalidate: [['filters']],
    },
  );
  return (
    <Paper withBorder p="sm">
      <Title order={3} size="h5">
        {filter.name}: {filter.tagFilterType === 'WHITELIST' ? 'keeps only' : 'removes'} these attributes
      </Title>
      {isAdmin && (
        <CreateForm
          title="Add an attribute"
          fields={[
            {
              name: 'path',
              label: 'Keyword, tag or path',
              placeholder: 'PatientAddress or (0008,1140)[*].(0008,1155)',
              width: 320,
            },
          ]}
          submitLabel="Add"
          onSubmit={async (v) => {
            await api(`/filtering/filters/${filter.id}/tagpaths`, {
              body: { id: -1, tagFilterId: filter.id, tagPath: parseTagPath(v.path) },
              what: 'Adding the attribute',
            });
            await qc.invalidateQueries({ queryKey: ['filters'] });
          }}
        />
      )}
      <QueryState query={paths} what="the attributes">
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No attributes yet.</Empty>
          ) : (
            <Table fz="sm" aria-label={`Attributes of ${filter.name}`}>
              <Table.Tbody>
                {rows.map((p) => (
                  <Table.Tr key={p.id}>
                    <Table.Td className="mono">{formatTagPath(p.tagPath)}</Table.Td>
                    {isAdmin && (
                      <Table.Td w={90}>
                        <Button
                          size="xs"
                          variant="subtle"
                          color="red"
                          onClick={() => remove.mutate(p)}
                          aria-label={`Remove ${formatTagPath(p.tagPath)}`}
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
    </Paper>
  );
}

export function TagFiltersPage() {
  const { isAdmin } = useSession();
  const qc = useQueryClient();
  const filters = useQuery({
    queryKey: ['filters', 'list'],
    queryFn: () => api<TagFilter[]>('/filtering/filters?count=10000'),
  });
  const associations = useQuery({
    queryKey: ['filters', 'associations'],
    queryFn: () => api<SourceTagFilter[]>('/filtering/associations?count=10000'),
  });
  const sources = useSources();
  const [selected, setSelected] = useState<number | null>(null);
  const current = filters.data?.find((f) => f.id === selected);
  const removeFilter = useAction(
    (f: TagFilter) =>
      api(`/filtering/filters/${f.id}`, { method: 'DELETE', what: `Deleting filter "${f.name}"` }),
    {
      invalidate: [['filters']],
      done: (_, f) => `Deleted filter "${f.name}" and its associations.`,
    },
  );
  const removeAssociation = useAction(
    (a: SourceTagFilter) =>
      api(`/filtering/associations/${a.id}`, { method: 'DELETE', what: 'Removing the association' }),
    {
      invalidate: [['filters']],
    },
  );
  return (
    <Stack gap={0}>
      <Title order={2}>Tag filters</Title>
      <Text size="sm" mt={4}>
        Filters remove attributes from incoming instances of the sources they are associated with: a blacklist
        removes what it lists, a whitelist keeps only what it lists (and what Sluice needs to index and show
        the instance). Changes apply to instances that arrive from now on.
      </Text>
      {isAdmin && (
        <CreateForm
          title="New tag filter"
          fields={[
            { name: 'name', label: 'Name' },
            {
              name: 'type',
              label: 'Type',
              type: 'select',
              initial: 'BLACKLIST',
              width: 150,
              options: [
                { value: 'BLACKLIST', label: 'Blacklist' },
                { value: 'WHITELIST', label: 'Whitelist' },
              ],
            },
          ]}
          submitLabel="Create"
          onSubmit={async (v) => {
            const f = await api<TagFilter>('/filtering/filters', {
              body: { id: -1, name: v.name, tagFilterType: v.type },
              what: 'Creating the filter',
            });
            await qc.invalidateQueries({ queryKey: ['filters'] });
            setSelected(f.id);
          }}
        />
      )}
      <Grid mt="xs">
        <Grid.Col span={{ base: 12, md: 5 }}>
          <QueryState query={filters} what="tag filters">
            {(rows) =>
              rows.length === 0 ? (
                <Empty>No tag filters.</Empty>
              ) : (
                <Table striped aria-label="Tag filters">
                  <Table.Tbody>
                    {rows.map((f) => (
                      <Table.Tr key={f.id} bg={f.id === selected ? 'var(--mantine-color-blue-0)' : undefined}>
                        <Table.Td>
                          <UnstyledButton
                            onClick={() => setSelected(f.id)}
                            aria-pressed={f.id === selected}
                            style={{ textDecoration: 'underline' }}
                          >
                            {f.name}
                          </UnstyledButton>
                        </Table.Td>
                        <Table.Td>
                          <Badge variant="light" color={f.tagFilterType === 'WHITELIST' ? 'teal' : 'dark'}>
                            {f.tagFilterType.toLowerCase()}
                          </Badge>
                        </Table.Td>
                        {isAdmin && (
                          <Table.Td>
                            <Button
                              size="xs"
                              color="red"
                              variant="light"
                              leftSection={<IconTrash size={14} />}
                              aria-label={`Delete filter ${f.name}`}
                              onClick={() =>
                                confirmThen(
                                  `Delete filter "${f.name}"?`,
                                  'Its associations go too.',
                                  'Delete',
                                  () => removeFilter.mutate(f),
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
        <Grid.Col span={{ base: 12, md: 7 }}>
          {current ? (
            <TagPaths filter={current} />
          ) : (
            <Empty>Choose a filter to see and edit its attributes.</Empty>
          )}
        </Grid.Col>
      </Grid>
      <Title order={3} size="h4" mt="lg">
        Which sources use which filters
      </Title>
      {isAdmin && (
        <CreateForm
          title="Apply a filter to a source"
          fields={[
            {
              name: 'source',
              label: 'Source',
              type: 'select',
              width: 260,
              options: (sources.data ?? []).map((s) => ({ value: sourceKey(s), label: sourceLabel(s) })),
            },
            {
              name: 'filter',
              label: 'Filter',
              type: 'select',
              width: 220,
              options: (filters.data ?? []).map((f) => ({ value: String(f.id), label: f.name })),
            },
          ]}
          submitLabel="Apply"
          onSubmit={async (v) => {
            const s = sources.data?.find((x) => sourceKey(x) === v.source);
            const f = filters.data?.find((x) => String(x.id) === v.filter);
            if (!s || !f) throw new Error('Choose a source and a filter.');
            await api('/filtering/associations', {
              body: {
                id: -1,
                sourceType: s.sourceType,
                sourceName: s.sourceName,
                sourceId: s.sourceId,
                tagFilterId: f.id,
                tagFilterName: f.name,
              },
              what: 'Applying the filter',
            });
            notifyDone(`Filter "${f.name}" applies to ${s.sourceName} from now on.`);
            await qc.invalidateQueries({ queryKey: ['filters'] });
          }}
        />
      )}
      <QueryState query={associations} what="associations">
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No filter applies to any source.</Empty>
          ) : (
            <Table striped aria-label="Filter associations">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Source</Table.Th>
                  <Table.Th>Filter</Table.Th>
                  {isAdmin && <Table.Th>Actions</Table.Th>}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((a) => (
                  <Table.Tr key={a.id}>
                    <Table.Td>
                      {a.sourceName} ({a.sourceType})
                    </Table.Td>
                    <Table.Td>{a.tagFilterName}</Table.Td>
                    {isAdmin && (
                      <Table.Td>
                        <Group>
                          <Button
                            size="xs"
                            variant="subtle"
                            color="red"
                            onClick={() => removeAssociation.mutate(a)}
                          >
                            Remove
                          </Button>
                        </Group>
                      </Table.Td>
                    )}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )
        }
      </QueryState>
    </Stack>
  );
}
