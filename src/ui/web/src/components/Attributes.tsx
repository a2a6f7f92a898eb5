import { useMemo, useState } from 'react';
import { Table, TextInput, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { IconSearch } from '@tabler/icons-react';
import { api } from '../lib/api';
import { tagString } from '../lib/format';
import type { ImageAttribute, TagPath } from '../lib/types';
import { QueryState } from './common';

function depth(p: TagPath): number {
  return p.previous ? depth(p.previous) + 1 : 0;
}

/** `GET /api/images/{id}/attributes` as an indented tree (sequences and their items), with a search. */
export function AttributeTree({ imageId }: { imageId: number }) {
  const [filter, setFilter] = useState('');
  const query = useQuery({
    queryKey: ['attributes', imageId],
    queryFn: () => api<ImageAttribute[]>(`/images/${imageId}/attributes`),
    staleTime: 60_000,
  });
  const rows = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return (query.data ?? []).filter(
      (a) =>
        !f ||
        a.namePath.join('.').toLowerCase().includes(f) ||
        tagString(a.tagPath.tag).toLowerCase().includes(f) ||
        a.values.join('\\').toLowerCase().includes(f),
    );
  }, [query.data, filter]);
  return (
    <div>
      <TextInput
        size="xs"
        leftSection={<IconSearch size={14} />}
        placeholder="Search keyword, tag or value"
        aria-label="Search attributes"
        value={filter}
        onChange={(e) => setFilter(e.currentTarget.value)}
        mb="xs"
      />
      <QueryState query={query} what="the attributes">
        {() => (
          <Table.ScrollContainer minWidth={420} mah={520}>
            <Table striped stickyHeader fz="xs" aria-label="Attributes">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Tag</Table.Th>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>VR</Table.Th>
                  <Table.Th>Value</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((a, i) => (
                  <Table.Tr key={i}>
                    <Table.Td
                      className="mono"
                      style={{ paddingLeft: 8 + depth(a.tagPath) * 16, whiteSpace: 'nowrap' }}
                    >
                      {a.tagPath.item ? `[${a.tagPath.item}] ` : ''}
                      {tagString(a.tagPath.tag)}
                    </Table.Td>
                    <Table.Td>
                      {a.namePath[a.namePath.length - 1] || (
                        <Text span c="gray.7">
                          (private)
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>{a.vr}</Table.Td>
                    <Table.Td className="mono">{a.vr === 'SQ' ? '' : a.values.join(' \\ ')}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </QueryState>
      {query.data && (
        <Text size="xs" className="dimmed-text" mt={4}>
          {rows.length} of {query.data.length} attributes
        </Text>
      )}
    </div>
  );
}
