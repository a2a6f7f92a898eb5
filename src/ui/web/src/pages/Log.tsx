import { Badge, Button, Group, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, qs } from '../lib/api';
import { dateTime } from '../lib/format';
import { useSession } from '../lib/session';
import { useKept } from '../lib/state';
import type { LogEntry } from '../lib/types';
import { confirmThen, Empty, Pager, QueryState, useAction, type Paging } from '../components/common';

const COLORS = { DEFAULT: 'gray', INFO: 'blue', WARN: 'orange', ERROR: 'red' } as const;

export function LogPage() {
  const { isAdmin } = useSession();
  const [type, setType] = useKept<string | null>('log.type', null);
  const [subject, setSubject] = useKept('log.subject', '');
  const [from, setFrom] = useKept('log.from', '');
  const [to, setTo] = useKept('log.to', '');
  const [paging, setPaging] = useKept<Paging>('log.paging', { page: 0, pageSize: 50 });
  const timed = !!(from || to);
  const query = useQuery({
    queryKey: ['log', type, subject, paging, timed],
    // The API filters by type and subject; a time range is applied here to the newest 2000 entries.
    queryFn: () =>
      api<LogEntry[]>(
        `/log${qs({ type, subject: subject.trim() || undefined, startindex: timed ? 0 : paging.page * paging.pageSize, count: timed ? 2000 : paging.pageSize + 1 })}`,
      ),
    placeholderData: keepPreviousData,
    refetchInterval: 5_000,
  });
  const fromMs = from ? new Date(from).getTime() : -Infinity;
  const toMs = to ? new Date(to).getTime() : Infinity;
  const all = (query.data ?? []).filter((e) => e.created >= fromMs && e.created <= toMs);
  const rows = timed
    ? all.slice(paging.page * paging.pageSize, (paging.page + 1) * paging.pageSize)
    : all.slice(0, paging.pageSize);
  const hasNext = timed
    ? all.length > (paging.page + 1) * paging.pageSize
    : (query.data?.length ?? 0) > paging.pageSize;
  const clear = useAction(() => api('/log', { method: 'DELETE', what: 'Clearing the log' }), {
    invalidate: [['log']],
    done: 'The log is empty.',
  });
  const reset = (f: () => void) => (f(), setPaging({ ...paging, page: 0 }));
  return (
    <Stack gap={0}>
      <Group justify="space-between">
        <Title order={2}>Log</Title>
        {isAdmin && (
          <Button
            size="xs"
            color="red"
            variant="light"
            onClick={() =>
              confirmThen('Clear the whole log?', 'Every entry is deleted.', 'Clear', () =>
                clear.mutate(undefined),
              )
            }
          >
            Clear log
          </Button>
        )}
      </Group>
      <Text size="sm" mt={4} mb="xs">
        What happened: sends, forwarding, failed ingests (see also Quarantine), sources opening and closing.
        Newest first; it refreshes by itself.
      </Text>
      <Group gap="xs" align="flex-end" wrap="wrap" mb="xs">
        <Select
          size="xs"
          label="Type"
          placeholder="any"
          w={120}
          clearable
          data={['INFO', 'WARN', 'ERROR', 'DEFAULT']}
          value={type}
          onChange={(v) => reset(() => setType(v))}
        />
        <TextInput
          size="xs"
          label="Subject"
          placeholder="e.g. Forwarding"
          w={160}
          value={subject}
          onChange={(e) => reset(() => setSubject(e.currentTarget.value))}
        />
        <TextInput
          size="xs"
          type="datetime-local"
          label="From"
          w={200}
          value={from}
          onChange={(e) => reset(() => setFrom(e.currentTarget.value))}
        />
        <TextInput
          size="xs"
          type="datetime-local"
          label="To"
          w={200}
          value={to}
          onChange={(e) => reset(() => setTo(e.currentTarget.value))}
        />
      </Group>
      <QueryState query={query} what="the log">
        {() => (
          <>
            {rows.length === 0 ? (
              <Empty>No entries.</Empty>
            ) : (
              <Table.ScrollContainer minWidth={640}>
                <Table striped fz="sm" aria-label="Log">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Time</Table.Th>
                      <Table.Th>Type</Table.Th>
                      <Table.Th>Subject</Table.Th>
                      <Table.Th>Message</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {rows.map((e) => (
                      <Table.Tr key={e.id}>
                        <Table.Td style={{ whiteSpace: 'nowrap' }}>{dateTime(e.created)}</Table.Td>
                        <Table.Td>
                          <Badge size="sm" variant="light" color={COLORS[e.entryType] ?? 'gray'}>
                            {e.entryType.toLowerCase()}
                          </Badge>
                        </Table.Td>
                        <Table.Td>{e.subject}</Table.Td>
                        <Table.Td style={{ wordBreak: 'break-word' }}>{e.message}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            )}
            <Pager paging={paging} onChange={setPaging} hasNext={hasNext} shown={rows.length} />
          </>
        )}
      </QueryState>
    </Stack>
  );
}
