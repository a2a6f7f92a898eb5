import { useState } from 'react';
import { Button, Group, Modal, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { IconTrash, IconUpload } from '@tabler/icons-react';
import { api } from '../lib/api';
import { dateTime } from '../lib/format';
import { useSession } from '../lib/session';
import type { ImportSession } from '../lib/types';
import { confirmThen, Empty, notifyDone, QueryState, useAction } from '../components/common';
import { CreateForm } from '../components/Crud';
import { Uploader } from '../components/Uploader';

export function ImportSessionsPage() {
  const { user, isAdmin } = useSession();
  const qc = useQueryClient();
  const query = useQuery({
    queryKey: ['imports'],
    queryFn: () => api<ImportSession[]>('/import/sessions?count=10000'),
    refetchInterval: 5_000,
  });
  const [uploading, setUploading] = useState<ImportSession | null>(null);
  const remove = useAction(
    (s: ImportSession) =>
      api(`/import/sessions/${s.id}`, { method: 'DELETE', what: `Deleting import session "${s.name}"` }),
    {
      invalidate: [['imports'], ['sources']],
      done: (_, s) => `Deleted import session "${s.name}" (its images are kept).`,
    },
  );
  return (
    <Stack gap={0}>
      <Title order={2}>Import sessions</Title>
      <Text size="sm" mt={4}>
        Named uploads with counters: how many files were imported, added (new instances) and rejected. Anyone
        may create one and upload into it.
      </Text>
      <CreateForm
        title="New import session"
        fields={[{ name: 'name', label: 'Name', width: 240 }]}
        submitLabel="Create"
        onSubmit={async (v) => {
          const s = await api<ImportSession>('/import/sessions', {
            body: { id: -1, name: v.name },
            what: 'Creating the import session',
          });
          notifyDone(`Import session "${s.name}" is ready.`);
          await qc.invalidateQueries({ queryKey: ['imports'] });
          await qc.invalidateQueries({ queryKey: ['sources'] });
        }}
      />
      <QueryState query={query} what="import sessions">
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No import sessions.</Empty>
          ) : (
            <Table.ScrollContainer minWidth={640}>
              <Table striped aria-label="Import sessions">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>User</Table.Th>
                    <Table.Th>Imported</Table.Th>
                    <Table.Th>Added</Table.Th>
                    <Table.Th>Rejected</Table.Th>
                    <Table.Th>Last update</Table.Th>
                    <Table.Th>Actions</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((s) => (
                    <Table.Tr key={s.id}>
                      <Table.Td>{s.name}</Table.Td>
                      <Table.Td>{s.user}</Table.Td>
                      <Table.Td>{s.filesImported}</Table.Td>
                      <Table.Td>{s.filesAdded}</Table.Td>
                      <Table.Td c={s.filesRejected ? 'red.8' : undefined}>{s.filesRejected}</Table.Td>
                      <Table.Td>{dateTime(s.lastUpdated)}</Table.Td>
                      <Table.Td>
                        <Group gap="xs" wrap="nowrap">
                          <Button
                            size="xs"
                            variant="default"
                            leftSection={<IconUpload size={14} />}
                            onClick={() => setUploading(s)}
                          >
                            Upload
                          </Button>
                          {(isAdmin || s.userId === user.id) && (
                            <Button
                              size="xs"
                              color="red"
                              variant="light"
                              leftSection={<IconTrash size={14} />}
                              aria-label={`Delete import session ${s.name}`}
                              onClick={() =>
                                confirmThen(
                                  `Delete import session "${s.name}"?`,
                                  'The images it imported are kept.',
                                  'Delete',
                                  () => remove.mutate(s),
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
      <Modal
        opened={!!uploading}
        onClose={() => setUploading(null)}
        title={`Upload into "${uploading?.name ?? ''}"`}
        size="xl"
      >
        {uploading && <Uploader url={`/api/import/sessions/${uploading.id}/images`} />}
      </Modal>
    </Stack>
  );
}
