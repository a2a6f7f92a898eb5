import { useState } from 'react';
import { Button, Code, Group, Modal, Stack, Table, Text, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api } from '../lib/api';
import { bytes, dateTime } from '../lib/format';
import { useSession } from '../lib/session';
import type { QuarantineRecord } from '../lib/types';
import { confirmThen, Empty, Pager, QueryState, useAction, type Paging } from '../components/common';
import { useKept } from '../lib/state';

export function QuarantinePage() {
  const { isAdmin } = useSession();
  const [paging, setPaging] = useKept<Paging>('quarantine.paging', { page: 0, pageSize: 25 });
  // Newest first, paged by the server; one row more than shown says whether there is a next page.
  const query = useQuery({
    queryKey: ['quarantine', paging],
    queryFn: () =>
      api<QuarantineRecord[]>(
        `/quarantine?startindex=${paging.page * paging.pageSize}&count=${paging.pageSize + 1}`,
      ),
    placeholderData: keepPreviousData,
    refetchInterval: 10_000,
  });
  const [shown, setShown] = useState<QuarantineRecord | null>(null);
  const requeue = useAction(
    (r: QuarantineRecord) =>
      api<{ requeued: boolean; outcome?: string }>(`/quarantine/${r.id}/requeue`, {
        method: 'POST',
        what: 'Requeueing',
      }),
    {
      invalidate: [['quarantine'], ['metadata']],
      done: (res) =>
        res.outcome === 'drop' ? 'Requeued; the pipeline dropped it this time.' : 'Requeued and stored.',
    },
  );
  const remove = useAction(
    (r: QuarantineRecord) => api(`/quarantine/${r.id}`, { method: 'DELETE', what: 'Deleting' }),
    { invalidate: [['quarantine']], done: 'Deleted from the quarantine.' },
  );
  const rows = (query.data ?? []).slice(0, paging.pageSize);
  return (
    <Stack gap={0}>
      <Title order={2}>Quarantine</Title>
      <Text size="sm" mt={4} mb="xs">
        Everything that could not be ingested (not DICOM, truncated, refused by a rule…) is kept here with the
        reason. After fixing the cause (a filter, a setting), requeue it; or delete it.
      </Text>
      <QueryState query={query} what="the quarantine">
        {() =>
          rows.length === 0 && paging.page === 0 ? (
            <Empty>The quarantine is empty.</Empty>
          ) : (
            <>
              <Table.ScrollContainer minWidth={760}>
                <Table striped fz="sm" aria-label="Quarantine">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>When</Table.Th>
                      <Table.Th>Reason</Table.Th>
                      <Table.Th>From</Table.Th>
                      <Table.Th>File</Table.Th>
                      <Table.Th>Actions</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {rows.map((r) => (
                      <Table.Tr key={r.id}>
                        <Table.Td style={{ whiteSpace: 'nowrap' }}>{dateTime(r.quarantinedAt)}</Table.Td>
                        <Table.Td>
                          <Code>{r.code}</Code>
                          <Text size="sm">{r.message}</Text>
                        </Table.Td>
                        <Table.Td>
                          {r.source.sourceName || r.source.sourceType} ({r.source.sourceType})
                        </Table.Td>
                        <Table.Td>
                          {r.detail}
                          <Text size="xs" className="dimmed-text">
                            {bytes(r.size)}
                          </Text>
                        </Table.Td>
                        <Table.Td>
                          <Group gap="xs" wrap="nowrap">
                            <Button size="xs" variant="default" onClick={() => setShown(r)}>
                              Details
                            </Button>
                            {isAdmin && (
                              <>
                                <Button
                                  size="xs"
                                  variant="default"
                                  loading={requeue.isPending && requeue.variables?.id === r.id}
                                  onClick={() => requeue.mutate(r)}
                                >
                                  Requeue
                                </Button>
                                <Button
                                  size="xs"
                                  color="red"
                                  variant="light"
                                  onClick={() =>
                                    confirmThen(
                                      'Delete this file from the quarantine?',
                                      'The file is deleted for good.',
                                      'Delete',
                                      () => remove.mutate(r),
                                    )
                                  }
                                >
                                  Delete
                                </Button>
                              </>
                            )}
                          </Group>
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
              <Pager
                paging={paging}
                onChange={setPaging}
                hasNext={(query.data?.length ?? 0) > paging.pageSize}
                shown={rows.length}
              />
            </>
          )
        }
      </QueryState>
      <Modal opened={!!shown} onClose={() => setShown(null)} title="Quarantined file" size="lg">
        {shown && (
          <Table fz="sm">
            <Table.Tbody>
              {Object.entries({
                Reason: shown.message,
                Code: shown.code,
                Component: `${shown.component} (pipeline ${shown.pipeline})`,
                Source: `${shown.source.sourceName} (${shown.source.sourceType} ${shown.source.sourceId})`,
                File: shown.detail ?? '',
                'SOP Instance UID': shown.sopInstanceUID ?? '',
                Size: bytes(shown.size),
                When: dateTime(shown.quarantinedAt),
                'Record id': shown.id,
              }).map(([k, v]) => (
                <Table.Tr key={k}>
                  <Table.Th w={150}>{k}</Table.Th>
                  <Table.Td style={{ wordBreak: 'break-word' }}>{v}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Modal>
    </Stack>
  );
}
