import { Fragment, useState } from 'react';
import { Anchor, Button, Group, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { IconDownload } from '@tabler/icons-react';
import { api } from '../lib/api';
import { dateTime } from '../lib/format';
import { useSession } from '../lib/session';
import { useKept } from '../lib/state';
import { formatTagPath } from '../lib/tagpath';
import type { AnonymizationKey, AnonymizationKeyValue } from '../lib/types';
import { Empty, Pager, QueryState, type Paging } from '../components/common';

const FIELDS = [
  { value: 'any', label: 'Any name, ID or UID (starts with)' },
  { value: 'patientName', label: 'Real patient name' },
  { value: 'anonPatientName', label: 'Anonymous patient name' },
  { value: 'patientID', label: 'Real patient ID' },
  { value: 'anonPatientID', label: 'Anonymous patient ID' },
  { value: 'studyInstanceUID', label: 'Real study UID' },
  { value: 'anonStudyInstanceUID', label: 'Anonymous study UID' },
];

function KeyValues({ id }: { id: number }) {
  const q = useQuery({
    queryKey: ['anonymization', 'values', id],
    queryFn: () => api<AnonymizationKeyValue[]>(`/anonymization/keys/${id}/keyvalues`),
  });
  return (
    <QueryState query={q} what="the key's values">
      {(rows) => (
        <Table fz="xs" aria-label="Remembered values">
          <Table.Tbody>
            {rows.map((v) => (
              <Table.Tr key={v.id}>
                <Table.Td>{formatTagPath(v.tagPath)}</Table.Td>
                <Table.Td>{v.value}</Table.Td>
                <Table.Td>→ {v.anonymizedValue}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </QueryState>
  );
}

export function AnonymizationKeysPage() {
  const { isAdmin } = useSession();
  const [field, setField] = useKept<string>('keys.field', 'any');
  const [text, setText] = useKept('keys.text', '');
  const [applied, setApplied] = useKept('keys.applied', { field: 'any', text: '' });
  const [paging, setPaging] = useKept<Paging>('keys.paging', { page: 0, pageSize: 25 });
  const [open, setOpen] = useState<number | null>(null);
  const query = useQuery({
    queryKey: ['anonymization', 'keys', applied, paging],
    queryFn: () =>
      applied.field === 'any' || !applied.text
        ? api<AnonymizationKey[]>(
            `/anonymization/keys?startindex=${paging.page * paging.pageSize}&count=${paging.pageSize + 1}&orderby=created&orderascending=false${applied.text ? `&filter=${encodeURIComponent(applied.text)}` : ''}`,
          )
        : api<AnonymizationKey[]>('/anonymization/keys/query', {
            body: {
              startIndex: paging.page * paging.pageSize,
              count: paging.pageSize + 1,
              order: { orderBy: 'created', orderAscending: false },
              queryProperties: [
                { propertyName: applied.field, operator: 'like', propertyValue: applied.text },
              ],
            },
          }),
    placeholderData: keepPreviousData,
  });
  const rows = query.data?.slice(0, paging.pageSize) ?? [];
  return (
    <Stack gap={0}>
      <Group justify="space-between">
        <Title order={2}>Anonymization keys</Title>
        {isAdmin && (
          <Button
            component="a"
            href="/api/anonymization/keys/export/csv"
            download
            size="xs"
            variant="default"
            leftSection={<IconDownload size={14} />}
          >
            Export all as CSV
          </Button>
        )}
      </Group>
      <Text size="sm" mt={4} mb="xs">
        Every anonymized image records which real patient, study and series its pseudonyms stand for, so data
        that comes back can be re-identified.
      </Text>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ field, text: text.trim() });
          setPaging({ ...paging, page: 0 });
        }}
        role="search"
        aria-label="Search anonymization keys"
      >
        <Group gap="xs" align="flex-end" mb="xs" wrap="wrap">
          <Select
            size="xs"
            label="Search in"
            w={260}
            data={FIELDS}
            value={field}
            onChange={(v) => setField(v ?? 'any')}
            allowDeselect={false}
          />
          <TextInput
            size="xs"
            label="Value"
            w={220}
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
          />
          <Button size="xs" type="submit">
            Search
          </Button>
        </Group>
      </form>
      <QueryState query={query} what="anonymization keys">
        {() => (
          <>
            {rows.length === 0 ? (
              <Empty>No keys.</Empty>
            ) : (
              <Table.ScrollContainer minWidth={760}>
                <Table striped fz="sm" aria-label="Anonymization keys">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Created</Table.Th>
                      <Table.Th>Real patient</Table.Th>
                      <Table.Th>Anonymous patient</Table.Th>
                      <Table.Th>Study UID (real → anonymous)</Table.Th>
                      <Table.Th />
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {rows.map((k) => (
                      <Fragment key={k.id}>
                        <Table.Tr>
                          <Table.Td style={{ whiteSpace: 'nowrap' }}>{dateTime(k.created)}</Table.Td>
                          <Table.Td>
                            {k.patientName}{' '}
                            <Text span size="xs" className="dimmed-text">
                              {k.patientID}
                            </Text>
                          </Table.Td>
                          <Table.Td>
                            {k.anonPatientName}{' '}
                            <Text span size="xs" className="dimmed-text">
                              {k.anonPatientID}
                            </Text>
                          </Table.Td>
                          <Table.Td className="mono">
                            {k.studyInstanceUID}
                            <br />→ {k.anonStudyInstanceUID}
                          </Table.Td>
                          <Table.Td>
                            <Anchor
                              component="button"
                              size="sm"
                              onClick={() => setOpen(open === k.id ? null : k.id)}
                              aria-expanded={open === k.id}
                            >
                              {open === k.id ? 'Hide values' : 'Values'}
                            </Anchor>
                          </Table.Td>
                        </Table.Tr>
                        {open === k.id && (
                          <Table.Tr>
                            <Table.Td colSpan={5}>
                              <KeyValues id={k.id} />
                            </Table.Td>
                          </Table.Tr>
                        )}
                      </Fragment>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            )}
            <Pager
              paging={paging}
              onChange={setPaging}
              hasNext={(query.data?.length ?? 0) > paging.pageSize}
              shown={rows.length}
            />
          </>
        )}
      </QueryState>
    </Stack>
  );
}
