import { Badge, Card, Group, Progress, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api } from '../lib/api';
import { useSession } from '../lib/session';
import type { PipelineStatus } from '../lib/types';
import { QueryState } from '../components/common';

export function PipelinesPage() {
  // Shares the live query of the header (refreshed every 2 s).
  const query = useQuery({
    queryKey: ['pipelines'],
    queryFn: () => api<PipelineStatus[]>('/pipelines'),
    refetchInterval: 2_000,
  });
  return (
    <Stack>
      <Title order={2}>Pipelines</Title>
      <Text size="sm">
        Each running pipeline (a YAML file) with its components and their counters since the engine started.
        Live.
      </Text>
      <QueryState query={query} what="pipelines">
        {(list) =>
          list.map((p) => (
            <Card withBorder key={p.name}>
              <Group justify="space-between" wrap="wrap">
                <Title order={3} size="h4">
                  {p.name}{' '}
                  <Text span size="sm" className="mono dimmed-text">
                    {p.file}
                  </Text>
                </Title>
                <Badge color={p.running ? 'green' : 'red'} variant="light">
                  {p.running ? 'running' : 'stopped'}
                </Badge>
              </Group>
              <SimpleGrid cols={{ base: 2, sm: 4 }} my="sm">
                <Stat label="Stored / acknowledged" value={p.acknowledged} />
                <Stat label="Dropped" value={p.dropped} />
                <Stat label="Quarantined" value={p.quarantined} />
                <div>
                  <Text size="xs" className="dimmed-text">
                    In flight {p.inFlight} of {p.maxInFlight}
                  </Text>
                  <Progress
                    value={(p.inFlight / Math.max(1, p.maxInFlight)) * 100}
                    aria-label="In flight"
                    mt={6}
                  />
                </div>
              </SimpleGrid>
              <Table.ScrollContainer minWidth={560}>
                <Table fz="sm" striped aria-label={`Components of ${p.name}`}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Component</Table.Th>
                      <Table.Th>Kind</Table.Th>
                      {Object.keys(p.components[0]?.counters ?? {}).map((k) => (
                        <Table.Th key={k}>{k}</Table.Th>
                      ))}
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {p.components.map((c) => (
                      <Table.Tr key={c.path}>
                        <Table.Td>
                          {c.type}{' '}
                          <Text span size="xs" className="dimmed-text">
                            {c.path}
                          </Text>
                        </Table.Td>
                        <Table.Td>{c.kind}</Table.Td>
                        {Object.keys(p.components[0]?.counters ?? {}).map((k) => (
                          <Table.Td key={k}>{c.counters[k] ?? 0}</Table.Td>
                        ))}
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Card>
          ))
        }
      </QueryState>
    </Stack>
  );
}

function Stat({ label, value }: { label: string; value: number }) {
  return (
    <div>
      <Text size="xs" className="dimmed-text">
        {label}
      </Text>
      <Text fw={700} size="xl">
        {value}
      </Text>
    </div>
  );
}

export function SystemPage() {
  const { user } = useSession();
  const info = useQuery({
    queryKey: ['system'],
    queryFn: () => api<{ version: string }>('/system/information'),
  });
  const health = useQuery({
    queryKey: ['health'],
    queryFn: () => api('/system/health').then(() => true),
    refetchInterval: 10_000,
  });
  return (
    <Stack>
      <Title order={2}>System</Title>
      <QueryState query={info} what="system information">
        {(i) => (
          <Table fz="sm" maw={520} aria-label="System information">
            <Table.Tbody>
              <Table.Tr>
                <Table.Th w={180}>Version</Table.Th>
                <Table.Td>Sluice {i.version}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Health</Table.Th>
                <Table.Td>
                  <Badge color={health.data ? 'green' : health.isError ? 'red' : 'gray'} variant="light">
                    {health.data ? 'healthy' : health.isError ? 'not answering' : 'checking'}
                  </Badge>
                </Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Logged in as</Table.Th>
                <Table.Td>
                  {user.user} ({user.role.toLowerCase()})
                </Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>API</Table.Th>
                <Table.Td>
                  <code>{location.origin}/api</code> (Slicebox compatible; HTTP Basic or this session)
                </Table.Td>
              </Table.Tr>
            </Table.Tbody>
          </Table>
        )}
      </QueryState>
    </Stack>
  );
}
