/** Forwarding rules (source → SCU or box) and the outbox, with its dead letters to retry or discard. */
import { useState } from 'react';
import {
  Alert,
  Badge,
  Button,
  Checkbox,
  Group,
  Paper,
  SegmentedControl,
  Select,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { IconPlus, IconTrash } from '@tabler/icons-react';
import { api, errorMessage } from '../lib/api';
import { dateTime } from '../lib/format';
import { sourceKey, sourceLabel, useSources } from '../lib/metadata';
import { useSession } from '../lib/session';
import type { Destination, ForwardingRule, ForwardingTransaction } from '../lib/types';
import { confirmThen, Empty, notifyDone, QueryState, useAction } from '../components/common';
import { Counted, StatusBadge } from '../components/Status';

function RuleForm() {
  const sources = useSources();
  const destinations = useQuery({
    queryKey: ['destinations'],
    queryFn: () => api<Destination[]>('/destinations'),
  });
  const qc = useQueryClient();
  const [source, setSource] = useState<string | null>(null);
  const [destination, setDestination] = useState<string | null>(null);
  const [keep, setKeep] = useState(true);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const s = sources.data?.find((x) => sourceKey(x) === source);
    const d = destinations.data?.find((x) => `${x.destinationType}:${x.destinationId}` === destination);
    if (!s || !d) return;
    setBusy(true);
    setError('');
    try {
      await api('/forwarding/rules', {
        body: { id: -1, source: s, destination: d, keepImages: keep },
        what: 'Adding the rule',
      });
      notifyDone(`Images from ${s.sourceName} now go to ${d.destinationName}.`);
      setSource(null);
      setDestination(null);
      await qc.invalidateQueries({ queryKey: ['forwarding'] });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Paper withBorder p="sm" my="sm">
      <form onSubmit={submit} aria-label="Add forwarding rule">
        <Text fw={600} size="sm" mb="xs">
          Add forwarding rule
        </Text>
        <Group align="flex-end" gap="xs" wrap="wrap">
          <Select
            size="xs"
            label="From source"
            w={240}
            data={(sources.data ?? []).map((s) => ({ value: sourceKey(s), label: sourceLabel(s) }))}
            value={source}
            onChange={setSource}
            searchable
            required
          />
          <Select
            size="xs"
            label="To destination"
            w={240}
            data={(destinations.data ?? []).map((d) => ({
              value: `${d.destinationType}:${d.destinationId}`,
              label: `${d.destinationName} (${d.destinationType})`,
            }))}
            value={destination}
            onChange={setDestination}
            required
            nothingFoundMessage="Add an SCU or a box first"
          />
          <Checkbox
            label="Keep images here after delivery"
            checked={keep}
            onChange={(e) => setKeep(e.currentTarget.checked)}
            mb={6}
          />
          <Button
            type="submit"
            size="xs"
            loading={busy}
            disabled={!source || !destination}
            leftSection={<IconPlus size={14} />}
          >
            Add
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

export function ForwardingPage() {
  const { isAdmin } = useSession();
  const [filter, setFilter] = useState('active');
  const rules = useQuery({
    queryKey: ['forwarding', 'rules'],
    queryFn: () => api<ForwardingRule[]>('/forwarding/rules?count=10000'),
  });
  const outbox = useQuery({
    queryKey: ['forwarding', 'transactions', filter],
    queryFn: () =>
      api<ForwardingTransaction[]>(
        `/forwarding/transactions?count=200${filter === 'FAILED' ? '&status=FAILED' : ''}`,
      ),
    refetchInterval: 3_000,
  });
  const removeRule = useAction(
    (r: ForwardingRule) => api(`/forwarding/rules/${r.id}`, { method: 'DELETE', what: 'Deleting the rule' }),
    {
      invalidate: [['forwarding']],
      done: 'Rule deleted; batches already queued are still delivered.',
    },
  );
  const retry = useAction(
    (t: ForwardingTransaction) =>
      api(`/forwarding/transactions/${t.id}/retry`, { method: 'POST', what: 'Retrying' }),
    {
      invalidate: [['forwarding']],
      done: 'Sending again now.',
    },
  );
  const discard = useAction(
    (t: ForwardingTransaction) =>
      api(`/forwarding/transactions/${t.id}`, { method: 'DELETE', what: 'Discarding' }),
    {
      invalidate: [['forwarding']],
      done: 'Batch discarded; its images stay stored.',
    },
  );
  const rows = (outbox.data ?? []).filter((t) => filter !== 'active' || t.status !== 'FAILED');
  return (
    <Stack gap={0}>
      <Title order={2}>Forwarding</Title>
      <Text size="sm" mt={4}>
        Each instance stored from a rule's source is queued in a durable outbox and sent to the rule's
        destination in batches, with retries; batches that keep failing become dead letters, which you can
        retry or discard.
      </Text>
      {isAdmin && <RuleForm />}
      <Title order={3} size="h4" mt="sm">
        Rules
      </Title>
      <QueryState query={rules} what="forwarding rules">
        {(list) =>
          list.length === 0 ? (
            <Empty>No rules.</Empty>
          ) : (
            <Table.ScrollContainer minWidth={520}>
              <Table striped aria-label="Forwarding rules">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>From</Table.Th>
                    <Table.Th>To</Table.Th>
                    <Table.Th>Images after delivery</Table.Th>
                    {isAdmin && <Table.Th>Actions</Table.Th>}
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {list.map((r) => (
                    <Table.Tr key={r.id}>
                      <Table.Td>{sourceLabel(r.source)}</Table.Td>
                      <Table.Td>
                        {r.destination.destinationName} ({r.destination.destinationType})
                      </Table.Td>
                      <Table.Td>
                        {r.keepImages ? (
                          'kept'
                        ) : (
                          <Badge color="orange" variant="light">
                            deleted
                          </Badge>
                        )}
                      </Table.Td>
                      {isAdmin && (
                        <Table.Td>
                          <Button
                            size="xs"
                            color="red"
                            variant="light"
                            leftSection={<IconTrash size={14} />}
                            aria-label={`Delete rule ${r.id}`}
                            onClick={() =>
                              confirmThen(
                                'Delete this rule?',
                                'Batches already queued are still delivered.',
                                'Delete',
                                () => removeRule.mutate(r),
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
            </Table.ScrollContainer>
          )
        }
      </QueryState>
      <Group justify="space-between" mt="lg" mb="xs">
        <Title order={3} size="h4">
          Outbox
        </Title>
        <SegmentedControl
          size="xs"
          value={filter}
          onChange={setFilter}
          data={[
            { value: 'active', label: 'Queued and sending' },
            { value: 'FAILED', label: 'Dead letters' },
            { value: 'all', label: 'All' },
          ]}
          aria-label="Which batches"
        />
      </Group>
      <QueryState query={outbox} what="the outbox">
        {() =>
          rows.length === 0 ? (
            <Empty>
              {filter === 'FAILED' ? 'No dead letters.' : 'Nothing waiting: every batch was delivered.'}
            </Empty>
          ) : (
            <Table.ScrollContainer minWidth={760}>
              <Table striped aria-label="Outbox">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Batch</Table.Th>
                    <Table.Th>Destination</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th>Sent</Table.Th>
                    <Table.Th>Attempts</Table.Th>
                    <Table.Th>Last error</Table.Th>
                    <Table.Th>Updated</Table.Th>
                    {isAdmin && <Table.Th>Actions</Table.Th>}
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((t) => (
                    <Table.Tr key={t.id}>
                      <Table.Td>{t.id}</Table.Td>
                      <Table.Td>{t.destination}</Table.Td>
                      <Table.Td>
                        <StatusBadge status={t.status} />
                      </Table.Td>
                      <Table.Td>
                        <Counted done={t.sentImageCount} total={t.totalImageCount} />
                      </Table.Td>
                      <Table.Td>{t.attempts}</Table.Td>
                      <Table.Td>
                        <Text size="xs" c={t.lastError ? 'red.9' : undefined}>
                          {t.lastError ?? ''}
                        </Text>
                        {t.status === 'RETRY' && t.nextAttemptAt ? (
                          <Text size="xs">next try {dateTime(t.nextAttemptAt)}</Text>
                        ) : null}
                      </Table.Td>
                      <Table.Td>{dateTime(t.updated)}</Table.Td>
                      {isAdmin && (
                        <Table.Td>
                          <Group gap="xs" wrap="nowrap">
                            {(t.status === 'FAILED' || t.status === 'RETRY') && (
                              <Button size="xs" variant="default" onClick={() => retry.mutate(t)}>
                                Retry now
                              </Button>
                            )}
                            {t.status !== 'SENDING' && (
                              <Button
                                size="xs"
                                color="red"
                                variant="light"
                                onClick={() =>
                                  confirmThen(
                                    'Discard this batch?',
                                    'Its images are not sent; they stay stored here.',
                                    'Discard',
                                    () => discard.mutate(t),
                                  )
                                }
                              >
                                Discard
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
