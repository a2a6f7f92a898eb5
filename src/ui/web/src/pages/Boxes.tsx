/** Boxes (Slicebox-to-Slicebox transfer over HTTP): connections, and the transactions in and out. */
import { useState } from 'react';
import {
  Alert,
  Badge,
  Button,
  CopyButton,
  Group,
  Modal,
  Stack,
  Table,
  Tabs,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { IconTrash } from '@tabler/icons-react';
import { api, errorMessage } from '../lib/api';
import { dateTime } from '../lib/format';
import { useSession } from '../lib/session';
import type { Box, IncomingTransaction, OutgoingImageStatus, OutgoingTransaction } from '../lib/types';
import { ProfileOptions } from '../components/Actions';
import { confirmThen, Empty, notifyDone, QueryState, useAction } from '../components/common';
import { Counted, StatusBadge } from '../components/Status';

function ConnectForms() {
  const qc = useQueryClient();
  const [mode, setMode] = useState<'' | 'create' | 'connect'>('');
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [options, setOptions] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [created, setCreated] = useState<Box | null>(null);
  const close = () => (setMode(''), setName(''), setUrl(''), setOptions([]), setError(''));
  const submit = async () => {
    setBusy(true);
    setError('');
    try {
      const defaultProfile = { options: options.map((n) => ({ name: n })) };
      const box =
        mode === 'create'
          ? await api<Box>('/boxes/createconnection', {
              body: { name, defaultProfile },
              what: 'Creating the connection',
            })
          : await api<Box>('/boxes/connect', {
              body: { name, baseUrl: url, defaultProfile },
              what: 'Connecting',
            });
      await qc.invalidateQueries({ queryKey: ['boxes'] });
      await qc.invalidateQueries({ queryKey: ['destinations'] });
      if (mode === 'create') setCreated(box);
      else notifyDone(`Connected to box "${box.name}".`);
      close();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Group gap="xs" my="sm">
        <Button size="xs" onClick={() => setMode('create')}>
          Create connection…
        </Button>
        <Button size="xs" variant="default" onClick={() => setMode('connect')}>
          Connect with a URL…
        </Button>
      </Group>
      <Modal
        opened={!!mode}
        onClose={close}
        title={
          mode === 'create' ? 'Create a connection (the other side connects to us)' : 'Connect to another box'
        }
        size="lg"
      >
        <Stack>
          <Text size="sm">
            {mode === 'create'
              ? 'Sluice makes a URL with a secret token; give it to the other side, which connects with it. The other side then pushes to us and polls what we send it.'
              : 'Paste the URL the other side created for us. We push what we send and poll what it sends; the other side needs no access to us.'}
          </Text>
          <TextInput
            label="Name of the other side"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            required
          />
          {mode === 'connect' && (
            <TextInput
              label="URL"
              placeholder="https://other.example/api/transactions/…"
              value={url}
              onChange={(e) => setUrl(e.currentTarget.value)}
              required
            />
          )}
          <ProfileOptions value={options} onChange={setOptions} />
          {error && (
            <Alert color="red" role="alert">
              {error}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button onClick={submit} loading={busy} disabled={!name || (mode === 'connect' && !url)}>
              {mode === 'create' ? 'Create' : 'Connect'}
            </Button>
          </Group>
        </Stack>
      </Modal>
      <Modal opened={!!created} onClose={() => setCreated(null)} title="Connection created">
        <Stack>
          <Text size="sm">
            Give this URL to "{created?.name}" (it is a secret: anyone with it can send to and fetch from this
            box):
          </Text>
          <Text className="mono">{created?.baseUrl}</Text>
          <CopyButton value={created?.baseUrl ?? ''}>
            {({ copied, copy }) => <Button onClick={copy}>{copied ? 'Copied' : 'Copy URL'}</Button>}
          </CopyButton>
        </Stack>
      </Modal>
    </>
  );
}

function OutgoingImages({ id }: { id: number }) {
  const q = useQuery({
    queryKey: ['boxes', 'outgoing-images', id],
    queryFn: () => api<OutgoingImageStatus[]>(`/boxes/outgoing/${id}/images?transfer=true`),
    refetchInterval: 3_000,
  });
  return (
    <QueryState query={q} what="the images">
      {(rows) => (
        <Table fz="xs" aria-label="Images of the transaction">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>#</Table.Th>
              <Table.Th>Image</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Message</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((r) => (
              <Table.Tr key={r.id}>
                <Table.Td>{r.sequenceNumber}</Table.Td>
                <Table.Td>{r.imageId}</Table.Td>
                <Table.Td>{r.status && <StatusBadge status={r.status} />}</Table.Td>
                <Table.Td>{r.message}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </QueryState>
  );
}

export function BoxesPage() {
  const { isAdmin } = useSession();
  const boxes = useQuery({
    queryKey: ['boxes'],
    queryFn: () => api<Box[]>('/boxes?count=1000'),
    refetchInterval: 5_000,
  });
  const outgoing = useQuery({
    queryKey: ['boxes', 'outgoing'],
    queryFn: () => api<OutgoingTransaction[]>('/boxes/outgoing?count=200'),
    refetchInterval: 3_000,
  });
  const incoming = useQuery({
    queryKey: ['boxes', 'incoming'],
    queryFn: () => api<IncomingTransaction[]>('/boxes/incoming?count=200'),
    refetchInterval: 3_000,
  });
  const [details, setDetails] = useState<OutgoingTransaction | null>(null);
  const removeBox = useAction(
    (b: Box) => api(`/boxes/${b.id}`, { method: 'DELETE', what: `Deleting box "${b.name}"` }),
    {
      invalidate: [['boxes'], ['destinations'], ['sources']],
      done: (_, b) => `Deleted box "${b.name}".`,
    },
  );
  const removeTx = useAction(
    (p: { dir: 'incoming' | 'outgoing'; id: number }) =>
      api(`/boxes/${p.dir}/${p.id}`, { method: 'DELETE', what: 'Deleting the transaction' }),
    {
      invalidate: [['boxes']],
      done: 'Transaction deleted.',
    },
  );
  return (
    <Stack gap={0}>
      <Title order={2}>Boxes</Title>
      <Text size="sm" mt={4}>
        Boxes move images between two installations over HTTP (Sluice or Slicebox), anonymized on the way out
        and re-identified when they come back.
      </Text>
      {isAdmin && <ConnectForms />}
      <QueryState query={boxes} what="boxes">
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No boxes yet.</Empty>
          ) : (
            <Table.ScrollContainer minWidth={640}>
              <Table striped aria-label="Boxes" my="sm">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>Kind</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th>Default profile</Table.Th>
                    {isAdmin && <Table.Th>URL</Table.Th>}
                    {isAdmin && <Table.Th>Actions</Table.Th>}
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((b) => (
                    <Table.Tr key={b.id}>
                      <Table.Td>{b.name}</Table.Td>
                      <Table.Td>
                        {b.sendMethod === 'PUSH'
                          ? 'we connect (push)'
                          : b.sendMethod === 'POLL'
                            ? 'they connect (poll)'
                            : b.sendMethod}
                      </Table.Td>
                      <Table.Td>
                        <Badge color={b.online ? 'green' : 'gray'} variant="light">
                          {b.online ? 'online' : 'offline'}
                        </Badge>
                      </Table.Td>
                      <Table.Td>{b.defaultProfile.options.map((o) => o.name).join(', ') || 'basic'}</Table.Td>
                      {isAdmin && (
                        <Table.Td>
                          <CopyButton value={b.baseUrl}>
                            {({ copied, copy }) => (
                              <Button size="xs" variant="subtle" onClick={copy}>
                                {copied ? 'Copied' : 'Copy URL'}
                              </Button>
                            )}
                          </CopyButton>
                        </Table.Td>
                      )}
                      {isAdmin && (
                        <Table.Td>
                          <Button
                            size="xs"
                            color="red"
                            variant="light"
                            leftSection={<IconTrash size={14} />}
                            aria-label={`Delete box ${b.name}`}
                            onClick={() =>
                              confirmThen(
                                `Delete box "${b.name}"?`,
                                'Its transactions and the forwarding rules to and from it go too.',
                                'Delete',
                                () => removeBox.mutate(b),
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
      <Tabs defaultValue="outgoing" mt="md">
        <Tabs.List>
          <Tabs.Tab value="outgoing">Outgoing</Tabs.Tab>
          <Tabs.Tab value="incoming">Incoming</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="outgoing" pt="xs">
          <QueryState query={outgoing} what="outgoing transactions">
            {(rows) =>
              rows.length === 0 ? (
                <Empty>Nothing sent yet.</Empty>
              ) : (
                <Table.ScrollContainer minWidth={640}>
                  <Table striped aria-label="Outgoing transactions">
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Box</Table.Th>
                        <Table.Th>Progress</Table.Th>
                        <Table.Th>Status</Table.Th>
                        <Table.Th>Created</Table.Th>
                        <Table.Th>Updated</Table.Th>
                        <Table.Th>Actions</Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {rows.map((t) => (
                        <Table.Tr key={t.id}>
                          <Table.Td>{t.boxName}</Table.Td>
                          <Table.Td>
                            <Counted
                              done={t.sentImageCount + (t.failedImageCount ?? 0)}
                              total={t.totalImageCount}
                              failed={t.failedImageCount}
                            />
                          </Table.Td>
                          <Table.Td>
                            <StatusBadge status={t.status} />
                          </Table.Td>
                          <Table.Td>{dateTime(t.created)}</Table.Td>
                          <Table.Td>{dateTime(t.updated)}</Table.Td>
                          <Table.Td>
                            <Group gap="xs" wrap="nowrap">
                              <Button size="xs" variant="default" onClick={() => setDetails(t)}>
                                Images
                              </Button>
                              {isAdmin && (
                                <Button
                                  size="xs"
                                  color="red"
                                  variant="light"
                                  aria-label={`Delete outgoing transaction ${t.id}`}
                                  onClick={() =>
                                    confirmThen(
                                      'Delete this transaction?',
                                      'Images not sent yet will not be sent.',
                                      'Delete',
                                      () => removeTx.mutate({ dir: 'outgoing', id: t.id }),
                                    )
                                  }
                                >
                                  Delete
                                </Button>
                              )}
                            </Group>
                          </Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </Table.ScrollContainer>
              )
            }
          </QueryState>
        </Tabs.Panel>
        <Tabs.Panel value="incoming" pt="xs">
          <QueryState query={incoming} what="incoming transactions">
            {(rows) =>
              rows.length === 0 ? (
                <Empty>Nothing received yet.</Empty>
              ) : (
                <Table.ScrollContainer minWidth={640}>
                  <Table striped aria-label="Incoming transactions">
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Box</Table.Th>
                        <Table.Th>Received</Table.Th>
                        <Table.Th>Added</Table.Th>
                        <Table.Th>Status</Table.Th>
                        <Table.Th>Updated</Table.Th>
                        {isAdmin && <Table.Th>Actions</Table.Th>}
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {rows.map((t) => (
                        <Table.Tr key={t.id}>
                          <Table.Td>{t.boxName}</Table.Td>
                          <Table.Td>
                            <Counted
                              done={t.receivedImageCount}
                              total={t.totalImageCount}
                              failed={t.failedImageCount}
                            />
                          </Table.Td>
                          <Table.Td>{t.addedImageCount}</Table.Td>
                          <Table.Td>
                            <StatusBadge status={t.status} />
                          </Table.Td>
                          <Table.Td>{dateTime(t.updated)}</Table.Td>
                          {isAdmin && (
                            <Table.Td>
                              <Button
                                size="xs"
                                color="red"
                                variant="light"
                                aria-label={`Delete incoming transaction ${t.id}`}
                                onClick={() =>
                                  confirmThen(
                                    'Delete this transaction record?',
                                    'The received images are kept.',
                                    'Delete',
                                    () => removeTx.mutate({ dir: 'incoming', id: t.id }),
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
        </Tabs.Panel>
      </Tabs>
      <Modal
        opened={!!details}
        onClose={() => setDetails(null)}
        title={`Transaction ${details?.id ?? ''} to ${details?.boxName ?? ''}`}
        size="lg"
      >
        {details && <OutgoingImages id={details.id} />}
      </Modal>
    </Stack>
  );
}
